"""The one multi-head self-attention layer of kzoo: fused QKV, padding/causal masks, KV cache."""

import keras
from keras import ops

from kzoo.layers.dense import Dense
from kzoo.layers.kv_cache import write_cache


def attention_mask(padding_mask, query_length, causal, query_start=0):
    """Boolean mask of shape (batch, 1, query_length, key_length).

    Key j is visible to query i when `padding_mask[:, j]` is set and, for causal
    attention, `j <= query_start + i` (queries sit at positions query_start...).
    """
    mask = ops.cast(padding_mask, "bool")[:, None, None, :]
    if causal:
        key_positions = ops.arange(ops.shape(padding_mask)[-1])
        query_positions = ops.arange(query_length) + query_start
        mask = ops.logical_and(mask, key_positions[None, :] <= query_positions[:, None])
    return mask


@keras.saving.register_keras_serializable(package="kzoo")
class SelfAttention(keras.layers.Layer):
    """Multi-head self-attention: `keras.ops.dot_product_attention`, or written out for dropout and the cache.

    Q, K and V come from one fused projection (one matmul instead of three).
    With a `cache` pair (keys, values), each (batch · heads, max_length, head_size) (see
    `kzoo.layers.kv_cache`), the new keys and values are written at `cache_index` and attention runs over
    the whole cache; the call then returns `(output, updated_cache)`. `in_place_cache=True`
    lets TensorFlow overwrite the cache passed in (see `write_cache`). With `query_positions`
    (batch, n), only those positions attend (over every key): the output is (batch, n, hidden).

    Example:
        >>> att = SelfAttention(num_heads=2)
        >>> x = ops.ones((1, 4, 8))
        >>> att(x, padding_mask=ops.ones((1, 4))).shape
        (1, 4, 8)
    """

    def __init__(self, num_heads, causal=False, dropout=0.0, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.causal = causal
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape, *args, **kwargs):
        hidden = input_shape[-1]
        self.head_size = hidden // self.num_heads
        init = keras.initializers.TruncatedNormal(stddev=self.initializer_range)
        self.qkv = Dense(
            3 * hidden, kernel_initializer=init, dtype=self.dtype_policy, name="qkv")
        self.qkv.build(input_shape)
        self.output_projection = Dense(
            hidden, kernel_initializer=init, dtype=self.dtype_policy, name="output")
        self.output_projection.build(input_shape)
        self.built = True

    def call(self, x, padding_mask, cache=None, cache_index=0, in_place_cache=False, query_positions=None,
             training=None):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        # A split, not three slices: a slice's gradient fills a zero tensor the size of the whole
        # QKV output (TensorFlow's StridedSliceGrad: 14% of a bert_small training step).
        query, key, value = (ops.reshape(t, (batch, length, self.num_heads, self.head_size))
                             for t in ops.split(self.qkv(x), 3, axis=-1))
        if query_positions is not None:
            if self.causal or cache is not None:
                raise ValueError("query_positions is for bidirectional attention without a cache; for causal "
                                 "or cached attention, run every position and slice the output.")
            query = ops.take_along_axis(query, query_positions[:, :, None, None], axis=1)
            length = ops.shape(query_positions)[1]
        mask = attention_mask(padding_mask, length, self.causal, cache_index)
        if cache is not None:
            rows = (batch * self.num_heads, length, self.head_size)
            cache = tuple(write_cache(c, ops.reshape(ops.transpose(t, (0, 2, 1, 3)), rows), cache_index, in_place_cache)
                          for c, t in zip(cache, (key, value)))
            heads = (batch, self.num_heads, -1, self.head_size)
            out = self._attend(query, *(ops.reshape(c, heads) for c in cache), mask, training, heads_first=True)
        elif training and self.dropout > 0:
            out = self._attend(query, key, value, mask, training)
        else:
            out = ops.dot_product_attention(query, key, value, mask=mask)
        out = self.output_projection(ops.reshape(out, (batch, length, -1)))
        return out if cache is None else (out, cache)

    def _attend(self, query, key, value, mask, training, heads_first=False):
        """Attention written out, for what `ops.dot_product_attention` lacks: dropout on the
        attention probabilities (BERT-style training), and a (batch, heads, length, head_size)
        cache, which its (batch, length, heads, head_size) layout would transpose at every decode
        step (1.3 vs 0.6 ms per layer at batch 8, 6L/512 GPT)."""
        keys = "bhkd" if heads_first else "bkhd"
        # Scaling the queries and adding the mask as a bias, rather than scaling the scores and
        # selecting through the mask, spares two passes over the scores forward and backward
        # (a GPT 6L/512 layer's attention: 18.1 → 16.1 ms forward and backward).
        scores = ops.einsum(f"bqhd,{keys}->bhqk", query * (self.head_size ** -0.5), key)
        scores = ops.cast(scores, "float32") + ops.where(mask, 0.0, -1e9)
        probs = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
        probs = self.dropout_layer(probs, training=training)
        return ops.einsum(f"bhqk,{keys}->bqhd", probs, value)

    def compute_output_shape(self, input_shape, *args, **kwargs):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "causal": self.causal,
                "dropout": self.dropout, "initializer_range": self.initializer_range}
