"""Name and shape correspondence between kzoo weights and Hugging Face BERT / GPT-2 checkpoints."""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from kzoo.config import ModelConfig

ACTIVATIONS_FROM_HF = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}


@dataclass(frozen=True)
class Tensor:
    """One kzoo variable, made from one or more HF tensors (and split back into them)."""

    path: str
    hf_keys: tuple
    to_kzoo: Callable
    to_hf: Callable


def _same(path, key):
    return Tensor(path, (key,), lambda a: a[0], lambda x: [x])


def _linear(path, key):  # torch.nn.Linear stores (out, in); Keras Dense stores (in, out)
    return Tensor(path, (key,), lambda a: a[0].T, lambda x: [x.T])


def _fused_linear(path, keys):
    return Tensor(path, keys, lambda a: np.concatenate([w.T for w in a], axis=1),
                  lambda x: [w.T for w in np.split(x, len(keys), axis=1)])


def _fused_bias(path, keys):
    return Tensor(path, keys, np.concatenate, lambda x: np.split(x, len(keys)))


def _norm(path, key):
    return [_same(f"{path}/gamma", f"{key}.weight"), _same(f"{path}/beta", f"{key}.bias")]


def _dense(path, key, linear=_linear):
    return [linear(f"{path}/kernel", f"{key}.weight"), _same(f"{path}/bias", f"{key}.bias")]


def bert_tensors(config: ModelConfig, prefix="") -> list[Tensor]:
    """BertModel weights (keys under `prefix`, e.g. "bert." in BertForPreTraining)."""
    p = prefix
    tensors = [_same("embedding/token_embedding/embeddings", f"{p}embeddings.word_embeddings.weight"),
               _same("embedding/position_embedding/embeddings", f"{p}embeddings.position_embeddings.weight"),
               _same("embedding/segment_embedding/embeddings", f"{p}embeddings.token_type_embeddings.weight"),
               *_norm("embedding/norm", f"{p}embeddings.LayerNorm"), *_dense("pooler", f"{p}pooler.dense")]
    for i in range(config.num_layers):
        hf, ours = f"{p}encoder.layer.{i}.", f"block_{i}/"
        qkv = tuple(f"{hf}attention.self.{n}" for n in ("query", "key", "value"))
        tensors += [_fused_linear(f"{ours}attention/qkv/kernel", tuple(f"{k}.weight" for k in qkv)),
                    _fused_bias(f"{ours}attention/qkv/bias", tuple(f"{k}.bias" for k in qkv)),
                    *_dense(f"{ours}attention/output", f"{hf}attention.output.dense"),
                    *_norm(f"{ours}attention_norm", f"{hf}attention.output.LayerNorm"),
                    *_dense(f"{ours}ffn_in", f"{hf}intermediate.dense"),
                    *_dense(f"{ours}ffn_out", f"{hf}output.dense"),
                    *_norm(f"{ours}ffn_norm", f"{hf}output.LayerNorm")]
    return tensors


def bert_pretraining_head_tensors() -> list[Tensor]:
    """The MLM transform + output bias, and the NSP classifier, of BertForPreTraining."""
    return [*_dense("mlm_head/intermediate_dense", "cls.predictions.transform.dense"),
            *_norm("mlm_head/intermediate_layer_norm", "cls.predictions.transform.LayerNorm"),
            _same("mlm_head/output_bias", "cls.predictions.bias"),
            *_dense("nsp_head", "cls.seq_relationship")]


def gpt2_tensors(config: ModelConfig, prefix="transformer.") -> list[Tensor]:
    """GPT2Model weights; GPT-2's Conv1D already stores (in, out), as Keras does."""
    p = prefix
    tensors = [_same("embedding/token_embedding/embeddings", f"{p}wte.weight"),
               _same("embedding/position_embedding/embeddings", f"{p}wpe.weight"),
               *_norm("final_norm", f"{p}ln_f")]
    for i in range(config.num_layers):
        hf, ours = f"{p}h.{i}.", f"block_{i}/"
        tensors += [*_dense(f"{ours}attention/qkv", f"{hf}attn.c_attn", _same),
                    *_dense(f"{ours}attention/output", f"{hf}attn.c_proj", _same),
                    *_norm(f"{ours}attention_norm", f"{hf}ln_1"), *_norm(f"{ours}ffn_norm", f"{hf}ln_2"),
                    *_dense(f"{ours}ffn_in", f"{hf}mlp.c_fc", _same),
                    *_dense(f"{ours}ffn_out", f"{hf}mlp.c_proj", _same)]
    return tensors


