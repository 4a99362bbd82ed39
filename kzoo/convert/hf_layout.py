"""Weight tables: each Hugging Face family's tensors ↔ kzoo's weights, by role.

kzoo's side of every row comes from `kzoo.models.weights`; this module names only the Hugging
Face side and the shape transform between the two.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from kzoo.config import ModelConfig
from kzoo.models.weights import weight_path


@dataclass(frozen=True)
class Tensor:
    """One kzoo variable, made from one or more HF tensors (and split back into them)."""

    path: str
    hf_keys: tuple
    to_kzoo: Callable
    to_hf: Callable


def _same(path, key):
    return Tensor(path, (key,), lambda a: a[0], lambda x: [x])


def _transposed(path, key):  # torch.nn.Linear stores (out, in); Keras Dense stores (in, out)
    return Tensor(path, (key,), lambda a: a[0].T, lambda x: [x.T])


def _fused(path, keys, sizes, linear=True):
    """Several HF projections (Q, K, V; or gate, up) as one kzoo kernel or bias, split back by
    their output sizes."""
    cuts = np.cumsum(sizes)[:-1]
    if linear:
        return Tensor(path, keys, lambda a: np.concatenate([w.T for w in a], axis=1),
                      lambda x: [w.T for w in np.split(x, cuts, axis=1)])
    return Tensor(path, keys, np.concatenate, lambda x: np.split(x, cuts))


def _norm(config, role, key, index=None, decoder=False):
    weight = _same(weight_path(role, "weight", index, config.norm, decoder), f"{key}.weight")
    if config.norm == "rms_norm":
        return [weight]
    return [weight, _same(weight_path(role, "bias", index, config.norm, decoder), f"{key}.bias")]


def _dense(role, key, index=None, bias=True, linear=_transposed, decoder=False):
    tensors = [linear(weight_path(role, "weight", index, decoder=decoder), f"{key}.weight")]
    if bias:
        tensors.append(_same(weight_path(role, "bias", index, decoder=decoder), f"{key}.bias"))
    return tensors


def _fused_dense(role, keys, sizes, index, bias, decoder=False):
    def path(weight):
        return weight_path(role, weight, index, decoder=decoder)

    tensors = [_fused(path("weight"), tuple(f"{k}.weight" for k in keys), sizes)]
    if bias:
        tensors.append(_fused(path("bias"), tuple(f"{k}.bias" for k in keys), sizes,
                              linear=False))
    return tensors


def bert_tensors(config: ModelConfig, prefix="") -> list[Tensor]:
    """BertModel weights (keys under `prefix`, e.g. "bert." in BertForPreTraining)."""
    p, h = prefix, config.hidden_size
    tensors = [_same(weight_path("token_embedding"), f"{p}embeddings.word_embeddings.weight"),
               _same(weight_path("position_embedding"),
                     f"{p}embeddings.position_embeddings.weight"),
               _same(weight_path("segment_embedding"),
                     f"{p}embeddings.token_type_embeddings.weight"),
               *_norm(config, "embedding_norm", f"{p}embeddings.LayerNorm"),
               *_dense("pooler", f"{p}pooler.dense")]
    for i in range(config.num_layers):
        hf = f"{p}encoder.layer.{i}."
        qkv = tuple(f"{hf}attention.self.{n}" for n in ("query", "key", "value"))
        tensors += [*_fused_dense("qkv", qkv, (h, h, h), i, bias=True),
                    *_dense("attention_output", f"{hf}attention.output.dense", i),
                    *_norm(config, "attention_norm", f"{hf}attention.output.LayerNorm", i),
                    *_dense("ffn_in", f"{hf}intermediate.dense", i),
                    *_dense("ffn_out", f"{hf}output.dense", i),
                    *_norm(config, "ffn_norm", f"{hf}output.LayerNorm", i)]
    return tensors


def bert_pretraining_head_tensors() -> list[Tensor]:
    """The MLM transform + output bias, and the NSP classifier, of BertForPreTraining (task
    heads, named by `kzoo.tasks.MaskedLMPretrainer`)."""
    return [_transposed("mlm_head/intermediate_dense/kernel",
                        "cls.predictions.transform.dense.weight"),
            _same("mlm_head/intermediate_dense/bias", "cls.predictions.transform.dense.bias"),
            _same("mlm_head/intermediate_layer_norm/gamma",
                  "cls.predictions.transform.LayerNorm.weight"),
            _same("mlm_head/intermediate_layer_norm/beta",
                  "cls.predictions.transform.LayerNorm.bias"),
            _same("mlm_head/output_bias", "cls.predictions.bias"),
            _transposed("nsp_head/kernel", "cls.seq_relationship.weight"),
            _same("nsp_head/bias", "cls.seq_relationship.bias")]


def gpt2_tensors(config: ModelConfig, prefix="transformer.") -> list[Tensor]:
    """GPT2Model weights; GPT-2's Conv1D already stores (in, out), as Keras does."""
    p = prefix
    tensors = [_same(weight_path("token_embedding"), f"{p}wte.weight"),
               _same(weight_path("position_embedding"), f"{p}wpe.weight"),
               *_norm(config, "final_norm", f"{p}ln_f")]
    for i in range(config.num_layers):
        hf = f"{p}h.{i}."
        tensors += [*_dense("qkv", f"{hf}attn.c_attn", i, linear=_same),
                    *_dense("attention_output", f"{hf}attn.c_proj", i, linear=_same),
                    *_norm(config, "attention_norm", f"{hf}ln_1", i),
                    *_norm(config, "ffn_norm", f"{hf}ln_2", i),
                    *_dense("ffn_in", f"{hf}mlp.c_fc", i, linear=_same),
                    *_dense("ffn_out", f"{hf}mlp.c_proj", i, linear=_same)]
    return tensors


