"""The decode loop: greedy, sampling (temperature, top-k, top-p) and beam search over a KV cache.

One `keras.ops.while_loop` per call, over a cache preallocated for prompt + new tokens.
kzoo writes its own loop rather than using keras_hub's samplers because those lack
repetition penalties, stop sequences, minimum lengths and Hugging Face's beam-search
length penalty, and re-run the whole prompt on their first step.
"""

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from keras import ops

from kzoo.generation.processors import (
    NEG_INF,
    first_max,
    no_repeat_ngram,
    repetition_penalty,
    seen_tokens,
    top_k_filter,
    top_p_filter,
)
from kzoo.generation.screen import screen_of, screened_argmax
from kzoo.layers.backend import stateless_categorical

METHODS = ("greedy", "sample", "beam")


def _finite(v):
    return (v == v) & (abs(v) != float("inf"))


# The settings a SavedModel request carries too. Written with operators only, so one predicate
# checks a Python `GenerationConfig` and, in the graph, a request's tensors
# (`kzoo.export.request_checks`).
REQUEST_RULES = {
    "max_new_tokens": (lambda v: v >= 1, ">= 1"),
    "temperature": (lambda v: _finite(v) & (v > 0), "finite and > 0"),
    "top_k": (lambda v: v >= 0, ">= 0 (0 = off)"),
    "top_p": (lambda v: _finite(v) & (v > 0) & (v <= 1), "in (0, 1]"),
}


@dataclass(frozen=True)
class GenerationConfig:
    """What to generate and how. `end_token_id` and `stop_sequences` (lists of ids) end a row."""

    max_new_tokens: int = 32
    method: str = "greedy"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    min_new_tokens: int = 0
    num_beams: int = 4
    num_return_sequences: int = 1
    length_penalty: float = 1.0
    early_stopping: bool = True
    end_token_id: int | None = None
    pad_token_id: int = 0
    stop_sequences: tuple = field(default_factory=tuple)
    seed: int | None = None

    def __post_init__(self):
        rules = {
            **REQUEST_RULES,
            "method": (lambda v: v in METHODS, f"one of {METHODS}"),
            "repetition_penalty": (lambda v: v > 0, "> 0 (1 = off)"),
            "no_repeat_ngram_size": (lambda v: v >= 0, ">= 0 (0 = off)"),
            "num_beams": (lambda v: v >= 1, ">= 1"),
            "num_return_sequences": (
                lambda v: 1 <= v <= (self.num_beams if self.method == "beam" else 1),
                "in [1, num_beams] with method='beam', else 1",
            ),
            "min_new_tokens": (lambda v: 0 <= v <= self.max_new_tokens, "in [0, max_new_tokens]"),
        }
        for name, (holds, allowed) in rules.items():
            if not holds(getattr(self, name)):
                raise ValueError(
                    f"GenerationConfig.{name}={getattr(self, name)!r} is invalid: "
                    f"expected {allowed}."
                )


def next_token_logits(logits, seen, step, config: GenerationConfig, tokens=None, length=None):
    """Applies penalties, the minimum length and (when sampling) temperature / top-k / top-p.
    `tokens[:, :length]` is the sequence so far (for `no_repeat_ngram_size`)."""
    logits = ops.cast(logits, "float32")
    if config.repetition_penalty != 1.0:
        logits = repetition_penalty(logits, seen, config.repetition_penalty)
    if getattr(config, "no_repeat_ngram_size", 0):
        logits = no_repeat_ngram(logits, tokens, length, config.no_repeat_ngram_size)
    if config.end_token_id is not None and config.min_new_tokens:
        is_end = ops.arange(logits.shape[-1]) == config.end_token_id
        logits = ops.where(
            ops.logical_and(is_end[None], step < config.min_new_tokens), NEG_INF, logits
        )
    if config.method != "greedy":
        logits = logits / config.temperature
        logits = _maybe(config.top_k, 0, lambda: top_k_filter(logits, config.top_k), logits)
        logits = _maybe(config.top_p, 1.0, lambda: top_p_filter(logits, config.top_p), logits)
    return logits


def _maybe(setting, off, apply, logits):
    """`apply()` unless `setting` is `off`; decided in the graph when the setting is a request
    tensor, so a SavedModel request that turns a filter off skips its full-vocabulary sort."""
    if isinstance(setting, (int, float)):
        return logits if setting == off else apply()
    return ops.cond(ops.not_equal(setting, off), apply, lambda: logits)


