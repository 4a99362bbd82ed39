"""Hugging Face families by `model_type`: config.json ↔ `ModelConfig`, and their weight tables.

A family is one row of `FAMILIES`. Fields of a config.json that kzoo would have to ignore or
approximate (a rope scaling it does not implement, a sliding window) are refused, naming the
field, its value and what is supported: a checkpoint never loads as an approximation.
"""

import dataclasses
from dataclasses import dataclass
from typing import Callable

from kzoo.config import ModelConfig
from kzoo.convert import hf_layout

ACTIVATIONS_FROM_HF = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
                       "relu": "relu", "silu": "silu", "swish": "silu"}
ROPE_TYPES = {"default": "none", "linear": "linear", "llama3": "llama3"}
# Fields that change neither the weights nor the function kzoo computes.
FREE_FIELDS = ("dropout", "attention_dropout", "initializer_range")


@dataclass(frozen=True)
class Family:
    """How one Hugging Face `model_type` maps onto kzoo."""

    model_type: str
    architecture: str
    prefix: str
    tensors: Callable
    from_hf: Callable
    to_hf: Callable


def _activation(name, source):
    if name not in ACTIVATIONS_FROM_HF:
        raise ValueError(f"{source}: activation {name!r} has no kzoo equivalent; "
                         f"supported: {sorted(ACTIVATIONS_FROM_HF)}.")
    return ACTIVATIONS_FROM_HF[name]


def _hf_activation(activation):
    return {v: k for k, v in reversed(ACTIVATIONS_FROM_HF.items())}[activation]


def _refuse(source, field, value, supported):
    raise ValueError(f"{source}: {field}={value!r} is not supported by kzoo; {supported}. "
                     f"kzoo never loads an approximation of a checkpoint.")


def bert_from_hf(hf, source):
    return dict(
        vocab_size=hf["vocab_size"], hidden_size=hf["hidden_size"],
        num_layers=hf["num_hidden_layers"], num_heads=hf["num_attention_heads"],
        intermediate_size=hf["intermediate_size"], max_positions=hf["max_position_embeddings"],
        num_segments=hf.get("type_vocab_size", 2),
        activation=_activation(hf.get("hidden_act", "gelu"), source),
        norm_epsilon=hf.get("layer_norm_eps", 1e-12), dropout=hf.get("hidden_dropout_prob", 0.1),
        attention_dropout=hf.get("attention_probs_dropout_prob", 0.1),
        initializer_range=hf.get("initializer_range", 0.02))


def bert_to_hf(c):
    return {"vocab_size": c.vocab_size, "hidden_size": c.hidden_size,
            "num_hidden_layers": c.num_layers, "num_attention_heads": c.num_heads,
            "intermediate_size": c.intermediate_size, "max_position_embeddings": c.max_positions,
            "type_vocab_size": c.num_segments, "hidden_act": _hf_activation(c.activation),
            "layer_norm_eps": c.norm_epsilon, "hidden_dropout_prob": c.dropout,
            "attention_probs_dropout_prob": c.attention_dropout,
            "initializer_range": c.initializer_range}


def gpt2_from_hf(hf, source):
    hidden = hf["n_embd"]
    return dict(
        stack="decoder", vocab_size=hf["vocab_size"], hidden_size=hidden,
        num_layers=hf["n_layer"], num_heads=hf["n_head"],
        intermediate_size=hf.get("n_inner") or 4 * hidden, max_positions=hf["n_positions"],
        num_segments=0, activation=_activation(hf.get("activation_function", "gelu_new"), source),
        norm_placement="pre", norm_epsilon=hf.get("layer_norm_epsilon", 1e-5),
        embedding_norm=False, dropout=hf.get("resid_pdrop", 0.1),
        attention_dropout=hf.get("attn_pdrop", 0.1),
        initializer_range=hf.get("initializer_range", 0.02))


def gpt2_to_hf(c):
    return {"vocab_size": c.vocab_size, "n_embd": c.hidden_size, "n_layer": c.num_layers,
            "n_head": c.num_heads, "n_inner": c.intermediate_size, "n_positions": c.max_positions,
            "activation_function": _hf_activation(c.activation),
            "layer_norm_epsilon": c.norm_epsilon, "resid_pdrop": c.dropout,
            "embd_pdrop": c.dropout, "attn_pdrop": c.attention_dropout,
            "initializer_range": c.initializer_range, "tie_word_embeddings": True}


