"""BERT's text normalization and word split, in the TF graph, as Hugging Face's BertTokenizerFast
(`tokenizers`' BertNormalizer + BertPreTokenizer) does them.

keras_hub's WordPieceTokenizer lower-cases with `case_fold_utf8`, which is NFKC case folding
(`ß` → `ss`, `ﬁ` → `fi`, `½` → `1⁄2`), keeps format characters (zero-width space, soft hyphen)
inside words, and maps only ASCII whitespace to spaces. BERT instead: drops NUL, U+FFFD and every
other control, format, private-use or unassigned character; maps Unicode whitespace to spaces;
pads CJK ideographs with spaces; strips accents (NFD, then drop Mn) before lower-casing; and
splits on whitespace and on ASCII or Unicode punctuation.
"""

import tensorflow as tf
import tensorflow_text as tf_text

from kzoo.text.special_segments import special_token_segments

# Unicode White_Space, less the controls among it (\x0b, \x0c, U+0085), which BERT drops.
_WHITESPACE = r"[ \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
# Categories C*: Cc, Cf, Co, Cs, and unassigned code points (no category at all).
_DROPPED = r"[\p{Cc}\p{Cf}\p{Co}\p{Cs}\x{fffd}]|[^\p{L}\p{M}\p{N}\p{P}\p{S}\p{Z}\p{C}]"
# BERT's _is_chinese_char ranges.
CJK = (
    r"[\x{4e00}-\x{9fff}\x{3400}-\x{4dbf}\x{20000}-\x{2a6df}\x{2a700}-\x{2b73f}"
    r"\x{2b740}-\x{2b81f}\x{2b820}-\x{2ceaf}\x{f900}-\x{faff}\x{2f800}-\x{2fa1f}]"
)
PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
# BERT maps a word of more than this many characters (not bytes) to [UNK].
MAX_CHARACTERS_PER_WORD = 100


def normalize(texts, lowercase: bool, strip_accents: bool, split_on_cjk: bool = True):
    """BertNormalizer: clean, pad CJK, strip accents, lower-case (in that order)."""
    texts = tf.strings.regex_replace(texts, r"[\t\n\r]", " ")  # whitespace, though Cc
    texts = tf.strings.regex_replace(texts, _DROPPED, "")
    texts = tf.strings.regex_replace(texts, _WHITESPACE, " ")
    if split_on_cjk:
        texts = tf.strings.regex_replace(texts, CJK, r" \0 ")
    if strip_accents:
        texts = tf_text.normalize_utf8(texts, "NFD")
        texts = tf.strings.regex_replace(texts, r"\p{Mn}", "")
    if lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    return texts


def bert_words(texts, settings: dict, special_tokens_pattern=None, unknown="[UNK]"):
    """[batch] raw strings → [batch, words]: special tokens (matched in the raw text, as
    Hugging Face matches added tokens) stay whole and unnormalized; the rest is normalized
    (`settings`: lowercase, strip_accents, split_on_cjk) and split on spaces, each punctuation
    mark a word. A word over 100 characters becomes `unknown`."""
    texts = tf.strings.regex_replace(texts, r"\x00", "")  # BERT drops it; regex_split stops at it
    segments = special_token_segments(texts, special_tokens_pattern)
    flat = segments.flat_values
    if special_tokens_pattern:
        special = tf.strings.regex_full_match(flat, special_tokens_pattern)
        flat = tf.where(special, flat, normalize(flat, **settings))
    else:
        flat = normalize(flat, **settings)
    delimiters = "|".join(p for p in (special_tokens_pattern, " ", PUNCTUATION) if p)
    kept = "|".join(p for p in (special_tokens_pattern, PUNCTUATION) if p)
    words = segments.with_flat_values(tf_text.regex_split(flat, delimiters, kept))
    words = words.merge_dims(1, 2)
    too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > MAX_CHARACTERS_PER_WORD
    return words.with_flat_values(tf.where(too_long, unknown, words.flat_values))