def _prefill(decoder, token_ids, padding_mask, config):
    batch, prompt_length = ops.shape(token_ids)
    total = prompt_length + config.max_new_tokens
    mask = ops.concatenate(
        [ops.cast(padding_mask, "int32"), ops.ones((batch, config.max_new_tokens), "int32")],
        axis=1,
    )
    tokens = ops.concatenate(
        [
            ops.cast(token_ids, "int32"),
            ops.full((batch, config.max_new_tokens), config.pad_token_id, "int32"),
        ],
        axis=1,
    )
    cache = decoder.init_cache(batch, total, dtype=decoder.compute_dtype)
    # Out of place: the zeros may be one buffer shared by every layer. The copy it returns belongs
    # to the loop, whose steps then write in place.
    # Only the last position's logits are read: projecting every prompt position onto the
    # vocabulary is a (rows × 50257) product that XLA runs slowly for a few rows.
    _, hidden, cache = decoder.call_with_cache(tokens[:, :prompt_length], mask, cache, 0)
    last = hidden[:, -1:, :]
    return tokens, mask, cache, decoder.step_logits(last)[:, 0, :], last[:, 0, :]


def _stopped(tokens, position, generated, token, config):
    """End token, or a stop sequence completed by the generated tokens (never matched into the
    prompt)."""
    done = ops.zeros_like(token, "bool")
    if config.end_token_id is not None:
        done = token == config.end_token_id
    for sequence in config.stop_sequences:
        length = len(sequence)
        start = ops.maximum(position + 1 - length, 0)
        window = ops.slice(tokens, [0, start], [ops.shape(tokens)[0], length])
        match = ops.all(window == ops.convert_to_tensor(sequence, "int32")[None], axis=1)
        done = ops.logical_or(done, ops.logical_and(match, generated >= length))
    return done


class DecodeState(NamedTuple):
    """What greedy and sampled decoding carry from one step to the next."""

    step: Any  # new tokens emitted so far (int32 scalar)
    tokens: Any  # (batch, prompt + max_new_tokens) ids so far, padded
    cache: Any  # the decoder's KV cache
    last: Any  # the last position's logits, or (hidden state, *the table's screen) when screened
    seen: Any  # (batch, vocab) tokens seen, for the repetition penalty; (1, 1) when it is off
    done: Any  # (batch,) rows that have ended
    mask: Any  # (batch, prompt + max_new_tokens) padding mask
    prompt_length: Any  # int32 scalar
    seed: Any  # int32 scalar: step t samples from the stateless stream (seed, t)


def initial_state(
    decoder, token_ids, padding_mask, config: GenerationConfig, screened=False, seed=0
) -> DecodeState:
    """Runs the prompt through the cache once; returns the `DecodeState` that `sampling_step`
    advances. `seed` (an int or int32 tensor) decides every sampled token of the request."""
    tokens, mask, cache, logits, hidden = _prefill(decoder, token_ids, padding_mask, config)
    prompt_length = ops.shape(token_ids)[1]
    seen = ops.zeros((1, 1), "bool")
    if config.repetition_penalty != 1.0:
        seen = seen_tokens(
            tokens,
            ops.concatenate([padding_mask, ops.zeros_like(tokens[:, prompt_length:])], 1),
            decoder.config.vocab_size,
        )
    return DecodeState(
        step=ops.convert_to_tensor(0, "int32"),
        tokens=tokens,
        cache=cache,
        last=(hidden, *screen_of(decoder.head_rows())) if screened else logits,
        seen=seen,
        done=ops.zeros((ops.shape(tokens)[0],), "bool"),
        mask=mask,
        prompt_length=ops.convert_to_tensor(prompt_length, "int32"),
        seed=ops.cast(seed, "int32"),
    )