def _rope(hf, source):
    """Rotary settings from either config.json dialect: transformers 5's `rope_parameters`, or
    4's `rope_theta` + `rope_scaling`."""
    rope = {"rope_theta": hf.get("rope_theta", 10000.0), **(hf.get("rope_scaling") or {}),
            **(hf.get("rope_parameters") or {})}
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind not in ROPE_TYPES:
        _refuse(source, "rope_scaling.rope_type", kind, f"supported: {sorted(ROPE_TYPES)}")
    partial = rope.get("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0))
    if partial != 1.0:
        _refuse(source, "partial_rotary_factor", partial, "this family rotates whole heads (1.0)")
    settings = dict(rope_theta=float(rope["rope_theta"]), rope_scaling=ROPE_TYPES[kind])
    if kind != "default":
        settings["rope_factor"] = float(rope["factor"])
    if kind == "llama3":
        settings.update(rope_low_freq_factor=float(rope["low_freq_factor"]),
                        rope_high_freq_factor=float(rope["high_freq_factor"]),
                        rope_original_max_positions=rope["original_max_position_embeddings"])
    return settings


def _refuse_windows(hf, source):
    window = hf.get("sliding_window")
    used = hf.get("use_sliding_window", hf.get("model_type") == "mistral")
    if used and window is not None and window < hf.get("max_position_embeddings", 0):
        _refuse(source, "sliding_window", window,
                "kzoo attends over the whole context; use a checkpoint without a sliding window "
                "(or one whose window covers max_position_embeddings)")
    layers = set(hf.get("layer_types") or ["full_attention"])
    if layers != {"full_attention"}:
        _refuse(source, "layer_types", sorted(layers), "every layer must be 'full_attention'")
    if "quantization_config" in hf:
        _refuse(source, "quantization_config", hf["quantization_config"].get("quant_method"),
                "convert a float checkpoint (float32, bfloat16 or float16), then quantize it "
                "with kzoo")


def llama_from_hf(hf, source):
    _refuse_windows(hf, source)
    model_type = hf["model_type"]
    heads = hf["num_attention_heads"]
    head_size = hf.get("head_dim") or hf["hidden_size"] // heads
    biased = bool(hf.get("attention_bias", False))
    return dict(
        stack="decoder", vocab_size=hf["vocab_size"], hidden_size=hf["hidden_size"],
        num_layers=hf["num_hidden_layers"], num_heads=heads,
        num_kv_heads=hf.get("num_key_value_heads") or heads,
        head_size=None if head_size * heads == hf["hidden_size"] else head_size,
        intermediate_size=hf["intermediate_size"],
        max_positions=hf.get("max_position_embeddings", 2048), num_segments=0,
        position_encoding="rotary", **_rope(hf, source), norm="rms_norm", norm_placement="pre",
        norm_epsilon=hf.get("rms_norm_eps", 1e-6), embedding_norm=False,
        qk_norm=model_type == "qwen3", feed_forward="gated",
        activation=_activation(hf.get("hidden_act", "silu"), source),
        qkv_bias=biased or model_type == "qwen2", output_bias=biased and model_type != "qwen2",
        ffn_bias=bool(hf.get("mlp_bias", False)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)), dropout=0.0,
        attention_dropout=hf.get("attention_dropout", 0.0),
        initializer_range=hf.get("initializer_range", 0.02))


def llama_to_hf(c):
    rope = {"rope_type": {v: k for k, v in ROPE_TYPES.items()}[c.rope_scaling],
            "rope_theta": c.rope_theta}
    if c.rope_scaling != "none":
        rope["factor"] = c.rope_factor
    if c.rope_scaling == "llama3":
        rope.update(low_freq_factor=c.rope_low_freq_factor,
                    high_freq_factor=c.rope_high_freq_factor,
                    original_max_position_embeddings=c.rope_original_max_positions)
    return {"vocab_size": c.vocab_size, "hidden_size": c.hidden_size,
            "num_hidden_layers": c.num_layers, "num_attention_heads": c.num_heads,
            "num_key_value_heads": c.kv_heads, "head_dim": c.attention_head_size,
            "intermediate_size": c.intermediate_size,
            "max_position_embeddings": c.max_positions, "rope_parameters": rope,
            "rms_norm_eps": c.norm_epsilon, "hidden_act": _hf_activation(c.activation),
            "attention_bias": c.output_bias, "mlp_bias": c.ffn_bias,
            "tie_word_embeddings": c.tie_embeddings, "attention_dropout": c.attention_dropout,
            "initializer_range": c.initializer_range}


