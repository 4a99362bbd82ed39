"""Sharded TFRecords: prepare a corpus once, then stream it.

Example:
    >>> write_records(examples, "data/mlm", num_shards=8)
    >>> dataset = read_records("data/mlm")   # same dicts of tensors back
"""

import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

SPEC_FILE = "features.json"


def write_records(examples, directory, num_shards=4) -> list[Path]:
    """Writes a dict of arrays, or a dataset of dicts, round-robin into `num_shards` files.

    Each shard is written to a temporary name and renamed when complete, so a
    crash never leaves a truncated shard under its final name.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dataset = examples if isinstance(examples, tf.data.Dataset) else tf.data.Dataset.from_tensor_slices(examples)
    spec = {name: {"dtype": s.dtype.name, "shape": s.shape.as_list()} for name, s in dataset.element_spec.items()}
    paths = [directory / f"shard-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(f"{p}.tmp") for p in paths]
    for index, example in enumerate(dataset.as_numpy_iterator()):
        writers[index % num_shards].write(_serialize(example))
    for writer, path in zip(writers, paths):
        writer.close()
        os.replace(f"{path}.tmp", path)
    (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2))
    return paths


def _serialize(example) -> bytes:
    features = {}
    for name, value in example.items():
        flat = np.asarray(value).reshape(-1)
        if flat.dtype.kind == "f":
            features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=flat))
        else:
            features[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=flat))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def read_records(directory, shuffle_files=False, seed=0) -> tf.data.Dataset:
    """Streams the examples written by `write_records`, with their original dtypes and shapes."""
    directory = Path(directory)
    if not (directory / SPEC_FILE).exists():
        raise FileNotFoundError(f"{directory}: no {SPEC_FILE}; prepare the data with kzoo.data.write_records first.")
    spec = json.loads((directory / SPEC_FILE).read_text())
    features = {name: tf.io.FixedLenFeature(s["shape"], tf.float32 if "float" in s["dtype"] else tf.int64)
                for name, s in spec.items()}
    files = sorted(str(p) for p in directory.glob("shard-*.tfrecord"))
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        dataset = dataset.shuffle(len(files), seed=seed)
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=len(files),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def parse(record):
        parsed = tf.io.parse_single_example(record, features)
        return {name: tf.cast(value, spec[name]["dtype"]) for name, value in parsed.items()}

    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
