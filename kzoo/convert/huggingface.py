"""Hugging Face checkpoints in and out: `config.json` + `model.safetensors` (+ tokenizer files).

Example:
    >>> model, tokenizer = load_huggingface("all-MiniLM-L6-v2/")        # an Encoder
    >>> lm, tokenizer = load_huggingface("gpt2/", task="causal_lm")      # a CausalLM
    >>> save_huggingface(model, "exported/")                            # transformers can load it
"""

import json
import warnings
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from kzoo.convert.hf_families import (
    config_from_hf,
    config_to_hf,
    family_of,
    family_of_hf,
)
from kzoo.convert.hf_layout import bert_pretraining_head_tensors
from kzoo.convert.safetensors_files import has_weights, read_checkpoint_weights

# Buffers some checkpoints carry that are no weights: GPT-2's causal masks, BERT's position ids,
# rotary tables.
_BUFFERS = (".attn.bias", ".attn.masked_bias", "position_ids", "rotary_emb.inv_freq",
            "final_logits_bias")


def _require(path: Path, what: str):
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: missing {what}. A Hugging Face checkpoint directory holds config.json and "
            f"model.safetensors (or its shards with model.safetensors.index.json), and its "
            f"tokenizer files."
        )


def read_checkpoint(directory) -> tuple[dict, dict]:
    """(config.json as a dict, {name: array}) from a checkpoint directory, single-file or
    sharded; refuses pickle files."""
    directory = Path(directory)
    _require(directory / "config.json", "config.json")
    if not has_weights(directory) and list(directory.glob("pytorch_model*.bin")):
        raise ValueError(
            f"{directory}: only a pickle checkpoint (pytorch_model.bin) is there. kzoo does not "
            f"read pickles, because unpickling can run arbitrary code. Convert it once where "
            f"torch is installed: "
            f"`AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`."
        )
    if not has_weights(directory):
        _require(directory / "model.safetensors", "model.safetensors")
    tensors = read_checkpoint_weights(directory)
    # Old TF-converted BERT checkpoints name LayerNorm parameters gamma/beta.
    tensors = {
        k.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
            "LayerNorm.beta", "LayerNorm.bias"
        ): v
        for k, v in tensors.items()
    }
    try:
        hf_config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{directory / 'config.json'}: not valid JSON ({error}).") from None
    return hf_config, tensors


def load_huggingface(directory, task=None, **config_overrides):
    """Builds the kzoo model a checkpoint describes and loads its weights; returns
    (model, tokenizer).

    The family comes from config.json's `model_type` (`kzoo.convert.hf_families.FAMILIES`: bert,
    gpt2, llama, mistral, qwen2, qwen3, t5, bart). BERT gives an `Encoder`, or with
    `task="pretraining"` a `MaskedLMPretrainer` (the MLM/NSP heads load when the checkpoint has
    them). Decoders give a `Decoder`, or with `task="causal_lm"` a `CausalLM`; T5 and BART an
    `EncoderDecoder`, or with `task="seq2seq_lm"` a `Seq2SeqLM`. The tokenizer is None when the directory
    has no tokenizer files.
    """
    from kzoo.models import BACKBONES

    hf_config, tensors = read_checkpoint(directory)
    source = f"{directory}/config.json"
    family = family_of_hf(hf_config, source)
    config = config_from_hf(hf_config, source).replace(**config_overrides)
    prefix = family.prefix if any(k.startswith(family.prefix) for k in tensors) else ""
    layout = family.tensors(config, prefix)
    _refuse_logit_bias(tensors, directory)
    backbone = BACKBONES[config.stack](config)
    model = _task_of(backbone, task)
    if model is not backbone and config.stack == "encoder":
        heads = bert_pretraining_head_tensors()
        layout += [t for t in heads if all(k in tensors for k in t.hf_keys)]
        _warn_new_heads(heads, tensors, directory)
    _assign(model, layout, tensors, directory)
    return model, load_tokenizer(directory, family.model_type)