def _other(decoder_layers, encoder_layers):
    """`num_decoder_layers`: None when the decoder is as deep as the encoder."""
    return None if decoder_layers in (None, encoder_layers) else decoder_layers


def t5_from_hf(hf, source):
    heads, head_size = hf["num_heads"], hf["d_kv"]
    projection = hf.get("feed_forward_proj", "relu")
    gated = projection.startswith("gated-")
    tied = hf.get("tie_word_embeddings", True)
    return dict(
        stack="encoder_decoder", vocab_size=hf["vocab_size"], hidden_size=hf["d_model"],
        num_layers=hf["num_layers"],
        num_decoder_layers=_other(hf.get("num_decoder_layers"), hf["num_layers"]),
        num_heads=heads, head_size=None if heads * head_size == hf["d_model"] else head_size,
        intermediate_size=hf["d_ff"], max_positions=hf.get("n_positions", 512), num_segments=0,
        position_encoding="relative",
        relative_buckets=hf.get("relative_attention_num_buckets", 32),
        relative_max_distance=hf.get("relative_attention_max_distance", 128), norm="rms_norm",
        norm_placement="pre", norm_epsilon=hf.get("layer_norm_epsilon", 1e-6),
        embedding_norm=False, attention_scale=False, feed_forward="gated" if gated else "mlp",
        activation=_activation(hf.get("dense_act_fn") or projection.split("-")[-1], source),
        qkv_bias=False, output_bias=False, ffn_bias=False, tie_embeddings=tied,
        # transformers 5 writes `scale_decoder_outputs`; 4 scaled exactly the tied models.
        decoder_output_scale=hf.get("scale_decoder_outputs", tied),
        dropout=hf.get("dropout_rate", 0.1), attention_dropout=0.0,
        decoder_start_token_id=hf.get("decoder_start_token_id", 0),
        initializer_range=hf.get("initializer_range", 0.02))


def t5_to_hf(c):
    gated = "gated-" if c.feed_forward == "gated" else ""
    return {"vocab_size": c.vocab_size, "d_model": c.hidden_size, "num_layers": c.num_layers,
            "num_decoder_layers": c.decoder_layers, "num_heads": c.num_heads,
            "d_kv": c.attention_head_size, "d_ff": c.intermediate_size,
            "n_positions": c.max_positions, "relative_attention_num_buckets": c.relative_buckets,
            "relative_attention_max_distance": c.relative_max_distance,
            "layer_norm_epsilon": c.norm_epsilon,
            "feed_forward_proj": gated + _hf_activation(c.activation),
            "dense_act_fn": _hf_activation(c.activation),
            "tie_word_embeddings": c.tie_embeddings,
            "scale_decoder_outputs": c.decoder_output_scale, "dropout_rate": c.dropout,
            "is_encoder_decoder": True, "decoder_start_token_id": c.decoder_start_token_id,
            "pad_token_id": 0}


def bart_from_hf(hf, source):
    for encoder, decoder in (("encoder_attention_heads", "decoder_attention_heads"),
                             ("encoder_ffn_dim", "decoder_ffn_dim")):
        if hf[encoder] != hf[decoder]:
            _refuse(source, decoder, hf[decoder], f"kzoo's stacks share one shape: it must "
                                                  f"equal {encoder}={hf[encoder]}")
    if hf.get("scale_embedding"):
        _refuse(source, "scale_embedding", True, "kzoo's BART does not scale its embeddings")
    return dict(
        stack="encoder_decoder", vocab_size=hf["vocab_size"], hidden_size=hf["d_model"],
        num_layers=hf["encoder_layers"],
        num_decoder_layers=_other(hf["decoder_layers"], hf["encoder_layers"]),
        num_heads=hf["encoder_attention_heads"], intermediate_size=hf["encoder_ffn_dim"],
        max_positions=hf["max_position_embeddings"], position_offset=2, num_segments=0,
        activation=_activation(hf.get("activation_function", "gelu"), source),
        norm_epsilon=1e-5, dropout=hf.get("dropout", 0.1),
        attention_dropout=hf.get("attention_dropout", 0.0),
        initializer_range=hf.get("init_std", 0.02),
        decoder_start_token_id=hf.get("decoder_start_token_id", 2))


