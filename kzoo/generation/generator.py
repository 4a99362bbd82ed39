"""Text in, text out: left-padding, one compiled decode graph per setting, seeds and streaming."""

import codecs
import dataclasses
import secrets
from typing import NamedTuple

import tensorflow as tf

from kzoo.generation.decode import (
    GenerationConfig,
    beam_hypotheses,
    initial_state,
    sample_or_greedy,
    sampling_step,
)

IDS = tf.TensorSpec([None, None], tf.int32)
SEED = tf.TensorSpec([], tf.int32)
RAGGED_IDS = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1)


def left_pad(token_ids, pad_id=0):
    """Ragged prompts (or lists of ids) → (ids, mask), padded on the left so every prompt ends at
    the last column."""
    if isinstance(token_ids, list):  # keras_hub tokenizers return lists in eager mode
        token_ids = tf.ragged.constant(token_ids, dtype=tf.int32, ragged_rank=1)
    reversed_ids = token_ids[:, ::-1]
    ids = tf.reverse(reversed_ids.to_tensor(pad_id), axis=[1])
    mask = tf.reverse(tf.ones_like(reversed_ids, tf.int32).to_tensor(0), axis=[1])
    return tf.cast(ids, tf.int32), mask


class ScoredText(NamedTuple):
    text: str
    score: float


