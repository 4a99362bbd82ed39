"""Cross entropy over a vocabulary, and the perplexity and accuracy metrics for such logits.

Why not `keras.losses.SparseCategoricalCrossentropy`: on TensorFlow it runs the fused
`SparseSoftmaxCrossEntropyWithLogits` kernel, which on this 2-core CPU takes 0.43 s for the
forward and backward pass over (2048 tokens × 50257) logits. The same loss from `softmax`
(one fast pass) and a gather takes 0.09 s (the 6L/512 GPT step of `tools/bench.py train`
takes ~2.3 s). Values and gradients are the same; small class counts gain nothing,
so classification heads keep the Keras loss.
"""

import keras
from keras import ops
from keras_hub.metrics import Perplexity as _KerasHubPerplexity

from kzoo.layers.backend import xla_compiled


def at_labels(values, labels):
    """`values[..., label]` for each position: `values` (..., vocab), `labels` (...) → (...)."""
    return ops.take_along_axis(values, ops.cast(labels, "int32")[..., None], axis=-1)[..., 0]


def sparse_cross_entropy(labels, logits):
    """Per-position `-log softmax(logits)[label]`: `labels` (...), `logits` (..., vocab) → (...).

    The gradient with respect to `logits` is `softmax(logits) - one_hot(labels)`, written
    directly from the softmax kept by the forward pass.

    Example:
        >>> float(sparse_cross_entropy(ops.array([1]), ops.array([[0.0, 0.0]]))[0])  # log 2
        0.6931471824645996
    """
    vocab = ops.shape(logits)[-1]
    flat_labels = ops.reshape(ops.cast(labels, "int32"), (-1,))

    @ops.custom_gradient
    def from_logits(flat_logits):
        probs = ops.softmax(flat_logits, axis=-1)
        at_label = at_labels(probs, flat_labels)

        def from_row_maxima():
            # softmax at the row maximum is 1 / sum(exp(logits - max)): log-sum-exp without a
            # second pass over the exponentials, finite where the label's probability underflows.
            log_sum_exp = ops.max(flat_logits, axis=-1) - ops.log(ops.max(probs, axis=-1))
            return log_sum_exp - at_labels(flat_logits, flat_labels)

        # -log p[label] needs no pass over the vocabulary; only a loss above ~69 (p[label] < 1e-30,
        # near float32's smallest normal) takes the two row maxima (2 × 16 ms per GPT step).
        losses = ops.cond(ops.min(at_label, initial=1.0) > 1e-30, lambda: -ops.log(at_label), from_row_maxima)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return xla_compiled(logits_gradient)(probs, at_label, upstream, flat_labels)

        return losses, grad

    losses = from_logits(ops.reshape(logits, (-1, vocab)))
    return ops.reshape(losses, ops.shape(labels))


def logits_gradient(probs, at_label, upstream, labels):
    """`(probs - one_hot(labels)) * upstream[:, None]` for `probs` (rows, vocab), written where it
    differs from `probs * upstream`. Compiled by XLA (`xla_compiled`), the product and the write
    make one pass over the (2048 × 50257) probabilities, 22 ms; TensorFlow's scatter copies the
    product first, 52 ms."""
    rows = ops.arange(ops.shape(labels)[0], dtype="int32")
    return ops.scatter_update(probs * upstream[:, None], ops.stack([rows, labels], axis=1),
                              (at_label - 1.0) * upstream)


@keras.saving.register_keras_serializable(package="kzoo")
class SparseCrossEntropy(keras.losses.Loss):
    """`keras.losses.SparseCategoricalCrossentropy(from_logits=True)` for vocabulary-sized logits.

    Example:
        >>> model.compile(loss=SparseCrossEntropy(reduction="mean_with_sample_weight"))
    """

    def call(self, y_true, y_pred):
        return sparse_cross_entropy(y_true, y_pred)


@keras.saving.register_keras_serializable(package="kzoo")
class Perplexity(_KerasHubPerplexity):
    """keras_hub's `Perplexity` (from logits), computed with `SparseCrossEntropy`.

    Example:
        >>> model.compile(metrics=[Perplexity(name="perplexity")])
    """

    def __init__(self, name="perplexity", **kwargs):
        super().__init__(from_logits=True, name=name, **kwargs)
        self._crossentropy = SparseCrossEntropy(reduction="sum")

    def get_config(self):
        config = super().get_config()
        config.pop("from_logits", None)
        return config


def label_is_top(labels, logits):
    """1.0 where the label's logit is the row maximum, else 0.0: `labels` (...), `logits` (..., vocab).

    `keras.metrics.SparseCategoricalAccuracy` takes an `argmax`, which Keras's TensorFlow backend
    precedes with a negative-zero fix-up: five more passes over the logits, 12 ms of a 0.8 s
    bert_small MLM step. One row maximum and a gather give the same answer, except on an exact
    tie for the maximum, which counts as right here where `argmax` takes the first index.
    """
    return ops.cast(at_labels(logits, labels) >= ops.max(logits, axis=-1), "float32")


@keras.saving.register_keras_serializable(package="kzoo")
class TokenAccuracy(keras.metrics.MeanMetricWrapper):
    """`SparseCategoricalAccuracy` for vocabulary-sized logits (see `label_is_top`).

    Example:
        >>> model.compile(weighted_metrics=[TokenAccuracy(name="accuracy")])
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=label_is_top, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
