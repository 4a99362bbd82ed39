"""Batches mixed from several tasks' datasets, for `kzoo.tasks.MultiTask`."""

import tensorflow as tf


def mix_task_batches(batches: dict, weights: dict, seed=0) -> tf.data.Dataset:
    """Draws each batch from one task's dataset, with probability proportional to its weight.

    Every task's dataset yields `(inputs, labels)` or `(inputs, labels, sample_weights)` batches
    with the same inputs and fixed label shapes. Each mixed batch carries labels for every task
    (zeros for the others) and sample weights that are 0 for the tasks it is not from, so only
    its own task's loss and metrics count. The result repeats forever: pass `steps_per_epoch`.

    Example:
        >>> mixed = mix_task_batches({"sentiment": sst2_batches, "ner": conll_batches},
        ...                          {"sentiment": 1.0, "ner": 2.0})
    """
    if set(batches) != set(weights):
        raise ValueError(f"weights name {sorted(weights)} but the datasets are {sorted(batches)}; give one "
                         f"weight per task.")
    specs = {name: _label_specs(name, dataset.element_spec) for name, dataset in batches.items()}
    tagged = [dataset.map(_tagger(name, specs)).repeat() for name, dataset in batches.items()]
    total = sum(weights[name] for name in batches)
    return tf.data.Dataset.sample_from_datasets(tagged, [weights[name] / total for name in batches], seed=seed)


def _label_specs(name, element_spec):
    """(labels spec, sample-weights spec or None) of one task's batches, with fixed shapes."""
    labels, sample_weights = (element_spec[1], element_spec[2] if len(element_spec) > 2 else None)
    for spec in (labels, sample_weights):
        if spec is not None and not spec.shape[1:].is_fully_defined():
            raise ValueError(f"task {name!r}: labels of shape {spec.shape} vary between batches; pad them to "
                             f"a fixed sequence length so the tasks' batches can be mixed.")
    return labels, sample_weights


def _tagger(task, specs):
    def tag(inputs, labels, sample_weights=None):
        size = tf.shape(tf.nest.flatten(inputs)[0])[:1]
        all_labels, all_weights = {}, {}
        for name, (label_spec, weight_spec) in specs.items():
            weight_shape = (weight_spec or tf.TensorSpec([None])).shape[1:]
            if name == task:
                all_labels[name] = labels
                all_weights[name] = tf.ones(size) if sample_weights is None else tf.cast(sample_weights, tf.float32)
            else:
                all_labels[name] = tf.zeros(tf.concat([size, label_spec.shape[1:]], 0), label_spec.dtype)
                all_weights[name] = tf.zeros(tf.concat([size, weight_shape], 0))
        return inputs, all_labels, all_weights

    return tag