def sampling_step(decoder, config: GenerationConfig, screened=False):
    """`(step, running)` for greedy or sampled decoding: `step(state)` emits one token per row.
    Everything that depends on the prompt lives in the state, so one compiled step serves every
    prompt; the compiled loop and the streaming iterator both run it. `screened` (greedy) picks
    tokens with `kzoo.generation.screen.screened_argmax`: the same tokens from
    a quarter of the reads of the vocabulary table."""
    vocabulary = decoder.config.vocab_size
    if screened and config.method != "greedy":
        raise ValueError(
            f"screened decoding needs method='greedy' (got {config.method!r}); pass "
            "screened=False otherwise."
        )

    def step(state: DecodeState) -> DecodeState:
        def process(logits):
            return next_token_logits(
                logits,
                state.seen,
                state.step,
                config,
                state.tokens,
                state.prompt_length + state.step,
            )

        if screened:
            token = screened_argmax(state.last[0], decoder.head_rows(), state.last[1:], process)
        else:
            scores = process(state.last)
            token = first_max(scores)
        if config.method != "greedy":
            sampled = stateless_categorical(scores, state.seed, state.step)
            # "greedy_or_sample" decides per request (SavedModels take the method as an input).
            token = (
                sampled if config.method == "sample" else ops.where(config.greedy, token, sampled)
            )
        token = ops.where(state.done, config.pad_token_id, token)
        position = state.prompt_length + state.step
        tokens = _write_column(state.tokens, position, token)
        done = ops.logical_or(
            state.done, _stopped(tokens, position, state.step + 1, token, config)
        )
        seen = state.seen
        if config.repetition_penalty != 1.0:
            seen = ops.logical_or(seen, ops.one_hot(token, vocabulary) > 0)
        logits, hidden, cache = decoder.call_with_cache(
            token[:, None], state.mask, state.cache, position, in_place=True
        )
        # Screened, the step's full logits go unread, and graph pruning (XLA's too) drops their
        # product.
        last = (hidden[:, 0, :], *state.last[1:]) if screened else logits[:, 0, :]
        return state._replace(
            step=state.step + 1, tokens=tokens, cache=cache, last=last, seen=seen, done=done
        )

    def running(state: DecodeState):
        return ops.logical_and(
            state.step < config.max_new_tokens, ops.logical_not(ops.all(state.done))
        )

    return step, running


def sample_or_greedy(
    decoder, token_ids, padding_mask, config: GenerationConfig, seed=0, screened=False
):
    """Greedy or sampled decoding; returns (batch, prompt + max_new_tokens) ids, finished rows
    padded.
    `seed` (int or int32 tensor) decides every sampled token; `screened`: see `sampling_step`."""
    step, running = sampling_step(decoder, config, screened)
    state = initial_state(decoder, token_ids, padding_mask, config, screened, seed)
    # keras.ops.while_loop passes the state's fields as arguments; they are named again here.
    final = ops.while_loop(
        lambda *s: running(DecodeState(*s)), lambda *s: step(DecodeState(*s)), state
    )
    return DecodeState(*final).tokens


class Beams(NamedTuple):
    """The `num_return_sequences` best hypotheses of each row, best first: `tokens` (batch, k,
    prompt + new) and `scores` (batch, k), sum(log p) / generated_length ** length_penalty."""

    tokens: Any
    scores: Any


def beam_search(decoder, token_ids, padding_mask, config: GenerationConfig):
    """The best beam-search hypothesis per row (`beam_hypotheses` gives the k best)."""
    return beam_hypotheses(decoder, token_ids, padding_mask, config).tokens[:, 0]