class Generator:
    """Generates with a kzoo decoder; each `GenerationConfig` compiles once (batch size and prompt
    length are dynamic, so new prompts never retrace).

    Example:
        >>> end = tokenizer.token_to_id("<|endoftext|>")
        >>> generator = Generator(decoder, tokenizer, end_token_id=end)
        >>> generator(["Once upon a time"], max_new_tokens=20, method="sample", top_p=0.9, seed=1)
        ['Once upon a time, ...']
    """

    def __init__(self, decoder, tokenizer=None, precision="float32", screen=True, **defaults):
        """`precision="bfloat16"` decodes with a bfloat16 copy of the weights: faster where
        products run natively in bfloat16 (AVX-512 BF16 / AMX CPUs, GPUs), far slower on AVX2 CPUs
        (tools/bench.py); logits can differ slightly from float32, so it is opt-in.
        `screen`: float32 greedy decoding of one row reads the vocabulary table through an int8
        screen (`kzoo.generation.screen`), with float32 greedy's tokens; `False` reads it in
        float32."""
        if precision not in ("float32", "bfloat16"):
            raise ValueError(
                f"precision={precision!r} is invalid: expected 'float32' or 'bfloat16'."
            )
        self.decoder = decoder if precision == "float32" else decoder.with_dtype(precision)
        self.precision, self.screen = precision, screen
        self.tokenizer, self.defaults = tokenizer, defaults
        self._compiled, self._streaming = {}, {}
        # The graph path gives the detokenized bytes; keras_hub's eager path decodes them with
        # errors="ignore", which drops a character cut in two. kzoo decodes with U+FFFD for
        # each invalid or cut sequence, as the SavedModel generator does (`clean_text`).
        self._detokenize = (
            tf.function(lambda ids: tokenizer.detokenize(ids), input_signature=[RAGGED_IDS])
            if tokenizer
            else None
        )

    def config(self, **options) -> GenerationConfig:
        return GenerationConfig(**{**self.defaults, **options})

    def generate_ids(self, token_ids, padding_mask, **options):
        """(batch × num_return_sequences, prompt + new) ids for left-padded int prompts; a row's
        beams follow each other, best first (as transformers returns them)."""
        config = self.config(**options)
        output = self._run(token_ids, padding_mask, config)
        if config.method != "beam":
            return output
        return tf.reshape(output.tokens, (-1, tf.shape(output.tokens)[-1]))

    def beams(self, prompts, **options) -> list[list["ScoredText"]]:
        """Beam search's `num_return_sequences` best continuations of each prompt, best first,
        each with its score (sum log p / generated_length ** length_penalty).

        Example:
            >>> generator.beams(["The game"], num_beams=4, num_return_sequences=2)
            [[ScoredText(text='The game was', score=-1.2), ScoredText(...)]]
        """
        config = self.config(**{"method": "beam", **options})
        ids, mask = left_pad(self.tokenizer(tf.constant(prompts)))
        output = self._run(ids, mask, config)
        k = config.num_return_sequences
        tokens = tf.reshape(output.tokens, (-1, tf.shape(output.tokens)[-1]))
        texts = self._decode(tokens, ids.shape[1], tf.repeat(mask, k, axis=0))
        scores = output.scores.numpy().reshape(-1).tolist()
        rows = [ScoredText(text, score) for text, score in zip(texts, scores)]
        return [rows[i : i + k] for i in range(0, len(rows), k)]

    def _run(self, token_ids, padding_mask, config):
        rows = token_ids.shape[0] * (config.num_beams if config.method == "beam" else 1)
        # The seed is an input of the compiled graph, so a new seed never retraces.
        key = dataclasses.replace(config, seed=None), self._plan(config, rows)
        if key not in self._compiled:
            self._compiled[key] = self._compile(*key)
        self._check_length(token_ids, config)
        return self._compiled[key](
            tf.cast(token_ids, tf.int32), tf.cast(padding_mask, tf.int32), seed_of(config)
        )

    def _compile(self, setting: GenerationConfig, plan: "DecodePlan"):
        """One decode graph for `setting`, taking (ids, mask, seed)."""

        def run(ids, mask, seed):
            if setting.method == "beam":
                return beam_hypotheses(self.decoder, ids, mask, setting)
            return sample_or_greedy(self.decoder, ids, mask, setting, seed, plan.screened)

        return tf.function(run, input_signature=[IDS, IDS, SEED], jit_compile=plan.xla)

    def _plan(self, config, rows) -> "DecodePlan":
        xla = self._use_xla(rows)
        return DecodePlan(xla=xla, screened=self._screened(config, xla, rows))

    def _screened(self, config, xla, rows=1):
        # The screen pays where one row's step is bound by reading float32 weights, under XLA,
        # which converts the int8 table inside its product; oneDNN would convert it to float32
        # first. With more rows the rescoring grows and the read does not: 8 rows of the
        # untied 6L/512 Llama-style head decode at 349 tokens/s screened, 898 not (1 row: 258
        # screened, 177 not).
        return (
            self.screen
            and xla
            and rows == 1
            and self.precision == "float32"
            and config.method == "greedy"
            and not self.decoder.quantized  # its table is already int8 or int4
        )

    def _use_xla(self, rows):
        # One row compiles with XLA; more rows run oneDNN's kernels when the LM head is tied. On a
        # 2-core AVX-512 CPU XLA decoded one bfloat16 row 1.8x faster than oneDNN, lost one
        # float32 row (87 vs 101 tokens/s) and lost from 4 rows on (8 bfloat16 rows: 302 vs 564).
        # On a 2-core AVX2 EPYC it wins one float32 row too (72 vs 48 tokens/s; 98 now, with the
        # screen and the unfused dense products), so one row always uses it. A tied head is read
        # transposed, which only oneDNN does well with several rows (`Decoder.step_logits`); an
        # untied one (hidden, vocab) is read as stored, and there XLA wins 8 float32 rows too
        # (6L/512 Llama-style, AVX-512: 814 vs 616 tokens/s; tied 6L/512 GPT: 164 vs 344).
        return rows == 1 or self.decoder.output_table() is None

    def __call__(self, prompts, **options) -> list[str]:
        """Prompt strings → prompt + continuation strings (num_return_sequences per prompt, one
        after another; `beams` adds their scores)."""
        ids, mask = left_pad(self.tokenizer(tf.constant(prompts)))
        output = self.generate_ids(ids, mask, **options)
        repeats = self.config(**options).num_return_sequences
        return self._decode(output, ids.shape[1], tf.repeat(mask, repeats, axis=0))

    def stream(self, prompt: str, **options):
        """Yields the new text piece by piece as tokens are produced (for CLIs and UIs)."""
        config = self.config(**options)
        if config.method == "beam":
            raise ValueError(
                "streaming needs a token-by-token method: use method='greedy' or 'sample'."
            )
        ids, mask = left_pad(self.tokenizer(tf.constant([prompt])))
        self._check_length(ids, config)
        setting = dataclasses.replace(config, seed=None)
        if setting not in self._streaming:
            # The step's input signature is the state traced with a dynamic batch and prompt
            # length, so each setting compiles once for every prompt.
            # No screen here: its table copy would cross every step's call (with a bfloat16 screen,
            # 21.9 vs 45.7 tokens/s).
            start = tf.function(
                lambda ids, mask, seed: initial_state(self.decoder, ids, mask, setting, seed=seed),
                input_signature=[IDS, IDS, SEED],
            )
            state_spec = tf.nest.map_structure(
                tf.TensorSpec.from_tensor, start.get_concrete_function().structured_outputs
            )
            step, running = sampling_step(self.decoder, setting)
            step = tf.function(
                step, input_signature=[state_spec], jit_compile=self._use_xla(rows=1)
            )
            self._streaming[setting] = start, step, running
        start, step, running = self._streaming[setting]
        yield from streamed_pieces(start(ids, mask, seed_of(config)), step, running,
                                   self._detokenize, config)

    def _check_length(self, token_ids, config):
        needed = token_ids.shape[1] + config.max_new_tokens
        limit = self.decoder.config.max_positions
        if needed > limit:
            raise ValueError(
                f"prompt of {token_ids.shape[1]} tokens + max_new_tokens={config.max_new_tokens} "
                f"exceeds the model's {limit} positions; shorten the prompt or ask for fewer "
                "tokens."
            )

    def _decode(self, output, prompt_length, mask):
        rows = [
            [int(t) for t in row[prompt_length - int(row_mask.sum()) :]]
            for row, row_mask in zip(output.numpy(), mask.numpy())
        ]
        texts = self._detokenize(tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1))
        return [t.decode("utf-8", "replace") for t in texts.numpy()]


