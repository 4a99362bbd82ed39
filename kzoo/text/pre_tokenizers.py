"""Byte-level BPE pre-tokenizers in the TF graph: GPT-2's, Llama 3's and Qwen2's splits, exact.

A byte-level BPE model first cuts text into pieces with its own regex, and merges never cross a
piece. The three regexes differ (Llama 3 takes digits in threes and a punctuation mark's
trailing newlines; Qwen2 takes single digits), and all end in `\\s+(?!\\S)`, a lookahead that
RE2 (TensorFlow's regex engine) lacks. The lookahead leaves a whitespace run's last character
for the next piece. Here a marker is put before that character instead, where the lookahead
would stop, so a lookahead-free pattern finds the same pieces, and the marker is dropped.
keras_hub's BytePairTokenizer does the same for GPT-2 with a narrower whitespace class, so its
pieces differ from `tokenizers`' around Unicode spaces; the classes here are Oniguruma's.

Example:
    >>> split_pieces(tf.constant(["I'M here  123456"]), PRE_TOKENIZERS["llama3"]).to_list()
    [[b"I", b"'M", b" here", b" ", b" ", b"123", b"456"]]
"""

from dataclasses import dataclass

import tensorflow as tf
import tensorflow_text as tf_text

from kzoo.text.special_segments import special_token_segments

# `\s` as `tokenizers` (Oniguruma) reads it: Unicode White_Space. RE2's `\s` is ASCII only.
_SPACES = r" \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
WHITESPACE = r"\t-\r" + _SPACES
# Noncharacters (U+FDD0, U+FDD1): reserved for a program's internal use, never in interchanged
# text. The second stands in for NUL, at which tf_text.regex_split stops reading its input.
MARK, NUL_STAND_IN = "\ufdd0", "\ufdd1"
_S, _NOT_S = f"[{WHITESPACE}]", f"[^{WHITESPACE}]"
_S_NOT_NEWLINE = f"[\\t\\x0b\\x0c{_SPACES}]"


@dataclass(frozen=True)
class PreTokenizer:
    """One model family's split: `hf_pattern` as tokenizer.json spells it, `pieces` the same
    regex in RE2 without the lookahead, and `newline_alternative` when a run of whitespace that
    ends in a newline is one piece (`\\s*[\\r\\n]+`)."""

    name: str
    hf_pattern: str
    pieces: str
    newline_alternative: bool


def _re2(pattern: str) -> str:
    """A tokenizers regex in RE2, minus the lookahead: `\\s` widened, the marker excluded."""
    pattern = pattern.replace(r"|\s+(?!\S)", "")
    return (
        pattern.replace(r"[^\s\p{L}\p{N}]", f"[^{WHITESPACE}\\p{{L}}\\p{{N}}{MARK}]")
        .replace(r"[^\r\n\p{L}\p{N}]", f"[^\\r\\n\\p{{L}}\\p{{N}}{MARK}]")
        .replace(r"\s", _S)
    )


_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = _LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")

PRE_TOKENIZERS = {
    "gpt2": PreTokenizer("gpt2", _GPT2, _re2(_GPT2), newline_alternative=False),
    "llama3": PreTokenizer("llama3", _LLAMA3, _re2(_LLAMA3), newline_alternative=True),
    "qwen2": PreTokenizer("qwen2", _QWEN2, _re2(_QWEN2), newline_alternative=True),
}


def pre_tokenizer_named(name: str) -> PreTokenizer:
    if name not in PRE_TOKENIZERS:
        raise ValueError(
            f"pre_tokenizer={name!r} is invalid: expected one of {tuple(PRE_TOKENIZERS)}."
        )
    return PRE_TOKENIZERS[name]


def pre_tokenizer_of_pattern(pattern: str) -> PreTokenizer:
    """The pre-tokenizer whose regex tokenizer.json spells as `pattern`; refuses others."""
    for pre_tokenizer in PRE_TOKENIZERS.values():
        if pre_tokenizer.hf_pattern == pattern:
            return pre_tokenizer
    raise ValueError(
        f"tokenizer.json splits with the regex {pattern!r}, which kzoo does not implement; "
        f"supported: the GPT-2, Llama 3 and Qwen2 splits ({tuple(PRE_TOKENIZERS)})."
    )


def split_pieces(
    texts, pre_tokenizer: PreTokenizer, special_tokens=(), normalization=None
) -> tf.RaggedTensor:
    """[batch] strings → [batch, pieces] ragged strings. Special tokens are cut out first and
    stay whole; each stretch between them is normalized (None or "NFC", as Qwen2's
    tokenizer.json asks) and split on its own, as `tokenizers` does."""
    texts = tf.strings.regex_replace(texts, f"[{MARK}{NUL_STAND_IN}]", "")
    texts = tf.strings.regex_replace(texts, r"\x00", NUL_STAND_IN)
    specials = "|".join(_escape(t) for t in special_tokens)
    segments = special_token_segments(texts, specials)
    flat = segments.flat_values
    if normalization:
        flat = tf_text.normalize_utf8(flat, normalization)
    # Where the lookahead would stop: before the last character of a whitespace run of two or
    # more that non-whitespace follows (with the newline alternative: unless it is a newline).
    last = _S_NOT_NEWLINE if pre_tokenizer.newline_alternative else _S
    flat = tf.strings.regex_replace(flat, f"({_S})({last})({_NOT_S})", f"\\1{MARK}\\2\\3")
    pattern = f"{specials}|{pre_tokenizer.pieces}" if specials else pre_tokenizer.pieces
    pieces = segments.with_flat_values(tf_text.regex_split(flat, pattern, pattern))
    pieces = pieces.merge_dims(1, 2)
    pieces = tf.ragged.boolean_mask(pieces, pieces != MARK)
    return pieces.with_flat_values(
        tf.strings.regex_replace(pieces.flat_values, NUL_STAND_IN, "\x00")
    )


def _escape(token: str) -> str:
    return "".join(f"\\x{{{ord(c):x}}}" for c in token)