def beam_hypotheses(decoder, token_ids, padding_mask, config: GenerationConfig) -> Beams:
    """Beam search with Hugging Face's scoring: a finished hypothesis scores
    sum(log p) / generated_length ** length_penalty; with `early_stopping` a row is done once it
    has `num_beams` finished hypotheses, and its set is final. A row not done at the end adds its
    live beams. Returns the `num_return_sequences` best."""
    beams = config.num_beams
    batch = ops.shape(token_ids)[0]
    token_ids, padding_mask = (ops.repeat(t, beams, axis=0) for t in (token_ids, padding_mask))
    tokens, mask, cache, logits, _ = _prefill(decoder, token_ids, padding_mask, config)
    prompt_length, total = ops.shape(token_ids)[1], ops.shape(tokens)[1]
    vocabulary = decoder.config.vocab_size
    # Only the first beam is live at the start, so the first step does not pick k copies.
    scores = ops.tile(ops.convert_to_tensor([[0.0] + [-1e9] * (beams - 1)]), (batch, 1))
    finished_scores = ops.full((batch, beams), -1e9)
    finished_tokens = ops.zeros((batch, beams, total), "int32")
    seen = ops.zeros((1, 1), "bool")
    if config.repetition_penalty != 1.0:
        seen = seen_tokens(
            tokens,
            ops.concatenate([padding_mask, ops.zeros_like(tokens[:, prompt_length:])], 1),
            vocabulary,
        )

    def body(step, tokens, cache, logits, scores, finished_scores, finished_tokens, seen):
        position = prompt_length + step
        log_probs = ops.log_softmax(
            next_token_logits(logits, seen, step, config, tokens, position), axis=-1
        )
        candidates = ops.reshape(log_probs, (batch, beams, vocabulary)) + scores[:, :, None]
        top_scores, top_index = ops.top_k(
            ops.reshape(candidates, (batch, beams * vocabulary)), 2 * beams
        )
        source_beam, token = top_index // vocabulary, ops.cast(top_index % vocabulary, "int32")
        rows = ops.arange(batch)[:, None] * beams + source_beam
        candidate_tokens = _write_column(
            ops.take(tokens, ops.reshape(rows, (-1,)), axis=0), position, ops.reshape(token, (-1,))
        )
        candidate_tokens = ops.reshape(candidate_tokens, (batch, 2 * beams, total))
        is_end = (
            (token == config.end_token_id)
            if config.end_token_id is not None
            else ops.zeros_like(token, "bool")
        )
        rank = ops.arange(2 * beams)[None, :]
        # Finished: end tokens among the top `beams` candidates, scored with the length penalty;
        # a done row takes no more.
        open_rows = ops.logical_not(_done(finished_scores, config))[:, None]
        new_finished = ops.where(
            ops.logical_and(ops.logical_and(is_end, rank < beams), open_rows),
            top_scores / ops.cast(step + 1, "float32") ** config.length_penalty,
            -1e9,
        )
        finished_scores, finished_tokens = _best(
            ops.concatenate([finished_scores, new_finished], 1),
            ops.concatenate([finished_tokens, candidate_tokens], 1),
            beams,
        )
        # Running: the best `beams` candidates that did not end.
        live_scores, live_order = ops.top_k(ops.where(is_end, -2e9, top_scores), beams)
        keep_rows = ops.reshape(ops.take_along_axis(rows, live_order, axis=1), (-1,))
        tokens = ops.reshape(
            ops.take_along_axis(candidate_tokens, live_order[:, :, None], axis=1), (-1, total)
        )
        cache = decoder.reorder_cache(cache, keep_rows)
        next_tokens = ops.reshape(ops.take_along_axis(token, live_order, axis=1), (-1,))
        if config.repetition_penalty != 1.0:
            seen = ops.logical_or(
                ops.take(seen, keep_rows, axis=0), ops.one_hot(next_tokens, vocabulary) > 0
            )
        logits, _, cache = decoder.call_with_cache(
            next_tokens[:, None], mask, cache, position, in_place=True
        )
        return (
            step + 1,
            tokens,
            cache,
            logits[:, 0, :],
            live_scores,
            finished_scores,
            finished_tokens,
            seen,
        )

    def cond(step, tokens, cache, logits, scores, finished_scores, *rest):
        return ops.logical_and(
            step < config.max_new_tokens, ops.logical_not(ops.all(_done(finished_scores, config)))
        )

    state = ops.while_loop(
        cond,
        body,
        (
            ops.convert_to_tensor(0, "int32"),
            tokens,
            cache,
            logits,
            scores,
            finished_scores,
            finished_tokens,
            seen,
        ),
    )
    step, tokens, _, _, scores, finished_scores, finished_tokens, _ = state
    live_scores = scores / ops.cast(step, "float32") ** config.length_penalty
    live_scores = ops.where(_done(finished_scores, config)[:, None], -1e9, live_scores)
    best_scores, best_tokens = _best(
        ops.concatenate([finished_scores, live_scores], 1),
        ops.concatenate([finished_tokens, ops.reshape(tokens, (batch, beams, total))], 1),
        config.num_return_sequences,
    )
    return Beams(best_tokens, best_scores)


def _done(finished_scores, config):
    """Rows whose hypotheses are final: `num_beams` finished ones, under early stopping."""
    if not (config.early_stopping and config.end_token_id is not None):
        return ops.zeros_like(finished_scores[:, 0], "bool")
    return finished_scores[:, -1] > -1e8


def _write_column(tokens, position, column):
    # An elementwise select: ops.slice_update on TensorFlow launches an XLA kernel (0.2-0.3 ms a
    # step).
    return ops.where(
        ops.arange(ops.shape(tokens)[1])[None, :] == position, column[:, None], tokens
    )


def _best(scores, tokens, k):
    top_scores, order = ops.top_k(scores, k)
    return top_scores, ops.take_along_axis(tokens, order[:, :, None], axis=1)
