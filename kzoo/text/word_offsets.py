"""Words with their byte offsets in the original text, tokenized into pieces in the TF graph.

keras_hub's WordPiece tokenizer gives no offsets, and TF Text's `BertTokenizer` reports
offsets into the lower-cased, accent-stripped text rather than the original. So kzoo splits
the *original* text into words as BERT does (whitespace; punctuation and CJK characters kept
as words of their own) and tokenizes each word: the ids are the sentence's ids, and every
piece maps back to a word span of the input. Answers and entities are whole words.
"""

import tensorflow as tf
import tensorflow_text as tf_text

_PUNCTUATION = r"[!-/]|[:-@]|[\[-`]|[{-~]|\p{P}"
_CJK = (r"[\x{4E00}-\x{9FFF}]|[\x{3400}-\x{4DBF}]|[\x{20000}-\x{2A6DF}]|[\x{2A700}-\x{2B73F}]|"
        r"[\x{2B740}-\x{2B81F}]|[\x{2B820}-\x{2CEAF}]|[\x{F900}-\x{FAFF}]|[\x{2F800}-\x{2FA1F}]")
_DELIMITERS = rf"\s|\p{{Cc}}|\p{{Cf}}|{_PUNCTUATION}|{_CJK}"
_KEPT = rf"{_PUNCTUATION}|{_CJK}"


def split_words(text):
    """(words, starts, ends): ragged (batch, words); offsets are bytes of `text`."""
    return tf_text.regex_split_with_offsets(text, _DELIMITERS, _KEPT)


def tokenize_words(tokenizer, words):
    """Ragged (batch, words, pieces) ids for ragged (batch, words) strings."""
    pieces = tokenizer(words.flat_values)
    if isinstance(pieces, list):  # keras_hub returns Python lists in eager mode
        pieces = tf.RaggedTensor.from_row_lengths(tf.constant([i for p in pieces for i in p], tf.int32),
                                                  [len(p) for p in pieces])
    return words.with_flat_values(pieces)


def char_offsets(texts, byte_offsets):
    """Character offsets of byte offsets into `texts` (elementwise, same shape)."""
    return tf.strings.length(tf.strings.substr(texts, tf.zeros_like(byte_offsets), byte_offsets), unit="UTF8_CHAR")
