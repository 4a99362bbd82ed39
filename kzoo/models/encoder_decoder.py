"""Encoder-decoder (T5, BART): an encoder stack, and a causal decoder stack that cross-attends
to its output, sharing one token table; and the cached view of the decoder that generation
runs."""

import keras
from keras import ops

from kzoo.layers.kv_cache import sequence_rows
from kzoo.models.decoder import step_logits
from kzoo.models.backbone import Backbone, checked_config, make_layers

INPUTS = ("encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
          "decoder_padding_mask")


@keras.saving.register_keras_serializable(package="kzoo")
class EncoderDecoder(Backbone):
    """Functional encoder-decoder: the four `INPUTS` → `encoder_sequence_output` and
    `decoder_sequence_output`.

    `logits(decoder_states)` applies the LM head (the shared token table, transposed, unless
    untied). `encode` and `decoding(memory, memory_mask)` split the model for generation: the
    encoder runs once per request, the decoder step by step against a cache.

    Example:
        >>> model = EncoderDecoder("t5_small")
        >>> out = model({"encoder_token_ids": src, "encoder_padding_mask": src_mask,
        ...              "decoder_token_ids": tgt_in, "decoder_padding_mask": tgt_mask})
        >>> model.logits(out["decoder_sequence_output"]).shape  # (batch, target, 32128)
    """

    def __init__(self, config="t5_small", dtype=None, **kwargs):
        config = checked_config(config, {}, "encoder_decoder", builder="EncoderDecoder")
        encoder = make_layers(config, dtype)
        decoder = make_layers(config, dtype, decoder_side=True,
                              token_embedding=encoder.embedding.token_embedding)
        self.embedding, self.blocks = encoder.embedding, encoder.blocks
        self.final_norm, self.relative_bias = encoder.final_norm, encoder.relative_bias
        self.decoder_embedding, self.decoder_blocks = decoder.embedding, decoder.blocks
        self.decoder_final_norm = decoder.final_norm
        self.decoder_relative_bias = decoder.relative_bias
        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUTS}
        memory = self.encode(inputs["encoder_token_ids"], inputs["encoder_padding_mask"])
        ids = inputs["decoder_token_ids"]
        bias = self.decoder_relative_bias(ids) if self.decoder_relative_bias else None
        x = self.decoder_embedding(ids)
        for block in self.decoder_blocks:
            x = block(x, inputs["decoder_padding_mask"], attention_bias=bias, memory=memory,
                      memory_mask=inputs["encoder_padding_mask"])
        outputs = {"encoder_sequence_output": memory, "decoder_sequence_output": self.finish(x)}
        super().__init__(inputs=inputs, outputs=outputs, config=config, dtype=dtype, **kwargs)

    def encode(self, token_ids, padding_mask):
        """The encoder's output states (batch, source, hidden)."""
        x = self.embedding(token_ids)
        bias = self.relative_bias(token_ids) if self.relative_bias else None
        for block in self.blocks:
            x = block(x, padding_mask, attention_bias=bias)
        return self.final_norm(x) if self.final_norm is not None else x

    def finish(self, decoder_states):
        """The decoder's final norm, where its stack has one."""
        norm = self.decoder_final_norm
        return norm(decoder_states) if norm is not None else decoder_states

    def logits(self, decoder_states):
        """Vocabulary logits from decoder states; T5 rescales them before its tied head."""
        return self.embedding.token_embedding(self._scaled(decoder_states), reverse=True)

    def _scaled(self, decoder_states):
        if self.config.decoder_output_scale:
            return decoder_states * self.config.hidden_size**-0.5
        return decoder_states

    def decoding(self, memory, memory_mask):
        """The decoder over one request's encoder output, as `kzoo.generation.decode` runs it."""
        return CachedDecoder(self, memory, memory_mask)


class CachedDecoder:
    """An encoder-decoder's decoder bound to encoder states `memory` (batch, S, hidden), with
    the cached-step interface of `kzoo.models.Decoder` (`init_cache`, `call_with_cache`,
    `step_logits`, `reorder_cache`), so one decode loop serves both.

    Its cache is `{"layers": ({"self": (keys, values), "cross": (keys, values)}, ...),
    "memory_mask": (rows, S)}`: cross-attention keys and values are projected once, in
    `init_cache`, and beams of one source share them, so reordering beams leaves them alone.
    """

    def __init__(self, model: EncoderDecoder, memory, memory_mask):
        self.model, self.memory, self.memory_mask = model, memory, memory_mask
        self.config, self.compute_dtype = model.config, model.compute_dtype
        self.quantized = model.quantized

    def init_cache(self, batch_size, max_length, dtype="float32"):
        """Zero self-attention caches and the memory's cross-attention keys and values, for
        `batch_size` rows: each source row repeated for its beams."""
        c = self.config
        repeats = batch_size // ops.shape(self.memory)[0]
        memory = ops.repeat(self.memory, repeats, axis=0)
        shape = (batch_size * c.kv_heads, max_length, c.attention_head_size)
        layers = tuple(
            {"self": (ops.zeros(shape, dtype), ops.zeros(shape, dtype)),
             "cross": tuple(ops.cast(t, dtype) for t in block.cross.memory_cache(memory))}
            for block in self.model.decoder_blocks)
        return {"layers": layers,
                "memory_mask": ops.repeat(self.memory_mask, repeats, axis=0)}

    def call_with_cache(self, token_ids, padding_mask, cache, cache_index, in_place=False):
        """Runs `token_ids` (batch, T) at positions `cache_index ...` (see
        `Decoder.call_with_cache`); returns `(logits, hidden_states, cache)`."""
        model = self.model
        length = ops.shape(token_ids)[1]
        positions = ops.arange(length)[None, :] + cache_index
        x = model.decoder_embedding(token_ids, positions=positions)
        bias = None
        if model.decoder_relative_bias is not None:
            bias = model.decoder_relative_bias.bias(cache_index, length,
                                                    ops.shape(padding_mask)[1])
        layers = []
        for block, layer_cache in zip(model.decoder_blocks, cache["layers"]):
            x, layer_cache = block(x, padding_mask, positions=positions, cache=layer_cache,
                                   cache_index=cache_index, in_place_cache=in_place,
                                   attention_bias=bias, memory_mask=cache["memory_mask"])
            layers.append(layer_cache)
        x = model.finish(x)
        return self.step_logits(x), x, {**cache, "layers": tuple(layers)}

    def step_logits(self, x):
        """`logits(x)` for a decode step's few rows, read as `Decoder.step_logits` reads them."""
        model = self.model
        return step_logits(model.output_table(), model._scaled(x),
                           lambda h: model.embedding.token_embedding(h, reverse=True))

    def output_table(self):
        return self.model.output_table()

    def reorder_cache(self, cache, rows):
        """The cache of the beams `rows` (indices into the batch · beams rows)."""
        cache_rows = sequence_rows(rows, self.config.kv_heads)
        layers = tuple(
            {**layer, "self": tuple(ops.take(t, cache_rows, axis=0) for t in layer["self"])}
            for layer in cache["layers"])
        return {**cache, "layers": layers}


def build_encoder_decoder(preset_or_config="t5_small", **overrides) -> EncoderDecoder:
    """Builds an encoder-decoder from a preset name, dict, JSON path or `ModelConfig`, with field
    overrides.

    Example: `build_encoder_decoder("bart_base", dropout=0.0)`.
    """
    dtype = overrides.pop("dtype", None)
    return EncoderDecoder(
        checked_config(preset_or_config, overrides, "encoder_decoder", "build_encoder_decoder"),
        dtype=dtype,
    )