def llama_tensors(config: ModelConfig, prefix="model.") -> list[Tensor]:
    """LlamaForCausalLM weights, shared by Mistral, Qwen2 (QKV biases) and Qwen3 (QK-norm)."""
    c, p = config, prefix
    d = c.attention_head_size
    tensors = [_same(weight_path("token_embedding"), f"{p}embed_tokens.weight"),
               *_norm(c, "final_norm", f"{p}norm")]
    if not c.tie_embeddings:
        tensors.append(_transposed(weight_path("token_embedding", "output"), "lm_head.weight"))
    for i in range(c.num_layers):
        hf = f"{p}layers.{i}."
        qkv = tuple(f"{hf}self_attn.{n}_proj" for n in "qkv")
        tensors += [
            *_fused_dense("qkv", qkv, (c.num_heads * d, c.kv_heads * d, c.kv_heads * d), i,
                          c.qkv_bias),
            *_dense("attention_output", f"{hf}self_attn.o_proj", i, bias=c.output_bias),
            *_norm(c, "attention_norm", f"{hf}input_layernorm", i),
            *_norm(c, "ffn_norm", f"{hf}post_attention_layernorm", i),
            *_fused_dense("ffn_in", (f"{hf}mlp.gate_proj", f"{hf}mlp.up_proj"),
                          (c.intermediate_size,) * 2, i, c.ffn_bias),
            *_dense("ffn_out", f"{hf}mlp.down_proj", i, bias=c.ffn_bias)]
        if c.qk_norm:
            tensors += [*_norm(c, "query_norm", f"{hf}self_attn.q_norm", i),
                        *_norm(c, "key_norm", f"{hf}self_attn.k_norm", i)]
    return tensors


def _sides(config):
    """(HF stack name, whether it is kzoo's decoder side, its block count)."""
    return (("encoder", False, config.num_layers), ("decoder", True, config.decoder_layers))