def bart_to_hf(c):
    return {"vocab_size": c.vocab_size, "d_model": c.hidden_size,
            "encoder_layers": c.num_layers, "decoder_layers": c.decoder_layers,
            "encoder_attention_heads": c.num_heads, "decoder_attention_heads": c.num_heads,
            "encoder_ffn_dim": c.intermediate_size, "decoder_ffn_dim": c.intermediate_size,
            "max_position_embeddings": c.max_positions,
            "activation_function": _hf_activation(c.activation), "dropout": c.dropout,
            "attention_dropout": c.attention_dropout, "init_std": c.initializer_range,
            "scale_embedding": False, "is_encoder_decoder": True, "pad_token_id": 1,
            "bos_token_id": 0, "eos_token_id": 2,
            "decoder_start_token_id": c.decoder_start_token_id,
            "forced_eos_token_id": None}


def _llama_like(model_type, architecture):
    return Family(model_type, architecture, "model.", hf_layout.llama_tensors, llama_from_hf,
                  llama_to_hf)


FAMILIES = {
    "bert": Family("bert", "BertForPreTraining", "bert.", hf_layout.bert_tensors, bert_from_hf,
                   bert_to_hf),
    "gpt2": Family("gpt2", "GPT2LMHeadModel", "transformer.", hf_layout.gpt2_tensors,
                   gpt2_from_hf, gpt2_to_hf),
    "llama": _llama_like("llama", "LlamaForCausalLM"),
    "mistral": _llama_like("mistral", "MistralForCausalLM"),
    "qwen2": _llama_like("qwen2", "Qwen2ForCausalLM"),
    "qwen3": _llama_like("qwen3", "Qwen3ForCausalLM"),
    "t5": Family("t5", "T5ForConditionalGeneration", "", hf_layout.t5_tensors, t5_from_hf,
                 t5_to_hf),
    "bart": Family("bart", "BartForConditionalGeneration", "model.", hf_layout.bart_tensors,
                   bart_from_hf, bart_to_hf),
}


def family_of_hf(hf: dict, source="config.json") -> Family:
    """The family a config.json's `model_type` names; an unknown one is refused."""
    model_type = hf.get("model_type")
    if model_type not in FAMILIES:
        raise ValueError(f"{source}: model_type {model_type!r} is not supported; kzoo converts "
                         f"{sorted(FAMILIES)}.")
    return FAMILIES[model_type]


def config_from_hf(hf: dict, source="config.json") -> ModelConfig:
    """A kzoo `ModelConfig` from a Hugging Face `config.json`."""
    family = family_of_hf(hf, source)
    try:
        return ModelConfig(**family.from_hf(hf, source))
    except KeyError as missing:
        raise ValueError(f"{source}: config.json lacks {missing}, which model_type "
                         f"{family.model_type!r} needs; use the config.json saved with the "
                         f"weights.") from None


def family_of(config: ModelConfig) -> Family:
    """The transformers family that writes `config`: BERT for encoders, T5 for encoder-decoders
    with relative positions and BART for the others, GPT-2 for decoders with
    learned positions; rotary ones are Qwen3 with QK-norm, Qwen2 with QKV-only biases, else
    Llama (Mistral's layout is Llama's)."""
    if config.stack == "encoder":
        return FAMILIES["bert"]
    if config.stack == "encoder_decoder":
        return FAMILIES["t5" if config.position_encoding == "relative" else "bart"]
    if config.position_encoding == "learned":
        return FAMILIES["gpt2"]
    if config.qk_norm:
        return FAMILIES["qwen3"]
    return FAMILIES["qwen2" if config.qkv_bias and not config.output_bias else "llama"]


def config_to_hf(config: ModelConfig) -> dict:
    """The `config.json` transformers needs to rebuild this model. A config no transformers
    family expresses is refused, naming the fields that family would change."""
    family = family_of(config)
    hf = {"model_type": family.model_type, "architectures": [family.architecture],
          **family.to_hf(config)}
    back = config_from_hf(hf)
    lost = [f.name for f in dataclasses.fields(config) if f.name not in FREE_FIELDS
            and getattr(back, f.name) != getattr(config, f.name)]
    if lost:
        raise ValueError(
            f"this config has no transformers equivalent: as {family.architecture} it would "
            f"change {', '.join(f'{n}={getattr(config, n)!r}' for n in lost)}.")
    return hf
