"""Generation for encoder-decoders: the encoder runs once per request, then the one decode loop
of `kzoo.generation.decode` runs the decoder against its self-attention cache and the encoder
output's cross-attention keys and values."""

import dataclasses

import numpy as np
import tensorflow as tf
from keras import ops

from kzoo.data.parallel import end_terminated
from kzoo.generation.decode import (
    GenerationConfig,
    beam_search,
    initial_state,
    sample_or_greedy,
    sampling_step,
)
from kzoo.generation.generator import IDS, RAGGED_IDS, SEED, seed_of, streamed_pieces


def generate_ids(model, source_ids, source_mask, config: GenerationConfig, start_id, seed=0):
    """Target ids (batch, 1 + max_new_tokens) for source ids (batch, S), starting from the
    decoder start token `start_id` (T5: its pad id 0, BART: its end id 2); finished rows are
    padded with `config.pad_token_id`. `model` is a kzoo `EncoderDecoder`.

    Example:
        >>> generate_ids(t5, ids, mask, GenerationConfig(max_new_tokens=20, end_token_id=1), 0)
    """
    decoder, start = _decoding(model, source_ids, source_mask, start_id)
    if config.method == "beam":
        return beam_search(decoder, start, ops.ones_like(start), config)
    return sample_or_greedy(decoder, start, ops.ones_like(start), config, seed=seed)


def _decoding(model, source_ids, source_mask, start_id):
    """The decoder bound to the sources' encoder output, and its one-token prompts."""
    decoder = model.decoding(model.encode(source_ids, source_mask), source_mask)
    return decoder, ops.full((ops.shape(source_ids)[0], 1), start_id, "int32")


class Seq2SeqGenerator:
    """Text to text with a `Seq2SeqLM`: sources are tokenized as in training (cut to
    `max_source_length`, ended by `end_token_id`), each `GenerationConfig` compiles one graph
    (batch and lengths dynamic), and outputs stop at the end token.

    Example:
        >>> translate = Seq2SeqGenerator(model, spm, end_token_id=3)
        >>> translate(["Ein Hund rennt."], method="beam", num_beams=4)
        ['A dog is running.']
    """

    def __init__(self, model, tokenizer, max_source_length=512, **defaults):
        self.model, self.tokenizer = model, tokenizer
        self.max_source_length, self.defaults = max_source_length, defaults
        self._compiled, self._streaming = {}, {}
        self._detokenize = tf.function(lambda ids: tokenizer.detokenize(ids),
                                       input_signature=[RAGGED_IDS])

    def config(self, **options) -> GenerationConfig:
        return GenerationConfig(**{**self.defaults, **options})

    def generate_ids(self, source_ids, source_mask, **options):
        """(batch, 1 + max_new_tokens) ids, the decoder start token first."""
        config = self.config(**options)
        # One row compiles with XLA, more run oneDNN's kernels, as `Generator` decides (XLA wins
        # one row and loses eight: `tools/bench.py seq2seq`).
        xla = len(source_ids) == 1 and config.method != "beam"
        key = dataclasses.replace(config, seed=None), xla
        if key not in self._compiled:
            setting, start = key[0], self.model.decoder_start_token_id

            def run(ids, mask, seed):
                return generate_ids(self.model.backbone, ids, mask, setting, start, seed)

            self._compiled[key] = tf.function(run, input_signature=[IDS, IDS, SEED],
                                              jit_compile=xla)
        return self._compiled[key](tf.cast(source_ids, tf.int32),
                                   tf.cast(source_mask, tf.int32), seed_of(config))

    def stream(self, source: str, **options):
        """Yields the target text piece by piece as tokens are produced (pieces that join into
        the whole translation); each setting compiles one encoder-and-first-step graph and one
        step graph for every source."""
        config = self._text_config(options)
        if config.method == "beam":
            raise ValueError(
                "streaming needs a token-by-token method: use method='greedy' or 'sample'."
            )
        setting = dataclasses.replace(config, seed=None)
        if setting not in self._streaming:
            backbone, first = self.model.backbone, self.model.decoder_start_token_id

            def begin(ids, mask, seed):
                decoder, start = _decoding(backbone, ids, mask, first)
                return initial_state(decoder, start, ops.ones_like(start), setting, seed=seed)

            begin = tf.function(begin, input_signature=[IDS, IDS, SEED])
            state_spec = tf.nest.map_structure(
                tf.TensorSpec.from_tensor, begin.get_concrete_function().structured_outputs
            )
            # A step reads the encoder output only through its cache, so one decoder view
            # without a request of its own serves every source.
            step, running = sampling_step(backbone.decoding(None, None), setting)
            step = tf.function(step, input_signature=[state_spec], jit_compile=True)
            self._streaming[setting] = begin, step, running
        begin, step, running = self._streaming[setting]
        ids = self._source_ids([source], config)
        state = begin(ids.to_tensor(config.pad_token_id), tf.ones_like(ids).to_tensor(0),
                      seed_of(config))
        yield from streamed_pieces(state, step, running, self._detokenize, config, whole=True)

    def _text_config(self, options) -> GenerationConfig:
        config = self.config(**options)
        if config.end_token_id is None:
            raise ValueError("Seq2SeqGenerator needs end_token_id (the id that ends sources and "
                             "outputs, e.g. 3 for a kzoo SentencePiece vocabulary).")
        return config

    def _source_ids(self, texts, config):
        return end_terminated(self.tokenizer, tf.constant(texts), self.max_source_length,
                              config.end_token_id)

    def __call__(self, texts, **options) -> list[str]:
        config = self._text_config(options)
        ids = self._source_ids(texts, config)
        output = self.generate_ids(ids.to_tensor(config.pad_token_id),
                                   tf.ones_like(ids).to_tensor(0), **options).numpy()
        rows = []
        for row in output[:, 1:]:
            ends = np.flatnonzero(row == config.end_token_id)
            rows.append([int(t) for t in row[: ends[0] if len(ends) else len(row)]])
        texts = self._detokenize(tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1))
        return [t.decode("utf-8", "replace") for t in texts.numpy()]
