"""The one attention layer of kzoo: self-attention (bidirectional or causal) or cross-attention,
multi-head to multi-query, rotary positions or an additive position bias, optional QK-norm,
padding/causal masks and a key/value cache."""

import keras
from keras import ops

from kzoo.layers import rotary
from kzoo.layers.dense import Dense
from kzoo.layers.embedding import position_ids
from kzoo.layers.kv_cache import write_cache
from kzoo.layers.norms import make_norm


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


# What an attention layer attends over: its own sequence, both ways or only backwards, or the
# sequence of another stack (an encoder-decoder's encoder output, `memory`).
KINDS = ("bidirectional", "causal", "cross")


@keras.saving.register_keras_serializable(package="kzoo")
class Attention(keras.layers.Layer):
    """Attention as a `ModelConfig` describes it: heads and key/value heads (grouped-query
    when fewer), head size, QKV and output biases, rotary positions, QK-norm, scaled or not
    (`attention_scale`), of one of the `KINDS` (default: causal for decoders).

    Self-attention takes Q, K and V from one fused projection (one matmul instead of three),
    sized (num_heads + 2 · kv_heads) · head_size; cross-attention takes Q from `x` (`query`)
    and K, V from `memory` (`key_value`), with `padding_mask` then the memory's mask.
    `attention_bias` (1 or batch, heads, queries, keys) is added to the scores (T5's relative
    positions). With a `cache` pair (keys, values), each
    (batch · kv_heads, max_length, head_size) (see `kzoo.layers.kv_cache`), the new keys and
    values are written at `cache_index` and attention runs over the whole cache; the call then
    returns `(output, updated_cache)`. A cross-attention cache is `memory_cache(memory)`, made
    once per request and only read. `positions` (batch, T) are the tokens' positions for rotary
    encoding (default: real tokens counted over `padding_mask`). With `query_positions`
    (batch, n), only those positions attend (over every key): the output is (batch, n, hidden).

    Example:
        >>> att = Attention(ModelConfig(hidden_size=8, num_heads=2, num_kv_heads=1))
        >>> att(ops.ones((1, 4, 8)), padding_mask=ops.ones((1, 4))).shape
        (1, 4, 8)
    """

    def __init__(self, config, kind=None, **kwargs):
        super().__init__(**kwargs)
        from kzoo.config import resolve_config

        self.config = resolve_config(config)
        c = self.config
        self.kind = kind or ("causal" if c.causal else "bidirectional")
        if self.kind not in KINDS:
            raise ValueError(f"Attention kind={self.kind!r} is invalid: expected one of {KINDS}.")
        self.head_size, self.groups = c.attention_head_size, c.num_heads // c.kv_heads
        self.scale = self.head_size**-0.5 if c.attention_scale else 1.0
        rotates = c.position_encoding == "rotary" and self.kind != "cross"
        self.speeds = rotary.inverse_frequencies(c) if rotates else None
        self.dropout_layer = keras.layers.Dropout(c.attention_dropout, dtype=self.dtype_policy)

    def build(self, input_shape, *args, **kwargs):
        c = self.config
        init = keras.initializers.TruncatedNormal(stddev=c.initializer_range)
        dense = dict(kernel_initializer=init, use_bias=c.qkv_bias, dtype=self.dtype_policy)
        projections = {"qkv": c.num_heads + 2 * c.kv_heads}
        if self.kind == "cross":
            projections = {"query": c.num_heads, "key_value": 2 * c.kv_heads}
        for name, heads in projections.items():
            setattr(self, name, Dense(heads * self.head_size, **dense, name=name))
            getattr(self, name).build(input_shape)
        dense.pop("use_bias")
        self.output_projection = Dense(c.hidden_size, use_bias=c.output_bias, **dense,
                                       name="output")
        self.output_projection.build((*input_shape[:-1], c.num_heads * self.head_size))
        if c.qk_norm:
            self.query_norm = make_norm(c, "query_norm", self.dtype_policy)
            self.key_norm = make_norm(c, "key_norm", self.dtype_policy)
            for norm in (self.query_norm, self.key_norm):
                norm.build((*input_shape[:-1], self.head_size))
        self.built = True

    def call(self, x, padding_mask, positions=None, cache=None, cache_index=0,
             in_place_cache=False, query_positions=None, attention_bias=None, memory=None,
             training=None):
        c = self.config
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        if self.kind == "cross":
            return self._cross(x, padding_mask, memory, cache, training)
        query, key, value = self._project(x, padding_mask, positions)
        if query_positions is not None:
            if self.kind == "causal" or cache is not None:
                raise ValueError("query_positions is for bidirectional attention without a cache; "
                                 "for causal or cached attention, run every position and slice "
                                 "the output.")
            query = ops.take_along_axis(query, query_positions[:, :, None, None], axis=1)
            length = ops.shape(query_positions)[1]
        mask = attention_mask(padding_mask, length, self.kind == "causal", cache_index)
        if cache is not None:
            rows = (batch * c.kv_heads, length, self.head_size)
            cache = tuple(
                write_cache(kept, ops.reshape(ops.transpose(new, (0, 2, 1, 3)), rows),
                            cache_index, in_place_cache)
                for kept, new in zip(cache, (key, value)))
            heads = (batch, c.kv_heads, -1, self.head_size)
            out = self._attend(query, *(ops.reshape(kept, heads) for kept in cache), mask,
                               attention_bias, training, heads_first=True)
        elif training and c.attention_dropout > 0 or self.groups > 1:
            # Keras's TensorFlow attention repeats grouped keys in some of its paths and not in
            # others; the grouped einsum never repeats them.
            out = self._attend(query, key, value, mask, attention_bias, training)
        else:
            out = ops.dot_product_attention(query, key, value, bias=attention_bias, mask=mask,
                                            scale=self.scale)
        out = self.output_projection(ops.reshape(out, (batch, length, -1)))
        return out if cache is None else (out, cache)

    def memory_cache(self, memory):
        """Cross-attention keys and values of `memory` (batch, S, hidden), in the cache layout
        (batch · kv_heads, S, head_size): computed once per request, read at every step."""
        keys_values = ops.split(self.key_value(memory), 2, axis=-1)
        batch, length = ops.shape(memory)[0], ops.shape(memory)[1]
        rows = (batch * self.config.kv_heads, length, self.head_size)
        return tuple(
            ops.reshape(ops.transpose(ops.reshape(t, (batch, length, -1, self.head_size)),
                                      (0, 2, 1, 3)), rows)
            for t in keys_values)

    def _cross(self, x, memory_mask, memory, cache, training):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        query = ops.reshape(self.query(x), (batch, length, -1, self.head_size))
        keys_values = self.memory_cache(memory) if cache is None else cache
        heads = (batch, self.config.kv_heads, -1, self.head_size)
        mask = attention_mask(memory_mask, length, causal=False)
        out = self._attend(query, *(ops.reshape(t, heads) for t in keys_values), mask, None,
                           training, heads_first=True)
        out = self.output_projection(ops.reshape(out, (batch, length, -1)))
        return out if cache is None else (out, cache)

    def _project(self, x, padding_mask, positions):
        """Queries (batch, T, heads, size), keys and values (batch, T, kv_heads, size), normed
        and rotated as the config says."""
        c = self.config
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        # A split, not three slices: a slice's gradient fills a zero tensor the size of the whole
        # QKV output (TensorFlow's StridedSliceGrad: 14% of a bert_small training step).
        sizes = [c.num_heads * self.head_size, (c.num_heads + c.kv_heads) * self.head_size]
        query, key, value = (
            ops.reshape(t, (batch, length, -1, self.head_size))
            for t in ops.split(self.qkv(x), sizes, axis=-1))
        if c.qk_norm:
            query, key = self.query_norm(query), self.key_norm(key)
        if self.speeds is not None:
            positions = position_ids(padding_mask) if positions is None else positions
            query, key = (rotary.rotate(t, positions, self.speeds) for t in (query, key))
        return query, key, value

    def _attend(self, query, key, value, mask, bias, training, heads_first=False):
        """Attention written out, for what `ops.dot_product_attention` lacks: dropout on the
        attention probabilities (BERT-style training), and a (batch, kv_heads, length, size)
        cache, which its (batch, length, heads, size) layout would transpose at every decode
        step (1.3 vs 0.6 ms per layer at batch 8, 6L/512 GPT). Query heads are grouped by the
        key/value head they share, so a grouped-query cache is read as it is, never repeated."""
        keys = "bkld" if heads_first else "blkd"
        batch, length = ops.shape(query)[0], ops.shape(query)[1]
        grouped = ops.reshape(query, (batch, length, -1, self.groups, self.head_size))
        # Scaling the queries and adding the mask as a bias, rather than scaling the scores and
        # selecting through the mask, spares two passes over the scores forward and backward
        # (a GPT 6L/512 layer's attention: 18.1 → 16.1 ms forward and backward).
        scores = ops.einsum(f"bqkgd,{keys}->bkgql", grouped * self.scale, key)
        scores = ops.cast(scores, "float32") + ops.where(mask[:, :, None], 0.0, -1e9)
        if bias is not None:
            grouped_bias = (ops.shape(bias)[0], -1, self.groups, *ops.shape(bias)[2:])
            scores = scores + ops.cast(ops.reshape(bias, grouped_bias), "float32")
        probs = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
        probs = self.dropout_layer(probs, training=training)
        out = ops.einsum(f"bkgql,{keys}->bqkgd", probs, value)
        return ops.reshape(out, (batch, length, -1, self.head_size))

    def compute_output_shape(self, input_shape, *args, **kwargs):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict(), "kind": self.kind}