def t5_tensors(config: ModelConfig, prefix="") -> list[Tensor]:
    """T5ForConditionalGeneration weights (1.0 and 1.1): one relative bias table per stack, in
    its first block; Q, K, V, O without biases; `wi` or the gated `wi_0` (gate) and `wi_1`."""
    c, p = config, prefix
    inner = c.num_heads * c.attention_head_size
    wi = ("wi_0", "wi_1") if c.feed_forward == "gated" else ("wi",)
    tensors = [_same(weight_path("token_embedding"), f"{p}shared.weight")]
    if not c.tie_embeddings:
        tensors.append(_transposed(weight_path("token_embedding", "output"), "lm_head.weight"))
    for side, decoder, count in _sides(c):
        s = f"{p}{side}."
        tensors += [_same(weight_path("relative_embedding", decoder=decoder),
                          f"{s}block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
                    *_norm(c, "final_norm", f"{s}final_layer_norm", decoder=decoder)]
        for i in range(count):
            hf = f"{s}block.{i}.layer."
            attention = f"{hf}0.SelfAttention."
            ffn = f"{hf}{2 if decoder else 1}."
            tensors += [
                *_fused_dense("qkv", tuple(attention + n for n in "qkv"), (inner,) * 3, i, False,
                              decoder),
                *_dense("attention_output", f"{attention}o", i, False, decoder=decoder),
                *_norm(c, "attention_norm", f"{hf}0.layer_norm", i, decoder),
                *_fused_dense("ffn_in", tuple(f"{ffn}DenseReluDense.{n}" for n in wi),
                              (c.intermediate_size,) * len(wi), i, False, decoder),
                *_dense("ffn_out", f"{ffn}DenseReluDense.wo", i, False, decoder=decoder),
                *_norm(c, "ffn_norm", f"{ffn}layer_norm", i, decoder)]
            if decoder:
                cross = f"{hf}1.EncDecAttention."
                tensors += [
                    *_dense("cross_query", f"{cross}q", i, False, decoder=True),
                    *_fused_dense("cross_key_value", (f"{cross}k", f"{cross}v"), (inner,) * 2,
                                  i, False, True),
                    *_dense("cross_output", f"{cross}o", i, False, decoder=True),
                    *_norm(c, "cross_attention_norm", f"{hf}1.layer_norm", i, True)]
    return tensors


def bart_tensors(config: ModelConfig, prefix="model.") -> list[Tensor]:
    """BartForConditionalGeneration weights: a position table (with BART's 2 offset rows) and
    an embedding LayerNorm per stack, biases everywhere, the head tied to `shared`."""
    c, p, h = config, prefix, config.hidden_size
    tensors = [_same(weight_path("token_embedding"), f"{p}shared.weight")]
    for side, decoder, count in _sides(c):
        s = f"{p}{side}."
        tensors += [_same(weight_path("position_embedding", decoder=decoder),
                          f"{s}embed_positions.weight"),
                    *_norm(c, "embedding_norm", f"{s}layernorm_embedding", decoder=decoder)]
        for i in range(count):
            hf = f"{s}layers.{i}."
            tensors += [
                *_fused_dense("qkv", tuple(f"{hf}self_attn.{n}_proj" for n in "qkv"), (h,) * 3,
                              i, True, decoder),
                *_dense("attention_output", f"{hf}self_attn.out_proj", i, decoder=decoder),
                *_norm(c, "attention_norm", f"{hf}self_attn_layer_norm", i, decoder),
                *_dense("ffn_in", f"{hf}fc1", i, decoder=decoder),
                *_dense("ffn_out", f"{hf}fc2", i, decoder=decoder),
                *_norm(c, "ffn_norm", f"{hf}final_layer_norm", i, decoder)]
            if decoder:
                cross = f"{hf}encoder_attn."
                tensors += [
                    *_dense("cross_query", f"{cross}q_proj", i, decoder=True),
                    *_fused_dense("cross_key_value", (f"{cross}k_proj", f"{cross}v_proj"),
                                  (h, h), i, True, True),
                    *_dense("cross_output", f"{cross}out_proj", i, decoder=True),
                    *_norm(c, "cross_attention_norm", f"{hf}encoder_attn_layer_norm", i, True)]
    return tensors
