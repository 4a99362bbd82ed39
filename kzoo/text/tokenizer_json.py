"""Hugging Face `tokenizer.json` (byte-level BPE: GPT-2, Llama 3, Qwen2, Mistral-Nemo…) into
an in-graph `ByteLevelBPE`, refusing every setting kzoo would otherwise approximate.

Example:
    >>> tok = load_tokenizer_json("Llama-3.2-1B/tokenizer.json")
    >>> tok(["Hello world"])
"""

import json
from pathlib import Path

from kzoo.data.documents import read_text
from kzoo.text.byte_level_bpe import ByteLevelBPE
from kzoo.text.pre_tokenizers import pre_tokenizer_of_pattern

# End-of-text tokens by family, for when the caller does not name the model's eos token.
END_OF_TEXT_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<|im_end|>")
_NORMALIZERS = {None: None, "NFC": "NFC"}


def load_tokenizer_json(path, end_of_text=None, sequence_length=None) -> ByteLevelBPE:
    """The byte-level BPE that `path` describes; `end_of_text` is the model's eos token
    (config.json's `eos_token_id`), else the first of END_OF_TEXT_CANDIDATES it has."""
    path = Path(path)
    spec = _read(path)
    model = spec.get("model") or {}
    _refuse(
        path,
        "model.type",
        model.get("type"),
        "BPE (WordPiece: vocab.txt; Unigram: tokenizer.model)",
        model.get("type") == "BPE",
    )
    for key in ("byte_fallback", "dropout", "continuing_subword_prefix", "end_of_word_suffix"):
        _refuse(path, f"model.{key}", model.get(key), "unset", not model.get(key))
    normalizer = (spec.get("normalizer") or {}).get("type")
    _refuse(
        path,
        "normalizer.type",
        normalizer,
        f"one of {list(_NORMALIZERS)}",
        normalizer in _NORMALIZERS,
    )
    vocabulary = dict(model["vocab"])
    specials = [t["content"] for t in spec.get("added_tokens", []) if t.get("special")]
    for token in spec.get("added_tokens", []):
        vocabulary.setdefault(token["content"], token["id"])
    end = end_of_text or next((t for t in END_OF_TEXT_CANDIDATES if t in specials), None)
    roles = {"end_of_text": end, "pad": end} if end else {}
    return ByteLevelBPE(
        vocabulary,
        [m if isinstance(m, str) else " ".join(m) for m in model["merges"]],
        pre_tokenizer=_pre_tokenizer(path, spec.get("pre_tokenizer")),
        normalization=_NORMALIZERS[normalizer],
        ignore_merges=bool(model.get("ignore_merges")),
        special_tokens=specials,
        special_roles=roles,
        sequence_length=sequence_length,
    )


def _read(path) -> dict:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}, line {error.lineno}: not valid JSON ({error.msg}).") from None


def _pre_tokenizer(path, spec) -> str:
    """GPT-2's ByteLevel(use_regex) or Sequence[Split(regex), ByteLevel(no regex)]."""
    spec = spec or {}
    if spec.get("type") == "ByteLevel" and spec.get("use_regex", True):
        _refuse(
            path,
            "pre_tokenizer.add_prefix_space",
            spec.get("add_prefix_space"),
            "false",
            not spec.get("add_prefix_space"),
        )
        return "gpt2"
    steps = spec.get("pretokenizers", []) if spec.get("type") == "Sequence" else []
    kinds = [step.get("type") for step in steps]
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        split = steps[0]
        ok = split.get("behavior") == "Isolated" and not split.get("invert")
        _refuse(path, "pre_tokenizer Split", split, "behavior Isolated, invert false", ok)
        return pre_tokenizer_of_pattern(split.get("pattern", {}).get("Regex")).name
    raise ValueError(
        f"{path}: pre_tokenizer {json.dumps(spec)[:200]} is not one kzoo implements; supported: "
        f"ByteLevel (GPT-2) or Sequence[Split(regex), ByteLevel(use_regex=false)] with the "
        f"Llama 3 or Qwen2 regex."
    )


def _refuse(path, field, value, supported, ok):
    if not ok:
        raise ValueError(
            f"{path}: {field}={value!r} is not supported (kzoo would only approximate it); "
            f"supported: {supported}."
        )
