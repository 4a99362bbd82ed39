"""Raw strings → encoder inputs, in the TF graph (used by data readers and SavedModels alike)."""

import tensorflow as tf
from keras_hub.layers import MultiSegmentPacker


class TextPairEncoder:
    """Tokenizes one or two texts and packs `[CLS] A [SEP] (B [SEP])`, truncating the longer first.

    Example:
        >>> encode = TextPairEncoder(tokenizer, sequence_length=128)
        >>> encode(tf.constant(["a question"]), tf.constant(["a context"]))["token_ids"].shape
        TensorShape([1, 128])
    """

    def __init__(self, tokenizer, sequence_length):
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.pad_id = tokenizer.token_to_id("[PAD]")
        self.packer = MultiSegmentPacker(
            sequence_length,
            start_value=tokenizer.token_to_id("[CLS]"),
            end_value=tokenizer.token_to_id("[SEP]"),
            pad_value=self.pad_id,
            truncate="round_robin",
        )

    def __call__(self, text, pair=None) -> dict:
        segments = (
            (self.tokenizer(text),)
            if pair is None
            else (self.tokenizer(text), self.tokenizer(pair))
        )
        token_ids, segment_ids = self.packer(segments)
        return {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": packed_padding_mask(segments, self.sequence_length),
        }


def packed_padding_mask(segments, sequence_length) -> tf.Tensor:
    """The mask of `[CLS] A [SEP] (B [SEP])` packed to `sequence_length`, from the segments'
    lengths: a literal `[PAD]` in the text is a token like any other (as in Hugging Face), so
    the mask never compares ids with the pad id."""
    content = tf.add_n([_row_lengths(segment) for segment in segments])
    packed = tf.minimum(content + len(segments) + 1, sequence_length)
    return tf.sequence_mask(packed, sequence_length, dtype=tf.int32)


def _row_lengths(segment) -> tf.Tensor:
    if isinstance(segment, list):  # keras_hub tokenizers return lists in eager mode
        return tf.constant([len(row) for row in segment], tf.int32)
    return tf.cast(segment.row_lengths(), tf.int32)
