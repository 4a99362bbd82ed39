"""Serialized `tf.train.Example`s with string features, as TF Serving's Classify and Regress
APIs send them (shared by the export and serving tests)."""

import tensorflow as tf


def serialized_examples(**features) -> list[bytes]:
    """One serialized Example per position of the (equally long) feature lists."""
    count = len(next(iter(features.values())))
    return [
        tf.train.Example(features=tf.train.Features(feature={
            key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[values[i].encode()]))
            for key, values in features.items()
        })).SerializeToString()
        for i in range(count)
    ]