def streamed_pieces(state, step, running, detokenize, config: GenerationConfig, whole=False):
    """The text of each token that `step` adds to a one-row `DecodeState`, as it comes; a
    character cut between tokens waits for its last byte. The end token shows no text.

    `whole=True` yields what each token adds to the detokenized text so far instead, which is
    the final text for tokenizers whose pieces change with their neighbours (SentencePiece drops
    a lone piece's leading space)."""
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tokens, shown = [], ""
    while bool(running(state)):
        state = step(state)
        token = int(state.tokens[0, int(state.prompt_length) + int(state.step) - 1])
        if bool(state.done[0]) and token in (config.pad_token_id, config.end_token_id):
            break
        tokens = [*tokens, token] if whole else [token]
        detokenized = detokenize(tf.ragged.constant([tokens]))[0].numpy()
        if whole:
            text.reset()
            now = text.decode(detokenized)  # the text so far, less a cut last character
            piece, shown = now[len(shown):], now
        else:
            piece = text.decode(detokenized)
        if piece:
            yield piece
    if rest := text.decode(b"", final=True):
        yield rest


class DecodePlan(NamedTuple):
    """How requests of one shape decode: compiled by XLA or run op by op on oneDNN, and with
    the int8 vocabulary screen or without."""

    xla: bool
    screened: bool


def seed_of(config: GenerationConfig):
    """The request's sampling seed as a tensor: `config.seed`, or a fresh one when it is None."""
    return tf.constant(secrets.randbits(31) if config.seed is None else config.seed, tf.int32)
