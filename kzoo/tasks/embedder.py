"""Sentence embeddings: mean of the token states over real tokens, L2-normalised (sentence-transformers)."""

import keras
from keras import ops

from kzoo.tasks.task import Task, backbone_inputs


def mean_pool(sequence, padding_mask):
    """Average of the hidden states at real positions."""
    mask = ops.cast(padding_mask, sequence.dtype)[:, :, None]
    return ops.sum(sequence * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="kzoo")
class Embedder(Task):
    """Encoder → mean pooling → L2 normalisation; reproduces all-MiniLM-L6-v2's sentence embeddings.

    Example:
        >>> encoder, tokenizer = kzoo.convert.load_huggingface(minilm_dir)
        >>> embedder = Embedder(encoder)
        >>> embedder(TextPairEncoder(tokenizer, 128)(tf.constant(["A man is eating."])))  # (1, 384)
    """

    def __init__(self, backbone, **kwargs):
        inputs = backbone_inputs(backbone)
        pooled = mean_pool(backbone(inputs)["sequence_output"], inputs["padding_mask"])
        embedding = ops.normalize(pooled, axis=-1, order=2)
        super().__init__(inputs=inputs, outputs=embedding, backbone=backbone, head_config={}, **kwargs)

    def default_loss(self):
        return keras.losses.CosineSimilarity()
