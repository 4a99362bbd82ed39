"""Sentence and sentence-pair classification / regression data (SST-2, MRPC, STS-B formats)."""

import numpy as np
import tensorflow as tf

from kzoo.data.tables import label_ids, read_table


def read_classification(path, text_column="sentence", pair_column=None, label_column="label",
                        label_names=("0", "1"), regression=False) -> dict:
    """Reads texts (and pairs) with integer labels, or float labels when `regression`."""
    columns = [text_column] + ([pair_column] if pair_column else []) + [label_column]
    table = read_table(path, columns)
    if regression:
        labels = np.array([float(v) for v in table[label_column]], np.float32)
    else:
        labels = np.array(label_ids(path, table[label_column], label_names), np.int32)
    data = {"text": [t.strip() for t in table[text_column]], "label": labels}
    if pair_column:
        data["pair"] = [t.strip() for t in table[pair_column]]
    return data


def classification_batches(data: dict, encode, batch_size, shuffle=True, seed=0, input_names=None):
    """`(inputs, labels)` batches; `encode` is a `TextPairEncoder` (runs in tf.data).

    `input_names` keeps only the model's inputs (decoders take no `segment_ids`).
    """
    dataset = tf.data.Dataset.from_tensor_slices(data)
    if shuffle:
        dataset = dataset.shuffle(len(data["label"]), seed=seed)
    dataset = dataset.batch(batch_size)
    def features(batch):
        inputs = encode(batch["text"], batch.get("pair"))
        return {k: v for k, v in inputs.items() if input_names is None or k in input_names}, batch["label"]

    return dataset.map(features,
                       num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def split_off(data: dict, fraction=0.1, seed=0) -> tuple[dict, dict]:
    """Carves a validation split out of a training set, a dict of equally long columns: (train, validation)."""
    order = np.random.default_rng(seed).permutation(len(next(iter(data.values()))))
    cut = int(len(order) * (1 - fraction))

    def take(indices):
        return {k: (v[indices] if isinstance(v, np.ndarray) else [v[i] for i in indices]) for k, v in data.items()}

    return take(order[:cut]), take(order[cut:])
