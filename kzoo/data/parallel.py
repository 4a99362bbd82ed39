"""Parallel text (translation, summarization) → seq2seq batches for `Seq2SeqLM.fit`.

Pairs come from two aligned files (line i of one translates line i of the other) or from one
TSV/CSV/JSONL table with a source and a target column. Misaligned files and empty sides are
refused with the file and line; over-long pairs are truncated to the model's lengths (the
end token kept), never dropped.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from kzoo.data.documents import read_text
from kzoo.data.pretraining import with_known_length
from kzoo.data.tables import read_table


@dataclass(frozen=True)
class Pairs:
    """Aligned source and target texts."""

    source: list
    target: list

    def __len__(self):
        return len(self.source)

    def take(self, indices) -> "Pairs":
        return Pairs([self.source[i] for i in indices], [self.target[i] for i in indices])

    def split_off(self, count, seed=0) -> tuple["Pairs", "Pairs"]:
        """(rest, `count` held-out pairs drawn at random): a validation split."""
        order = np.random.default_rng(seed).permutation(len(self))
        return self.take(sorted(order[count:])), self.take(sorted(order[:count]))


def read_parallel(source_path, target_path) -> Pairs:
    """Pairs from two aligned UTF-8 files, one sentence a line.

    Example: `read_parallel("train.de", "train.en")` (German → English).
    """
    source, target = (read_text(Path(p)).splitlines() for p in (source_path, target_path))
    if len(source) != len(target):
        raise ValueError(
            f"{source_path} has {len(source)} lines but {target_path} has {len(target)}; "
            f"parallel files must be aligned line by line (check for a missing or extra line "
            f"near the end).")
    return _checked(Pairs([s.strip() for s in source], [t.strip() for t in target]),
                    (source_path, target_path), first_line=1)


def read_parallel_table(path, source_column="source", target_column="target") -> Pairs:
    """Pairs from two columns of a TSV, CSV or JSONL file (e.g. "document" and "summary")."""
    table = read_table(path, [source_column, target_column])
    pairs = Pairs([s.strip() for s in table[source_column]],
                  [t.strip() for t in table[target_column]])
    first = 1 if Path(path).suffix in (".jsonl", ".json") else 2
    return _checked(pairs, (f"{path} ({source_column})", f"{path} ({target_column})"), first)


def _checked(pairs: Pairs, names, first_line) -> Pairs:
    for name, side in zip(names, (pairs.source, pairs.target)):
        for number, text in enumerate(side, first_line):
            if not text:
                raise ValueError(
                    f"{name}, line {number}: empty text; every pair needs a source and a "
                    f"target (remove the line from both sides).")
    return pairs


@dataclass(frozen=True)
class Seq2SeqFormat:
    """How pairs become model inputs: lengths (in tokens, end token included) and ids.
    `start_id` must be the model's `config.decoder_start_token_id`, which generation starts
    from."""

    max_source_length: int = 128
    max_target_length: int = 128
    start_id: int = 0
    end_id: int = 1
    pad_id: int = 0


def end_terminated(tokenizer, texts, length, end_id) -> tf.RaggedTensor:
    """Token ids of a batch of texts, cut to `length - 1` and ended by `end_id`: the source
    form that training and generation share."""
    ids = tokenizer(texts)
    if isinstance(ids, list):  # keras_hub tokenizers return lists in eager mode
        ids = tf.ragged.constant(ids, dtype=tf.int32, ragged_rank=1)
    ids = tf.cast(ids, tf.int32)[:, : length - 1]
    ends = tf.fill([ids.nrows(), 1], tf.constant(end_id, tf.int32))
    return tf.concat([ids, ends], axis=1)


def seq2seq_examples(pairs: Pairs, tokenizer, form: Seq2SeqFormat) -> tf.data.Dataset:
    """One `(inputs, labels, sample_weight)` example per pair, tokenized in tf.data: the source
    and the labels end with the end token; the decoder reads the labels shifted right behind
    `start_id`."""
    data = tf.data.Dataset.from_tensor_slices({"source": pairs.source, "target": pairs.target})

    def tokenized(batch):
        return {"source": end_terminated(tokenizer, batch["source"], form.max_source_length,
                                         form.end_id),
                "labels": end_terminated(tokenizer, batch["target"], form.max_target_length,
                                         form.end_id)}

    def example(row):
        source, labels = row["source"], row["labels"]
        inputs = {
            "encoder_token_ids": source,
            "encoder_padding_mask": tf.ones_like(source),
            "decoder_token_ids": tf.concat([[form.start_id], labels[:-1]], axis=0),
            "decoder_padding_mask": tf.ones_like(labels),
        }
        return inputs, labels, tf.ones_like(labels, tf.float32)

    return (data.batch(256).map(tokenized, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
            .map(example, num_parallel_calls=tf.data.AUTOTUNE))


def seq2seq_batches(pairs: Pairs, tokenizer, form: Seq2SeqFormat, batch_size, shuffle=True,
                    seed=0, bucket_width=8) -> tf.data.Dataset:
    """Padded batches of pairs of similar length (buckets `bucket_width` tokens wide), so
    little of each batch is padding; padding has mask 0 and sample weight 0.

    Example:
        >>> batches = seq2seq_batches(read_parallel("train.de", "train.en"), spm,
        ...                           Seq2SeqFormat(end_id=3), batch_size=64)
        >>> Seq2SeqLM(model).fit(batches, epochs=10)
    """
    data = seq2seq_examples(pairs, tokenizer, form).cache()
    if shuffle:
        data = data.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    longest = max(form.max_source_length, form.max_target_length)
    return with_known_length(bucketed(data, batch_size, form.pad_id, longest, bucket_width))


def bucketed(examples, batch_size, pad_id, longest, bucket_width=8) -> tf.data.Dataset:
    """Seq2seq examples padded into batches of similar length (`bucket_width`-token buckets up
    to `longest`): token ids with `pad_id`, masks and sample weights with 0."""
    boundaries = list(range(bucket_width, longest, bucket_width))
    pads = ({k: pad_id if k.endswith("token_ids") else 0
             for k in ("encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
                       "decoder_padding_mask")}, pad_id, 0.0)
    batches = examples.bucket_by_sequence_length(
        lambda inputs, labels, weights: tf.maximum(tf.shape(inputs["encoder_token_ids"])[0],
                                                   tf.shape(labels)[0]),
        bucket_boundaries=boundaries, bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padding_values=pads, pad_to_bucket_boundary=False)
    return batches.prefetch(tf.data.AUTOTUNE)
