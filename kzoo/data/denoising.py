"""Encoder-decoder pretraining from raw text: T5's span corruption and BART's text infilling.

Both run in tf.data on windows of a tokenized corpus, each window noised by a stateless draw
from `(seed, window index)`: the same seed gives the same examples in any run, so a resumed run
sees what an uninterrupted one would have.
"""

from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class SpanCorruption:
    """T5's objective: `noise_density` of each window's tokens, in spans of mean length
    `mean_span_length`, leave the input; each span becomes one sentinel there (ids
    `first_sentinel_id`, one less for each next span: T5's `<extra_id_0>`, `<extra_id_1>`, ...),
    and the target lists each sentinel followed by the span it replaced."""

    first_sentinel_id: int
    noise_density: float = 0.15
    mean_span_length: float = 3.0


@dataclass(frozen=True)
class TextInfilling:
    """BART's objective: spans with Poisson(`poisson_lambda`) lengths covering `mask_ratio` of
    each window's tokens are each replaced by one `mask_id` (a length-0 span inserts one); the
    target is the window itself."""

    mask_id: int
    mask_ratio: float = 0.3
    poisson_lambda: float = 3.0


def _segment_lengths(items, segments, seed):
    """`segments` nonempty lengths summing to `items`, cut at random."""
    cuts = tf.random.experimental.stateless_shuffle(tf.range(items - 1) < segments - 1, seed)
    segment = tf.cumsum(tf.cast(tf.pad(cuts, [[1, 0]]), tf.int32))
    return tf.math.unsorted_segment_sum(tf.ones_like(segment), segment, segments)


def noise_mask(length, corruption: SpanCorruption, seed):
    """T5's noise mask of `length` (>= 2) tokens: alternating kept and noise spans, kept first."""
    noise = tf.clip_by_value(
        tf.cast(tf.round(tf.cast(length, tf.float32) * corruption.noise_density), tf.int32),
        1, length - 1)
    spans = tf.maximum(tf.cast(tf.round(tf.cast(noise, tf.float32)
                                        / corruption.mean_span_length), tf.int32), 1)
    spans = tf.minimum(spans, length - noise)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    interleaved = tf.reshape(tf.stack([_segment_lengths(length - noise, spans, seeds[0]),
                                       _segment_lengths(noise, spans, seeds[1])], axis=1), [-1])
    starts = tf.cumsum(interleaved)[:-1]
    span_index = tf.cumsum(tf.math.unsorted_segment_sum(tf.ones_like(starts), starts, length))
    return span_index % 2 == 1


def _with_sentinels(tokens, replaced, first_sentinel_id):
    """`tokens` with each run of `replaced` positions turned into one sentinel, numbered in
    order."""
    run_start = tf.logical_and(replaced, tf.logical_not(tf.pad(replaced[:-1], [[1, 0]])))
    sentinels = first_sentinel_id - (tf.cumsum(tf.cast(run_start, tf.int32)) - 1)
    kept = tf.logical_or(tf.logical_not(replaced), run_start)
    return tf.boolean_mask(tf.where(run_start, sentinels, tokens), kept)


def corrupt_spans(tokens, corruption: SpanCorruption, seed) -> dict:
    """{"inputs", "targets"} of one window of token ids (T5's `span_corruption`)."""
    length = tf.shape(tokens)[0]
    noise = tf.cond(length >= 2, lambda: noise_mask(length, corruption, seed),
                    lambda: tf.zeros([length], tf.bool))
    first = corruption.first_sentinel_id
    return {"inputs": _with_sentinels(tokens, noise, first),
            "targets": _with_sentinels(tokens, tf.logical_not(noise), first)}


def infill(tokens, infilling: TextInfilling, seed) -> dict:
    """{"inputs", "targets"} of one window of token ids (BART's text infilling)."""
    length = tf.shape(tokens)[0]
    to_mask = tf.cast(tf.round(tf.cast(length, tf.float32) * infilling.mask_ratio), tf.int32)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    drawn = tf.random.stateless_poisson([tf.maximum(to_mask, 1)], seeds[0],
                                        infilling.poisson_lambda, tf.int32)
    reached = tf.cumsum(drawn)
    count = tf.minimum(tf.reduce_sum(tf.cast(reached < to_mask, tf.int32)) + 1, length)
    count = tf.where(to_mask > 0, count, 0)
    # The last span is cut so that exactly `to_mask` tokens are covered before any overlap.
    lengths = tf.concat([drawn[: count - 1], [to_mask - tf.reduce_sum(drawn[: count - 1])]],
                        0)[:count]
    starts = tf.argsort(tf.random.stateless_uniform([length], seeds[1]))[:count]
    covered = tf.ragged.range(starts, tf.minimum(starts + lengths, length)).flat_values
    masked = tf.math.unsorted_segment_sum(tf.ones_like(covered), covered, length) > 0
    inserts = tf.math.unsorted_segment_sum(tf.cast(lengths == 0, tf.int32), starts, length) > 0
    after_masked = tf.pad(masked[:-1], [[1, 0]])
    # An insertion next to a masked span would merge with its mask: that span is masked already.
    inserts = tf.logical_and(inserts, tf.logical_not(tf.logical_or(masked, after_masked)))
    run_start = tf.logical_and(masked, tf.logical_not(after_masked))
    kept = tf.logical_or(tf.logical_not(masked), run_start)
    pieces = tf.stack([tf.fill([length], infilling.mask_id),
                       tf.where(run_start, infilling.mask_id, tokens)], axis=1)
    flags = tf.stack([inserts, kept], axis=1)
    return {"inputs": tf.boolean_mask(tf.reshape(pieces, [-1]), tf.reshape(flags, [-1])),
            "targets": tokens}


# How each `data.task` noises a window.
OBJECTIVES = {SpanCorruption: corrupt_spans, TextInfilling: infill}


def denoising_examples(windows: tf.data.Dataset, objective, start_id, end_id,
                       seed=0) -> tf.data.Dataset:
    """`(inputs, labels, sample_weight)` examples for `Seq2SeqLM.fit` from windows of token ids
    (1-D int32), noised by `objective` (`SpanCorruption` or `TextInfilling`); inputs and labels
    end with `end_id`, and the decoder reads the labels behind `start_id`."""
    noised = OBJECTIVES[type(objective)]
    end = tf.constant([end_id], tf.int32)

    def example(index, tokens):
        pair = noised(tf.cast(tokens, tf.int32), objective,
                      tf.stack([tf.constant(seed, tf.int64), index]))
        source = tf.concat([pair["inputs"], end], 0)
        labels = tf.concat([pair["targets"], end], 0)
        inputs = {"encoder_token_ids": source, "encoder_padding_mask": tf.ones_like(source),
                  "decoder_token_ids": tf.concat([[start_id], labels[:-1]], 0),
                  "decoder_padding_mask": tf.ones_like(labels)}
        return inputs, labels, tf.ones_like(labels, tf.float32)

    return windows.enumerate().map(example, num_parallel_calls=tf.data.AUTOTUNE)
