"""The tokenizer record every kzoo run directory carries: kind, files and special-token ids.

One save and one load serve recipes, the CLI, export and conversion, so a run converted from a
GPT-2 checkpoint generates and exports with its byte-level BPE, not with a WordPiece guess.

Example:
    >>> save_tokenizer(tokenizer, "runs/lm")          # vocab files + tokenizer.kzoo.json
    >>> tokenizer = load_tokenizer("runs/lm")
    >>> end_of_text_id(tokenizer)                     # 50256 for GPT-2's BPE
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from keras_hub.tokenizers import (
    BytePairTokenizer,
    SentencePieceTokenizer,
    WordPieceTokenizer,
)

from kzoo.text.byte_level_bpe import GPT2_ROLES

RECORD = "tokenizer.kzoo.json"


@dataclass(frozen=True)
class TokenizerKind:
    """How one kind of tokenizer is written, read and which of its tokens are special."""

    name: str
    keras_class: type
    write: Callable  # (tokenizer, directory) -> {role: file name}
    read: Callable  # (directory, record) -> tokenizer
    special_tokens: dict  # role -> token, for the roles this kind has
    stream_piece: Callable = str  # one token's detokenized text → what a stream prints
    options: Callable = lambda tokenizer: {}  # settings beyond the files, saved in the record


def _write_wordpiece(tokenizer, directory):
    (directory / "vocab.txt").write_text(
        "\n".join(tokenizer.get_vocabulary()) + "\n", encoding="utf-8"
    )
    return {"vocabulary": "vocab.txt"}


def _read_wordpiece(directory, record):
    from kzoo.text.wordpiece import load_wordpiece

    options = record.get("options", {"lowercase": record.get("lowercase")})  # older: top level
    return load_wordpiece(directory / record["files"]["vocabulary"], **options)


def _write_bpe(tokenizer, directory):
    (directory / "vocab.json").write_text(
        json.dumps(dict(tokenizer.vocabulary), ensure_ascii=False), encoding="utf-8"
    )
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{m}\n" for m in tokenizer.merges), encoding="utf-8"
    )
    return {"vocabulary": "vocab.json", "merges": "merges.txt"}


def _read_bpe(directory, record):
    from kzoo.text.bpe import load_bpe

    files = record["files"]
    return load_bpe(
        directory / files["vocabulary"], directory / files["merges"], **record.get("options", {})
    )


def _bpe_options(tokenizer) -> dict:
    return {
        "pre_tokenizer": tokenizer.pre_tokenizer.name,
        "normalization": tokenizer.normalization,
        "ignore_merges": tokenizer.ignore_merges,
        "special_tokens": list(tokenizer.unsplittable_tokens),
        "special_roles": tokenizer.special_roles,
    }


def _write_sentencepiece(tokenizer, directory):
    (directory / "tokenizer.model").write_bytes(tokenizer.proto)
    return {"model": "tokenizer.model"}


def _read_sentencepiece(directory, record):
    from kzoo.text.sentencepiece import load_sentencepiece

    return load_sentencepiece(directory / record["files"]["model"])


KINDS = {
    "wordpiece": TokenizerKind(
        "wordpiece",
        WordPieceTokenizer,
        _write_wordpiece,
        _read_wordpiece,
        {
            "pad": "[PAD]",
            "unknown": "[UNK]",
            "start": "[CLS]",
            "end_of_text": "[SEP]",
            "mask": "[MASK]",
        },
        lambda piece: piece[2:] if piece.startswith("##") else f" {piece}",  # joins "##"
        lambda tokenizer: {
            "lowercase": bool(tokenizer.lowercase),
            "strip_accents": bool(tokenizer.strip_accents),
            "split_on_cjk": bool(tokenizer.split_on_cjk),
        },
    ),
    "bpe": TokenizerKind(
        "bpe",
        BytePairTokenizer,
        _write_bpe,
        _read_bpe,
        GPT2_ROLES,
        options=_bpe_options,
    ),
    "sentencepiece": TokenizerKind(
        "sentencepiece",
        SentencePieceTokenizer,
        _write_sentencepiece,
        _read_sentencepiece,
        {"pad": "<pad>", "unknown": "<unk>", "start": "<s>", "end_of_text": "</s>"},
    ),
}
_BY_CLASS = {kind.keras_class: kind for kind in KINDS.values()}


def kind_of(tokenizer) -> TokenizerKind:
    """The kind of a keras_hub tokenizer (its class or a base class decides)."""
    for cls in type(tokenizer).__mro__:
        if cls in _BY_CLASS:
            return _BY_CLASS[cls]
    raise TypeError(
        f"{type(tokenizer).__name__} is not a tokenizer kzoo records; use one of "
        f"{sorted(k.keras_class.__name__ for k in KINDS.values())}."
    )


def special_roles(tokenizer) -> dict:
    """{role: token}: the tokenizer's own (a tokenizer.json names its end-of-text token), else
    its kind's."""
    return getattr(tokenizer, "special_roles", None) or kind_of(tokenizer).special_tokens


def tokenizer_special_ids(tokenizer) -> dict:
    """{role: id} for the special tokens of this tokenizer that its vocabulary holds."""
    vocabulary = set(tokenizer.get_vocabulary())
    return {
        role: int(tokenizer.token_to_id(token))
        for role, token in special_roles(tokenizer).items()
        if token in vocabulary
    }


def save_tokenizer(tokenizer, directory) -> dict:
    """Writes the tokenizer's files and its record into `directory`; returns the record."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    kind = kind_of(tokenizer)
    record = {
        "kind": kind.name,
        "files": kind.write(tokenizer, directory),
        "special_ids": tokenizer_special_ids(tokenizer),
        "options": kind.options(tokenizer),
    }
    temporary = directory / f".{RECORD}.tmp"
    temporary.write_text(json.dumps(record, indent=2), encoding="utf-8")
    temporary.replace(directory / RECORD)
    return record


def read_record(directory) -> dict:
    """The directory's tokenizer record. A run written before records existed holds a WordPiece
    vocab.txt, and reads as one."""
    directory = Path(directory)
    path = directory / RECORD
    if not path.exists():
        if (directory / "vocab.txt").exists():
            return {"kind": "wordpiece", "files": {"vocabulary": "vocab.txt"}}
        raise FileNotFoundError(
            f"{directory}: no {RECORD} or vocab.txt; the run has no "
            f"tokenizer. Write one with kzoo.text.save_tokenizer."
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        kind = record["kind"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path}: not a tokenizer record ({error}); rewrite it with kzoo.text.save_tokenizer."
        ) from None
    if kind not in KINDS:
        raise ValueError(
            f"{path}: tokenizer kind {kind!r} is unknown; kzoo records {sorted(KINDS)}."
        )
    return record


def load_tokenizer(directory):
    """The tokenizer a run directory records."""
    record = read_record(directory)
    return KINDS[record["kind"]].read(Path(directory), record)


def end_of_text_id(tokenizer) -> int:
    """The id that ends generation for this tokenizer ([SEP], <|endoftext|> or </s>)."""
    ids = tokenizer_special_ids(tokenizer)
    if "end_of_text" not in ids:
        token = special_roles(tokenizer).get("end_of_text", "an end-of-text token")
        raise ValueError(
            f"the tokenizer's vocabulary lacks {token!r}, which ends generation; "
            f"add it to the vocabulary."
        )
    return ids["end_of_text"]
