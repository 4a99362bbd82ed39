"""BERT WordPiece: load a `vocab.txt` into an in-graph tokenizer, or learn one from raw text."""

from pathlib import Path

import tensorflow as tf
from keras_hub.tokenizers import WordPieceTokenizer
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset

from kzoo.data.documents import read_text

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def read_vocabulary(path) -> list[str]:
    """One token per line; the BERT special tokens must be present."""
    vocabulary = read_text(path).splitlines()
    first_line = {}
    for number, token in enumerate(vocabulary, 1):
        if token in first_line:
            raise ValueError(
                f"{path}, line {number}: token {token!r} repeats line {first_line[token]}; each "
                f"token needs one line (its line is its id), so remove the repeat."
            )
        first_line[token] = number
    missing = [t for t in SPECIAL_TOKENS if t not in vocabulary]
    if missing:
        raise ValueError(
            f"{path}: the vocabulary lacks the special tokens {missing}. Add one per line "
            f"(learned vocabularies start with {list(SPECIAL_TOKENS)}), or learn a new one with "
            f"kzoo.text.learn_wordpiece_vocabulary.")
    return vocabulary


def load_wordpiece(vocabulary, lowercase=None, sequence_length=None) -> WordPieceTokenizer:
    """A keras_hub WordPiece tokenizer configured as BERT's.

    `vocabulary` is a `vocab.txt` path or a list of tokens. `lowercase` (which
    also strips accents, as BERT-uncased does) defaults to True when the
    vocabulary has no upper-case tokens. `[MASK]` and the other special tokens
    are recognised inside input strings.

    Example:
        >>> tok = load_wordpiece("vocab.txt")
        >>> tok(["Hello world!"])  # ragged ids
    """
    if isinstance(vocabulary, (str, Path)):
        vocabulary = read_vocabulary(vocabulary)
    if lowercase is None:
        lowercase = not any(t.lower() != t for t in vocabulary if t not in SPECIAL_TOKENS)
    return WordPieceTokenizer(
        vocabulary=list(vocabulary), sequence_length=sequence_length, lowercase=lowercase,
        strip_accents=lowercase, special_tokens=list(SPECIAL_TOKENS), special_tokens_in_strings=True)


def learn_wordpiece_vocabulary(paths, vocabulary_size, lowercase=True, output=None) -> list[str]:
    """Learns a WordPiece vocabulary (special tokens first) from UTF-8 text files.

    Deterministic for the same input. Writes `output` (a vocab.txt) when given.

    Example: `learn_wordpiece_vocabulary(["corpus.txt"], 8000, output="vocab.txt")`.
    """
    lines = [line for path in ([paths] if isinstance(paths, (str, Path)) else paths)
             for line in read_text(path).splitlines() if line.strip()]
    # tf-text's learner directly, not keras_hub's wrapper: the wrapper keeps the
    # default floor of 10 occurrences per token, which on small corpora returns a
    # fraction of the vocabulary size asked for.
    vocabulary = bert_vocab_from_dataset.bert_vocab_from_dataset(
        tf.data.Dataset.from_tensor_slices(lines).batch(1024), vocabulary_size,
        reserved_tokens=list(SPECIAL_TOKENS), bert_tokenizer_params={"lower_case": lowercase},
        learn_params={"lower_thresh": 2})
    if output is not None:
        Path(output).write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    return vocabulary
