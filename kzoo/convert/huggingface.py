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
from safetensors.numpy import load_file, save_file

from kzoo.convert.hf_layout import (bert_pretraining_head_tensors, bert_tensors, config_from_hf, config_to_hf,
                                    gpt2_tensors)


def _require(path: Path, what: str):
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing {what}. A Hugging Face checkpoint directory holds "
                                f"config.json and model.safetensors (and vocab.txt or vocab.json + merges.txt).")


def read_checkpoint(directory) -> tuple[dict, dict]:
    """(config.json as a dict, {name: array}) from a checkpoint directory; refuses pickle files."""
    directory = Path(directory)
    _require(directory / "config.json", "config.json")
    weights = directory / "model.safetensors"
    if not weights.exists() and list(directory.glob("pytorch_model*.bin")):
        raise ValueError(
            f"{directory}: only a pickle checkpoint (pytorch_model.bin) is there. kzoo does not read pickles, "
            f"because unpickling can run arbitrary code. Convert it once where torch is installed: "
            f"`AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`.")
    _require(weights, "model.safetensors")
    tensors = load_file(str(weights))
    # Old TF-converted BERT checkpoints name LayerNorm parameters gamma/beta.
    tensors = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
               for k, v in tensors.items()}
    return json.loads((directory / "config.json").read_text()), tensors


def load_huggingface(directory, task=None, **config_overrides):
    """Builds the kzoo model a checkpoint describes and loads its weights; returns (model, tokenizer).

    BERT gives an `Encoder`, or with `task="pretraining"` a `MaskedLMPretrainer`
    (the MLM/NSP heads load when the checkpoint has them). GPT-2 gives a `Decoder`,
    or with `task="causal_lm"` a `CausalLM`. The tokenizer is None when the
    directory has no vocabulary files.
    """
    import kzoo
    from kzoo.tasks import CausalLM, MaskedLMPretrainer

    hf_config, tensors = read_checkpoint(directory)
    config = config_from_hf(hf_config, f"{directory}/config.json").replace(**config_overrides)
    if config.causal:
        backbone = kzoo.build_decoder(config)
        prefix = "transformer." if any(k.startswith("transformer.") for k in tensors) else ""
        layout = gpt2_tensors(config, prefix)
        model = CausalLM(backbone) if task == "causal_lm" else backbone
    else:
        backbone = kzoo.build_encoder(config)
        prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""
        layout = bert_tensors(config, prefix)
        model = backbone
        if task == "pretraining":
            model = MaskedLMPretrainer(backbone)
            layout += [t for t in bert_pretraining_head_tensors() if all(k in tensors for k in t.hf_keys)]
    _assign(model, layout, tensors, directory)
    return model, load_tokenizer(directory)


def _assign(model, layout, tensors, directory):
    variables = {v.path: v for v in model.weights}
    for tensor in layout:
        missing = [k for k in tensor.hf_keys if k not in tensors]
        if missing:
            raise ValueError(f"{directory}/model.safetensors: tensor {missing[0]!r} is missing; the checkpoint "
                             f"does not match its config.json (layers, architecture).")
        value = tensor.to_kzoo([tensors[k] for k in tensor.hf_keys])
        variable = variables[tensor.path]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{directory}: tensor {tensor.hf_keys[0]!r} has shape {tuple(value.shape)} but "
                             f"kzoo's {tensor.path} expects {tuple(variable.shape)}; check config.json against "
                             f"the weights.")
        variable.assign(value.astype(np.float32))
    unused = set(tensors) - {k for t in layout for k in t.hf_keys}
    unused = {k for k in unused if not k.endswith((".attn.bias", ".attn.masked_bias", "position_ids"))
              and not k.startswith(("cls.", "lm_head."))}
    if unused:
        warnings.warn(f"{directory}: {len(unused)} checkpoint tensors were not used, e.g. {sorted(unused)[:3]}.")


def load_tokenizer(directory):
    """WordPiece from vocab.txt, or byte-level BPE from vocab.json + merges.txt; None if neither."""
    directory = Path(directory)
    if (directory / "vocab.txt").exists():
        from kzoo.text import load_wordpiece

        lowercase = _lowercase(directory)
        return load_wordpiece(directory / "vocab.txt", lowercase=lowercase)
    if (directory / "vocab.json").exists() and (directory / "merges.txt").exists():
        from kzoo.text.bpe import load_bpe

        return load_bpe(directory / "vocab.json", directory / "merges.txt")
    return None


def _lowercase(directory):
    settings = directory / "tokenizer_config.json"
    if settings.exists():
        return json.loads(settings.read_text()).get("do_lower_case")
    return None


def save_huggingface(model, directory, tokenizer=None):
    """Writes `config.json` + `model.safetensors` that transformers loads (BertForPreTraining or
    GPT2LMHeadModel layout); a bare encoder is written as BertModel."""
    from kzoo.tasks import MaskedLMPretrainer

    backbone = getattr(model, "backbone", model)
    config = backbone.config
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    hf_config = config_to_hf(config)
    if config.causal:
        layout = gpt2_tensors(config)
    elif isinstance(model, MaskedLMPretrainer):
        layout = bert_tensors(config, "bert.") + bert_pretraining_head_tensors()
    else:
        layout, hf_config["architectures"] = bert_tensors(config), ["BertModel"]
    variables = {v.path: np.asarray(v) for v in model.weights}
    tensors = {}
    for tensor in layout:
        for key, value in zip(tensor.hf_keys, tensor.to_hf(variables[tensor.path])):
            tensors[key] = np.ascontiguousarray(value, dtype=np.float32)
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    (directory / "config.json").write_text(json.dumps(hf_config, indent=2))
    if tokenizer is not None and hasattr(tokenizer, "get_vocabulary") and not config.causal:
        (directory / "vocab.txt").write_text("\n".join(tokenizer.get_vocabulary()) + "\n", encoding="utf-8")
    return directory
