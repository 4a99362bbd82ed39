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
            sequence_length, start_value=tokenizer.token_to_id("[CLS]"),
            end_value=tokenizer.token_to_id("[SEP]"), pad_value=self.pad_id, truncate="round_robin")

    def __call__(self, text, pair=None) -> dict:
        segments = (self.tokenizer(text),) if pair is None else (self.tokenizer(text), self.tokenizer(pair))
        token_ids, segment_ids = self.packer(segments)
        return {"token_ids": token_ids, "segment_ids": segment_ids,
                "padding_mask": tf.cast(token_ids != self.pad_id, tf.int32)}