# The task each backbone kind converts into, by `load_huggingface`'s `task` name.
TASKS = {"encoder": "pretraining", "decoder": "causal_lm", "encoder_decoder": "seq2seq_lm"}


def _task_of(backbone, task):
    from kzoo.tasks import CausalLM, MaskedLMPretrainer, Seq2SeqLM

    if task is None:
        return backbone
    wanted = TASKS[backbone.config.stack]
    if task != wanted:
        raise ValueError(f"task={task!r} does not fit a {backbone.config.stack} checkpoint; "
                         f"use task={wanted!r}, or none for the bare backbone.")
    return {"pretraining": MaskedLMPretrainer, "causal_lm": CausalLM,
            "seq2seq_lm": Seq2SeqLM}[task](backbone)


def _warn_new_heads(heads, tensors, directory):
    """Names the pretraining heads the checkpoint lacks, which start from random weights."""
    new = sorted({t.path.split("/")[0] for t in heads
                  if not all(k in tensors for k in t.hf_keys)})
    if new:
        warnings.warn(
            f"{directory}: the checkpoint has no weights for {', '.join(new)}; "
            f"{'they start' if len(new) > 1 else 'it starts'} from random weights, so "
            f"pretrain before relying on {'their' if len(new) > 1 else 'its'} outputs."
        )


def _refuse_logit_bias(tensors, directory):
    # BART's `final_logits_bias` is a buffer that every published checkpoint leaves at zero.
    bias = tensors.get("final_logits_bias")
    if bias is not None and np.any(bias):
        raise ValueError(f"{directory}: final_logits_bias is not zero; kzoo's BART head has no "
                         f"output bias, and kzoo never loads an approximation of a checkpoint.")


def _assign(model, layout, tensors, directory):
    variables = {v.path: v for v in model.weights}
    for tensor in layout:
        missing = [k for k in tensor.hf_keys if k not in tensors]
        if missing:
            raise ValueError(
                f"{directory}: tensor {missing[0]!r} is missing; the checkpoint "
                f"does not match its config.json (layers, architecture)."
            )
        parts = [tensors[k] for k in tensor.hf_keys]
        for key, part in zip(tensor.hf_keys, parts):
            if part.dtype.kind in "iub":
                raise ValueError(
                    f"{directory}: tensor {key!r} holds {part.dtype} values; kzoo converts float "
                    f"weights (float32, bfloat16, float16). Dequantize the checkpoint first, then "
                    f"quantize it with kzoo."
                )
        _check_shapes(tensor, parts, variables[tensor.path], directory)
        variables[tensor.path].assign(tensor.to_kzoo([p.astype(np.float32) for p in parts]))
    unused = set(tensors) - {k for t in layout for k in t.hf_keys}
    unused = {
        k for k in unused if not k.endswith(_BUFFERS) and not k.startswith(("cls.", "lm_head."))
    }
    if unused:
        warnings.warn(
            f"{directory}: {len(unused)} checkpoint tensors were not used, "
            f"e.g. {sorted(unused)[:3]}."
        )


def _check_shapes(tensor, parts, variable, directory):
    """Every mismatch names the Hugging Face tensor, its shape and the shape kzoo expects of it,
    parts of a fused kzoo weight (Q, K and V) included."""
    expected = [p.shape for p in tensor.to_hf(np.zeros(variable.shape, np.float32))]
    for key, part, shape in zip(tensor.hf_keys, parts, expected):
        if tuple(part.shape) != tuple(shape):
            raise ValueError(
                f"{directory}: tensor {key!r} has shape {tuple(part.shape)} but kzoo's "
                f"{tensor.path} needs {tuple(shape)} from it; check config.json (sizes, heads, "
                f"key/value heads) against the weights."
            )


