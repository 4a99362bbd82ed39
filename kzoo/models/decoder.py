"""Causal decoder (GPT-2, Llama and the like) with its LM head and a key/value-cached step for
generation."""

import keras
from keras import ops

from kzoo.layers.backend import tensorflow_without_xla
from kzoo.layers.embedding import position_ids
from kzoo.layers.kv_cache import sequence_rows
from kzoo.models.backbone import Backbone, checked_config, make_layers


@keras.saving.register_keras_serializable(package="kzoo")
class Decoder(Backbone):
    """Functional causal decoder: `token_ids`, `padding_mask` → `hidden_states`.

    `logits(hidden)` applies the LM head (the token embedding, transposed).
    `call_with_cache` runs a few positions at a time against a preallocated
    key/value cache; the generation loop is built on it.

    Example:
        >>> decoder = Decoder("gpt2_small")
        >>> hidden = decoder({"token_ids": ids, "padding_mask": mask})
        >>> decoder.logits(hidden).shape  # (batch, length, 50257)
    """

    def __init__(self, config="gpt2_small", dtype=None, **kwargs):
        config = checked_config(config, {}, "decoder", builder="Decoder")
        stack = make_layers(config, dtype)
        self.embedding, self.blocks = stack.embedding, stack.blocks
        self.final_norm = stack.final_norm
        inputs = {
            name: keras.Input((None,), dtype="int32", name=name)
            for name in ("token_ids", "padding_mask")
        }
        positions = position_ids(inputs["padding_mask"])
        x = self.embedding(inputs["token_ids"], positions=positions)
        for block in self.blocks:
            x = block(x, inputs["padding_mask"], positions=positions)
        if self.final_norm is not None:
            x = self.final_norm(x)
        super().__init__(inputs=inputs, outputs=x, config=config, dtype=dtype, **kwargs)

    def logits(self, hidden_states):
        """Vocabulary logits from hidden states, with the (tied) token embedding."""
        return self.embedding.token_embedding(hidden_states, reverse=True)

    def init_cache(self, batch_size, max_length, dtype="float32"):
        """A zero key/value cache: per layer a (keys, values) pair, each (batch · kv_heads,
        max_length, head_size), a sequence's heads in consecutive rows (see
        `kzoo.layers.kv_cache`). Grouped-query attention keeps only its key/value heads."""
        c = self.config
        shape = (batch_size * c.kv_heads, max_length, c.attention_head_size)
        return tuple(
            (ops.zeros(shape, dtype), ops.zeros(shape, dtype)) for _ in range(c.num_layers)
        )

    def call_with_cache(self, token_ids, padding_mask, cache, cache_index, in_place=False):
        """Runs `token_ids` (batch, T) at positions `cache_index .. cache_index+T-1`.

        `padding_mask` covers the whole cache length (batch, max_length). Returns
        `(logits, hidden_states, cache)` with the new keys and values written in;
        `in_place=True` lets TensorFlow write them into `cache` itself, for a loop that
        owns its cache (see `kzoo.layers.kv_cache.write_cache`).
        """
        length = ops.shape(token_ids)[1]
        positions = ops.slice(
            position_ids(padding_mask), [0, cache_index], [ops.shape(token_ids)[0], length]
        )
        x = self.embedding(token_ids, positions=positions)
        layer_caches = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(
                x,
                padding_mask,
                positions=positions,
                cache=cache[i],
                cache_index=cache_index,
                in_place_cache=in_place,
            )
            layer_caches.append(layer_cache)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return self.step_logits(x), x, tuple(layer_caches)

    def reorder_cache(self, cache, rows):
        """The cache of the sequences `rows` (beam search keeps the best beams' rows)."""
        cache_rows = sequence_rows(rows, self.config.kv_heads)
        return keras.tree.map_structure(lambda c: ops.take(c, cache_rows, axis=0), cache)

    def head_rows(self):
        """The LM head as a (vocab, hidden) table, whatever its storage: the token embedding when
        tied, else the output projection transposed. The int8 screen quantizes and rescores it."""
        embedding = self.embedding.token_embedding
        if embedding.tie_weights:
            return embedding.embeddings
        return ops.transpose(embedding.reverse_embeddings)

    def step_logits(self, x):
        """`logits(x)` for the few rows of a decode step (see `step_logits`)."""
        return step_logits(self.output_table(), x, self.logits)


def step_logits(table, x, logits):
    """`logits(x)` of a tied LM head whose (vocab, hidden) `table` is given (else None), for the
    few rows of a decode step. For several rows oneDNN reads the 50257 × 512 table fastest as
    `table @ transpose(x)`: on an AVX2 EPYC, 8 rows take 15 ms that way against 44 ms for
    `x @ transpose(table)` and 45 ms batched (an AVX-512 machine measured 4.1-5.1 ms against
    3.5 ms batched; the 3× cliff outweighs that). One row stays a plain product (2.5 ms there).
    Under XLA the choice costs more than it saves (a conditional: one bfloat16 row 109 vs 175
    tokens/s), and XLA picks its own product anyway."""
    if table is None or not tensorflow_without_xla():
        return logits(x)
    batch, length = ops.shape(x)[0], ops.shape(x)[1]

    def rows():
        flat = ops.reshape(x, (batch * length, -1))
        products = ops.transpose(ops.matmul(ops.cast(table, x.dtype), ops.transpose(flat)))
        return ops.reshape(products, (batch, length, ops.shape(table)[0]))

    return ops.cond(batch * length == 1, lambda: logits(x), rows)


def build_decoder(preset_or_config="gpt2_small", **overrides) -> Decoder:
    """Builds a decoder from a preset name, dict, JSON path or `ModelConfig`, with field overrides.

    Example: `build_decoder("gpt2_small", num_layers=6, hidden_size=512, num_heads=8)`.
    """
    dtype = overrides.pop("dtype", None)
    return Decoder(
        checked_config(preset_or_config, overrides, "decoder", "build_decoder"), dtype=dtype
    )
