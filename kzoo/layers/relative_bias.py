"""T5's relative position bias: a learned scalar per head and distance bucket, added to the
attention scores of every layer of a stack (computed once, by the stack)."""

import math

import keras
from keras import ops


def relative_buckets(distance, bidirectional, buckets, max_distance):
    """T5's bucket of each `distance` (key position − query position, int32): exact for short
    distances, logarithmic up to `max_distance`, the last bucket beyond. Bidirectional stacks
    spend half their buckets on keys after the query; causal ones see only earlier keys."""
    bucket = ops.zeros_like(distance)
    if bidirectional:
        buckets //= 2
        bucket = ops.where(distance > 0, buckets, 0)
        distance = ops.abs(distance)
    else:
        distance = -ops.minimum(distance, 0)
    exact = buckets // 2
    # The float form T5 computes, so every bucket boundary falls where it does there.
    far = exact + ops.cast(
        ops.log(ops.cast(ops.maximum(distance, 1), "float32") / exact)
        / math.log(max_distance / exact) * (buckets - exact), "int32")
    far = ops.minimum(far, buckets - 1)
    return bucket + ops.where(distance < exact, distance, far)


@keras.saving.register_keras_serializable(package="kzoo")
class RelativePositionBias(keras.layers.Layer):
    """The (1, heads, queries, keys) bias of T5's attention, from a (buckets, heads) table.

    Called on a stack's token ids (batch, T) it gives the bias of T positions over themselves;
    `bias(query_start, query_length, key_length)` gives that of a decode step's queries over
    the whole cache.

    Example:
        >>> bias = RelativePositionBias(resolve_config("t5_tiny"), bidirectional=True)
        >>> bias(ops.zeros((2, 5), "int32")).shape
        (1, 4, 5, 5)
    """

    def __init__(self, config, bidirectional, **kwargs):
        super().__init__(**kwargs)
        from kzoo.config import resolve_config

        self.config = resolve_config(config)
        self.bidirectional = bidirectional

    def build(self, *args, **kwargs):
        c = self.config
        self.embeddings = self.add_weight(
            (c.relative_buckets, c.num_heads), name="embeddings",
            initializer=keras.initializers.TruncatedNormal(stddev=c.initializer_range))
        self.built = True

    def call(self, token_ids):
        length = ops.shape(token_ids)[1]
        return self.bias(0, length, length)

    def bias(self, query_start, query_length, key_length):
        c = self.config
        queries = ops.arange(query_length)[:, None] + query_start
        distance = ops.arange(key_length)[None, :] - queries
        buckets = relative_buckets(distance, self.bidirectional, c.relative_buckets,
                                   c.relative_max_distance)
        values = ops.take(ops.convert_to_tensor(self.embeddings), buckets, axis=0)
        return ops.cast(ops.transpose(values, (2, 0, 1))[None], self.compute_dtype)

    def compute_output_shape(self, token_ids_shape):
        return (1, self.config.num_heads, token_ids_shape[1], token_ids_shape[1])

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict(),
                "bidirectional": self.bidirectional}