def load_tokenizer(directory, model_type="gpt2"):
    """The checkpoint's tokenizer: WordPiece from vocab.txt; byte-level BPE from tokenizer.json
    (with the model's own split: GPT-2, Llama 3, Qwen2) or from vocab.json + merges.txt (GPT-2's
    split, BART's too); or SentencePiece from tokenizer.model (Llama 2, TinyLlama) or
    spiece.model (T5); None if none.
    """
    directory = Path(directory)
    if (directory / "vocab.txt").exists():
        from kzoo.text import load_wordpiece

        return load_wordpiece(directory / "vocab.txt", **_bert_normalization(directory))
    if _is_bpe_tokenizer_json(directory / "tokenizer.json"):
        from kzoo.text.tokenizer_json import load_tokenizer_json

        return load_tokenizer_json(directory / "tokenizer.json", _eos_token(directory))
    if (directory / "vocab.json").exists() and (directory / "merges.txt").exists():
        from kzoo.text.bpe import load_bpe

        if model_type != "gpt2":
            warnings.warn(
                f"{directory}: no tokenizer.json, so {model_type}'s vocab.json and "
                f"merges.txt are read with GPT-2's split; ids can differ from Hugging "
                f"Face's on digits and contractions."
            )
        return load_bpe(directory / "vocab.json", directory / "merges.txt")
    for name in ("tokenizer.model", "spiece.model"):  # Llama 2 and T5 name theirs differently
        if (directory / name).exists():
            from kzoo.text import load_sentencepiece

            return load_sentencepiece(directory / name)
    return None


def _is_bpe_tokenizer_json(path) -> bool:
    # Unigram / WordPiece tokenizer.json files sit beside their tokenizer.model / vocab.txt.
    return path.exists() and _json(path).get("model", {}).get("type") == "BPE"


def _eos_token(directory):
    """The token of config.json's `eos_token_id` (the first, when it lists several)."""
    eos = _json(directory / "config.json").get("eos_token_id")
    eos = eos[0] if isinstance(eos, list) and eos else eos
    spec = _json(directory / "tokenizer.json")
    tokens = {i: t for t, i in spec["model"]["vocab"].items()}
    tokens.update({t["id"]: t["content"] for t in spec.get("added_tokens", [])})
    return tokens.get(eos)


def _json(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8")) if Path(path).exists() else {}


def _bert_normalization(directory) -> dict:
    """tokenizer_config.json's do_lower_case / strip_accents / tokenize_chinese_chars, as
    load_wordpiece's arguments (unset ones keep their defaults)."""
    settings = _json(directory / "tokenizer_config.json")
    names = {
        "do_lower_case": "lowercase",
        "strip_accents": "strip_accents",
        "tokenize_chinese_chars": "split_on_cjk",
    }
    return {
        ours: settings[theirs]
        for theirs, ours in names.items()
        if settings.get(theirs) is not None
    }


def save_huggingface(model, directory, tokenizer=None):
    """Writes `config.json` + `model.safetensors` that transformers loads, in the family
    `kzoo.convert.hf_families.family_of` picks (BertForPreTraining, GPT2LMHeadModel,
    LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM); a bare encoder is written as
    BertModel."""
    from kzoo.tasks import MaskedLMPretrainer

    backbone = getattr(model, "backbone", model)
    config = backbone.config
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    hf_config, family = config_to_hf(config), family_of(config)
    if config.causal:
        layout = family.tensors(config)
    elif isinstance(model, MaskedLMPretrainer):
        layout = family.tensors(config, family.prefix) + bert_pretraining_head_tensors()
    else:
        layout, hf_config["architectures"] = family.tensors(config), ["BertModel"]
    variables = {v.path: np.asarray(v) for v in model.weights}
    tensors = {}
    for tensor in layout:
        for key, value in zip(tensor.hf_keys, tensor.to_hf(variables[tensor.path])):
            tensors[key] = np.ascontiguousarray(value, dtype=np.float32)
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    (directory / "config.json").write_text(json.dumps(hf_config, indent=2))
    if tokenizer is not None and hasattr(tokenizer, "get_vocabulary") and not config.causal:
        (directory / "vocab.txt").write_text(
            "\n".join(tokenizer.get_vocabulary()) + "\n", encoding="utf-8"
        )
    return directory
