"""BERT WordPiece: load a `vocab.txt` into an in-graph tokenizer, or learn one from raw text."""

from pathlib import Path

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from keras_hub.src.tokenizers.word_piece_tokenizer import get_special_tokens_pattern
from keras_hub.src.utils.tensor_utils import preprocessing_function
from keras_hub.tokenizers import WordPieceTokenizer
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset

from kzoo.data.documents import read_text
from kzoo.text.bert_normalizer import MAX_CHARACTERS_PER_WORD, bert_words

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
            f"kzoo.text.learn_wordpiece_vocabulary."
        )
    return vocabulary


def load_wordpiece(
    vocabulary, lowercase=None, sequence_length=None, strip_accents=None, split_on_cjk=True
) -> WordPieceTokenizer:
    """A keras_hub WordPiece tokenizer configured as BERT's.

    `vocabulary` is a `vocab.txt` path or a list of tokens. `lowercase` defaults to True when
    the vocabulary has no upper-case tokens; `strip_accents` follows `lowercase` unless set, and
    `split_on_cjk` pads CJK ideographs, as a checkpoint's tokenizer_config.json sets
    `do_lower_case`, `strip_accents` and `tokenize_chinese_chars`. `[MASK]` and the other
    special tokens are recognised inside input strings.

    Example:
        >>> tok = load_wordpiece("vocab.txt")
        >>> tok(["Hello world!"])  # ragged ids
    """
    if isinstance(vocabulary, (str, Path)):
        vocabulary = read_vocabulary(vocabulary)
    if lowercase is None:
        lowercase = not any(t.lower() != t for t in vocabulary if t not in SPECIAL_TOKENS)
    return BertWordPiece(
        vocabulary=list(vocabulary),
        sequence_length=sequence_length,
        lowercase=lowercase,
        strip_accents=lowercase if strip_accents is None else strip_accents,
        split_on_cjk=split_on_cjk,
    )


@keras.saving.register_keras_serializable(package="kzoo")
class BertWordPiece(WordPieceTokenizer):
    """keras_hub's WordPieceTokenizer (vocabulary, ids, detokenizer) with BERT's exact text
    normalization and word split (`kzoo.text.bert_normalizer`), so ids equal Hugging Face's
    BertTokenizerFast; BERT's special tokens are recognised inside input strings."""

    def __init__(self, vocabulary=None, **kwargs):
        kwargs.setdefault("special_tokens", list(SPECIAL_TOKENS))
        kwargs["special_tokens_in_strings"] = True
        super().__init__(vocabulary=vocabulary, **kwargs)

    def _use_tf_workflow(self):
        # keras_hub's eager path is a Python approximation of its own graph path; BERT's
        # semantics live in the graph path only.
        return True

    def _set_vocabulary_tf(self):
        # BERT's limit is 100 characters per word (checked in `bert_words`), tf_text's 100 bytes.
        self._fast_word_piece = tf_text.FastWordpieceTokenizer(
            vocab=self.vocabulary,
            token_out_type=self.compute_dtype,
            suffix_indicator=self.suffix_indicator,
            unknown_token=self.oov_token,
            no_pretokenization=True,
            support_detokenization=True,
            max_bytes_per_word=4 * MAX_CHARACTERS_PER_WORD,
        )

    @preprocessing_function
    def _tokenize_tf(self, inputs):
        self._maybe_initialized_tf()
        inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = tf.expand_dims(inputs, 0)
        settings = dict(
            lowercase=self.lowercase,
            strip_accents=self.strip_accents,
            split_on_cjk=self.split_on_cjk,
        )
        special = get_special_tokens_pattern(self._special_tokens_for_splitting())
        words = bert_words(inputs, settings, special, self.oov_token)
        tokens = self._fast_word_piece.tokenize(words).merge_dims(-2, -1)
        if self.sequence_length:
            shape = tokens.shape.as_list()
            shape[-1] = self.sequence_length
            tokens = tokens.to_tensor(shape=shape)
        return tf.squeeze(tokens, 0) if unbatched else tokens


def learn_wordpiece_vocabulary(paths, vocabulary_size, lowercase=True, output=None) -> list[str]:
    """Learns a WordPiece vocabulary (special tokens first) from UTF-8 text files.

    Deterministic for the same input. Writes `output` (a vocab.txt) when given.

    Example: `learn_wordpiece_vocabulary(["corpus.txt"], 8000, output="vocab.txt")`.
    """
    lines = [
        line
        for path in ([paths] if isinstance(paths, (str, Path)) else paths)
        for line in read_text(path).splitlines()
        if line.strip()
    ]
    # tf-text's learner directly, not keras_hub's wrapper: the wrapper keeps the
    # default floor of 10 occurrences per token, which on small corpora returns a
    # fraction of the vocabulary size asked for.
    vocabulary = bert_vocab_from_dataset.bert_vocab_from_dataset(
        tf.data.Dataset.from_tensor_slices(lines).batch(1024),
        vocabulary_size,
        reserved_tokens=list(SPECIAL_TOKENS),
        bert_tokenizer_params={"lower_case": lowercase},
        learn_params={"lower_thresh": 2},
    )
    if output is not None:
        Path(output).write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    return vocabulary