def config_from_hf(hf: dict, source="config.json") -> ModelConfig:
    """A kzoo `ModelConfig` from a Hugging Face BERT or GPT-2 `config.json`."""
    model_type = hf.get("model_type")
    if model_type == "bert":
        activation = hf.get("hidden_act", "gelu")
        return ModelConfig(
            vocab_size=hf["vocab_size"], hidden_size=hf["hidden_size"], num_layers=hf["num_hidden_layers"],
            num_heads=hf["num_attention_heads"], intermediate_size=hf["intermediate_size"],
            max_positions=hf["max_position_embeddings"], num_segments=hf.get("type_vocab_size", 2),
            activation=_activation(activation, source), layer_norm_epsilon=hf.get("layer_norm_eps", 1e-12),
            dropout=hf.get("hidden_dropout_prob", 0.1), attention_dropout=hf.get("attention_probs_dropout_prob", 0.1),
            initializer_range=hf.get("initializer_range", 0.02))
    if model_type == "gpt2":
        hidden = hf["n_embd"]
        return ModelConfig(
            vocab_size=hf["vocab_size"], hidden_size=hidden, num_layers=hf["n_layer"], num_heads=hf["n_head"],
            intermediate_size=hf.get("n_inner") or 4 * hidden, max_positions=hf["n_positions"], num_segments=0,
            activation=_activation(hf.get("activation_function", "gelu_new"), source), norm_placement="pre",
            layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-5), dropout=hf.get("resid_pdrop", 0.1),
            attention_dropout=hf.get("attn_pdrop", 0.1), initializer_range=hf.get("initializer_range", 0.02),
            causal=True)
    raise ValueError(f"{source}: model_type {model_type!r} is not supported; kzoo converts 'bert' "
                     f"(BertModel, BertForPreTraining, BertForMaskedLM) and 'gpt2' (GPT2LMHeadModel) checkpoints.")


def _activation(name, source):
    if name not in ACTIVATIONS_FROM_HF:
        raise ValueError(f"{source}: activation {name!r} has no kzoo equivalent; "
                         f"supported: {sorted(ACTIVATIONS_FROM_HF)}.")
    return ACTIVATIONS_FROM_HF[name]


def config_to_hf(config: ModelConfig) -> dict:
    """The `config.json` Hugging Face transformers needs to rebuild this model."""
    c = config
    act = {v: k for k, v in reversed(ACTIVATIONS_FROM_HF.items())}[c.activation]
    if c.causal:
        return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": c.vocab_size,
                "n_embd": c.hidden_size, "n_layer": c.num_layers, "n_head": c.num_heads,
                "n_inner": c.intermediate_size, "n_positions": c.max_positions, "activation_function": act,
                "layer_norm_epsilon": c.layer_norm_epsilon, "resid_pdrop": c.dropout, "embd_pdrop": c.dropout,
                "attn_pdrop": c.attention_dropout, "initializer_range": c.initializer_range,
                "tie_word_embeddings": True}
    return {"model_type": "bert", "architectures": ["BertForPreTraining"], "vocab_size": c.vocab_size,
            "hidden_size": c.hidden_size, "num_hidden_layers": c.num_layers, "num_attention_heads": c.num_heads,
            "intermediate_size": c.intermediate_size, "max_position_embeddings": c.max_positions,
            "type_vocab_size": c.num_segments, "hidden_act": act, "layer_norm_eps": c.layer_norm_epsilon,
            "hidden_dropout_prob": c.dropout, "attention_probs_dropout_prob": c.attention_dropout,
            "initializer_range": c.initializer_range}
