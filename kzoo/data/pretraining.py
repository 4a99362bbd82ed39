"""Batches for the pretraining tasks: MLM+NSP for encoders, packed windows for causal LMs."""

import tensorflow as tf

from kzoo.data.masking import MaskingConfig, mask_tokens

AUTOTUNE = tf.data.AUTOTUNE


def _as_dataset(examples):
    return (
        examples
        if isinstance(examples, tf.data.Dataset)
        else tf.data.Dataset.from_tensor_slices(examples)
    )


def mlm_nsp_batches(
    examples,
    masking: MaskingConfig,
    batch_size,
    is_continuation=None,
    seed=0,
    epochs=None,
    static_masking=False,
    shuffle_buffer=10_000,
):
    """`(inputs, labels, sample_weights)` batches for `MaskedLMPretrainer.fit`.

    `examples` holds packed pairs (see `make_nsp_examples`, or `read_records`).
    Masks are drawn inside tf.data with stateless seeds derived from
    (seed, epoch, example index): fresh every epoch unless `static_masking`, and
    identical when a run is repeated or resumed.
    """
    indexed = _as_dataset(examples).enumerate()
    if shuffle_buffer:  # a fixed seed still reshuffles every epoch, the same way in every run
        indexed = indexed.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def one_epoch(epoch):
        mask_epoch = tf.zeros_like(epoch) if static_masking else epoch
        return indexed.map(
            lambda index, example: _mlm_example(
                example, masking, is_continuation, tf.stack([seed * 100_003 + mask_epoch, index])
            ),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )

    epochs_ds = tf.data.Dataset.range(epochs) if epochs else tf.data.Dataset.range(2**62)
    return epochs_ds.flat_map(one_epoch).batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def _mlm_example(example, masking, is_continuation, seed):
    masked = mask_tokens(example["token_ids"], masking, is_continuation, seed=seed)
    inputs = {
        "token_ids": masked["token_ids"],
        "segment_ids": example["segment_ids"],
        "padding_mask": example["padding_mask"],
        "mask_positions": masked["mask_positions"],
    }
    labels = {"mlm": masked["mask_ids"], "nsp": example["nsp_label"]}
    weights = {"mlm": masked["mask_weights"], "nsp": tf.ones([], tf.float32)}
    return inputs, labels, weights


def causal_lm_windows(texts, tokenizer, sequence_length, end_token_id, tokenize_batch=256):
    """Packs documents into `{"token_ids", "labels"}` windows of `sequence_length`.

    Documents are tokenized, each followed by `end_token_id`, and concatenated.
    Window k holds tokens [kL, (k+1)L) and its labels are tokens [kL+1, (k+1)L+1):
    every token is an input once and a label once, with no padding. Only the
    tokens of the final window (at most L) are not used as inputs.
    """

    def with_end_token(batch):
        ids = tokenizer(batch)
        ids = ids if isinstance(ids, tf.RaggedTensor) else tf.RaggedTensor.from_tensor(ids)
        end = tf.fill([ids.nrows(), 1], tf.cast(end_token_id, ids.dtype))
        return tf.concat([ids, end], axis=1).flat_values

    tokens = _as_dataset(texts).batch(tokenize_batch).map(with_end_token).unbatch()
    # The last window may be partial: it is never an input, but lends its first token
    # as the final label of the window before it.
    windows = tokens.batch(sequence_length)

    def pair_with_next(previous, current):
        return current, {
            "token_ids": previous,
            "labels": tf.concat([previous[1:], current[:1]], 0),
        }

    def full(window):
        return tf.shape(window["token_ids"])[0] == sequence_length

    def fixed_shape(window):
        return {k: tf.ensure_shape(v, [sequence_length]) for k, v in window.items()}

    initial = tf.zeros([0], tokens.element_spec.dtype)
    return windows.scan(initial, pair_with_next).filter(full).map(fixed_shape)


def causal_lm_batches(windows, batch_size, seed=0, shuffle_buffer=10_000):
    """`(inputs, labels)` batches for `CausalLM.fit` from `causal_lm_windows` output."""
    data = _as_dataset(windows)
    if shuffle_buffer:
        data = data.shuffle(shuffle_buffer, seed=seed)
    return (
        data.map(
            lambda w: (
                {"token_ids": w["token_ids"], "padding_mask": tf.ones_like(w["token_ids"])},
                w["labels"],
            ),
            num_parallel_calls=AUTOTUNE,
        )
        .batch(batch_size, drop_remainder=True)
        .prefetch(AUTOTUNE)
    )


def with_known_length(batches: tf.data.Dataset) -> tf.data.Dataset:
    """A finite dataset that tells Keras how many batches it holds (counted in one pass; cache
    it first). Without a known length, `evaluate` runs one step past the end, and Keras 3.15's
    per-output loss trackers count that empty step: `val_mlm_loss` and `val_nsp_loss` came out
    short by a factor (n - 1) / n and no longer added up to `val_loss`."""
    count = int(batches.reduce(0, lambda n, _: n + 1))
    return batches.apply(tf.data.experimental.assert_cardinality(count))
