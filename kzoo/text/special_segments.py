"""Special tokens cut out of raw text before any normalization, as Hugging Face matches its
added tokens: shared by the WordPiece and byte-level BPE splits."""

import tensorflow as tf
import tensorflow_text as tf_text


def special_token_segments(texts, pattern=None) -> tf.RaggedTensor:
    """[batch] strings → [batch, segments]: each special token (a match of `pattern`) is a
    segment of its own, and so is each stretch of text between them; without a pattern, each
    text is one segment."""
    if pattern:
        return tf_text.regex_split(texts, pattern, pattern)
    return tf.RaggedTensor.from_tensor(tf.expand_dims(texts, 1))
