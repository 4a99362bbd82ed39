"""kzoo's vocabulary cross entropy, perplexity and accuracy against Keras's and keras_hub's own."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.metrics import Perplexity as KerasHubPerplexity

from kzoo.training.losses import Perplexity, SparseCrossEntropy, TokenAccuracy, sparse_cross_entropy


def _logits_and_labels(shape=(2, 5), vocab=37, scale=4.0):
    rng = np.random.default_rng(0)
    return (tf.constant(rng.normal(size=(*shape, vocab)) * scale, tf.float32),
            tf.constant(rng.integers(0, vocab, shape), tf.int32),
            tf.constant(rng.uniform(size=shape), tf.float32))


def _value_and_gradient(loss_fn, labels, logits, weights):
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = loss_fn(labels, logits, sample_weight=weights)
    return loss.numpy(), tape.gradient(loss, logits).numpy()


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean_with_sample_weight", "sum"])
def test_loss_and_gradient_equal_keras_sparse_categorical_crossentropy(reduction):
    logits, labels, weights = _logits_and_labels()
    reference = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    value, gradient = _value_and_gradient(SparseCrossEntropy(reduction=reduction), labels, logits, weights)
    expected_value, expected_gradient = _value_and_gradient(reference, labels, logits, weights)
    np.testing.assert_allclose(value, expected_value, rtol=1e-6)
    np.testing.assert_allclose(gradient, expected_gradient, atol=1e-7)


def test_loss_stays_exact_where_the_label_probability_underflows():
    logits = tf.constant([[0.0, 1000.0, -50.0], [1.0, 2.0, 3.0]])  # one row underflows, one does not
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = sparse_cross_entropy(tf.constant([0, 2]), logits)
    np.testing.assert_allclose(loss.numpy(), [1000.0, np.log(np.exp([1, 2, 3]).sum()) - 3], rtol=1e-6)
    softmax = np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum()
    np.testing.assert_allclose(tape.gradient(loss, logits).numpy(), [[-1.0, 1.0, 0.0], softmax - [0, 0, 1]],
                               atol=1e-7)


def test_perplexity_equals_keras_hub_perplexity_and_round_trips():
    logits, labels, weights = _logits_and_labels(scale=1.0)
    ours, theirs = Perplexity(), KerasHubPerplexity(from_logits=True)
    for metric in (ours, theirs):
        metric.update_state(labels, logits, sample_weight=weights)
        metric.update_state(labels[:1], logits[:1])
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-6)
    assert float(ours.result()) > 1.0
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ours))
    assert isinstance(restored, Perplexity) and restored.name == "perplexity"
    loss = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(SparseCrossEntropy(reduction="sum")))
    assert isinstance(loss, SparseCrossEntropy) and loss.reduction == "sum"


def test_token_accuracy_equals_keras_sparse_categorical_accuracy():
    logits, labels, weights = _logits_and_labels(shape=(4, 25), vocab=7)  # small vocabulary: many hits
    ours, theirs = TokenAccuracy(), keras.metrics.SparseCategoricalAccuracy()
    for metric in (ours, theirs):
        metric.update_state(labels, logits, sample_weight=weights)
        metric.update_state(labels[:1], logits[:1])
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-6)
    assert 0.05 < float(ours.result()) < 0.95
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(TokenAccuracy(name="acc")))
    assert isinstance(restored, TokenAccuracy) and restored.name == "acc"
