"""BERT masked-LM corruption as a TF function (runs inside tf.data, so masks are fresh each epoch).

kzoo writes its own instead of using keras_hub's MaskedLMMaskGenerator because that
one cannot mask whole words (all pieces of a word together).
"""

from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class MaskingConfig:
    """How MLM targets are chosen. Ids come from the tokenizer's vocabulary."""

    vocabulary_size: int
    mask_token_id: int
    special_token_ids: tuple
    selection_rate: float = 0.15
    mask_token_rate: float = 0.8
    random_token_rate: float = 0.1
    max_predictions: int = 20
    whole_word: bool = False


def continuation_flags(vocabulary, suffix_indicator="##"):
    """A bool per vocabulary id: True where the piece continues the previous word."""
    return tf.constant([token.startswith(suffix_indicator) for token in vocabulary])


def mask_tokens(token_ids, config: MaskingConfig, is_continuation=None, seed=None):
    """Corrupts one packed sequence for MLM.

    Selects about `selection_rate` of the non-special tokens (at least one, at
    most `max_predictions`); with `whole_word`, words are selected as units
    using `is_continuation` (see `continuation_flags`). Selected positions become
    `[MASK]` (80%), a random token (10%) or stay (10%).

    Returns a dict: `token_ids` (corrupted), `mask_positions`, `mask_ids` (the
    original tokens) and `mask_weights`, the last three padded to `max_predictions`.
    """
    seeds = tf.random.experimental.stateless_split(seed, 3) if seed is not None else [None] * 3
    token_ids = tf.convert_to_tensor(token_ids)
    candidate = tf.reduce_all(token_ids[:, None] != tf.constant(config.special_token_ids, token_ids.dtype), -1)
    starts = candidate
    if config.whole_word:
        starts = candidate & ~tf.gather(is_continuation, token_ids)
    word_index = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    num_words = tf.reduce_sum(tf.cast(starts, tf.int32))
    num_candidates = tf.reduce_sum(tf.cast(candidate, tf.int32))
    budget = tf.minimum(config.max_predictions, tf.maximum(1, tf.cast(tf.round(
        tf.cast(num_candidates, tf.float32) * config.selection_rate), tf.int32)))
    # Words in random order; keep them while their pieces fit in the budget. Unlike
    # BERT's loop, words after the first one that overflows are not tried, which
    # keeps this vectorised; words longer than the whole budget are skipped.
    word_lengths = tf.math.unsorted_segment_sum(
        tf.cast(candidate, tf.int32), tf.where(candidate, word_index, num_words), num_words + 1)[:-1]
    order = tf.argsort(_uniform([num_words], seeds[0]))
    ordered_lengths = tf.gather(word_lengths, order)
    eligible = ordered_lengths <= budget
    fits = eligible & (tf.cumsum(tf.where(eligible, ordered_lengths, 0)) <= budget)
    chosen_words = tf.scatter_nd(order[:, None], fits, [num_words])
    selected = candidate & tf.gather(chosen_words, tf.maximum(word_index, 0))
    return _corrupt(token_ids, selected, config, seeds[1:])


def _corrupt(token_ids, selected, config, seeds):
    dice = _uniform(tf.shape(token_ids), seeds[0])
    use_mask = selected & (dice < config.mask_token_rate)
    use_random = selected & (dice >= config.mask_token_rate) & (
        dice < config.mask_token_rate + config.random_token_rate)
    random_ids = tf.cast(_uniform(tf.shape(token_ids), seeds[1]) * config.vocabulary_size, token_ids.dtype)
    corrupted = tf.where(use_mask, tf.cast(config.mask_token_id, token_ids.dtype), token_ids)
    corrupted = tf.where(use_random, random_ids, corrupted)
    positions = tf.cast(tf.where(selected)[:, 0], tf.int32)[: config.max_predictions]
    pad = config.max_predictions - tf.shape(positions)[0]
    return {
        "token_ids": corrupted,
        "mask_positions": tf.pad(positions, [[0, pad]]),
        "mask_ids": tf.pad(tf.gather(token_ids, positions), [[0, pad]]),
        "mask_weights": tf.pad(tf.ones_like(positions, tf.float32), [[0, pad]]),
    }


def _uniform(shape, seed):
    if seed is None:
        return tf.random.uniform(shape)
    return tf.random.stateless_uniform(shape, seed)
