"""What every task shares: a backbone plus a head, saved as the backbone and the head's arguments."""

import keras

import kzoo.models  # noqa: F401  (registers Encoder/Decoder, which saved tasks contain)
from kzoo.training.distribution import multi_worker, strategy_of


class Task(keras.Model):
    """A functional `keras.Model` made of a kzoo backbone and a head, ready for `fit`.

    Subclasses wire the graph, pass their constructor arguments as `head_config`
    (so saving needs no graph serialization), and define `default_loss()`,
    `default_metrics()` and `default_learning_rate`.
    """

    default_learning_rate = 5e-5

    def __init__(self, *args, backbone, head_config: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.backbone = backbone
        self.head_config = head_config

    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone),
                "name": self.name, **self.head_config}

    @classmethod
    def from_config(cls, config):
        config = {**config, "backbone": keras.saving.deserialize_keras_object(config["backbone"])}
        return cls(**config)

    def with_dtype(self, dtype):
        """A copy, backbone and head, under the Keras dtype policy `dtype`, with the same weights."""
        copy = type(self)(self.backbone.with_dtype(dtype), name=self.name, **self.head_config)
        copy.set_weights([w.astype(v.dtype) for w, v in zip(self.get_weights(), copy.weights)])
        return copy

    def compile(self, optimizer="auto", loss="auto", metrics="auto", weighted_metrics="auto", **kwargs):
        """Keras `compile` with this task's defaults wherever "auto" is left.

        The default optimizer is AdamW at `default_learning_rate` with weight decay
        0.01 (LayerNorm and biases excluded) and global-norm clipping at 1.0.
        """
        if optimizer == "auto":
            from kzoo.training.optimizer import make_optimizer

            optimizer = make_optimizer(self.default_learning_rate)
        super().compile(
            optimizer=optimizer,
            loss=self.default_loss() if loss == "auto" else loss,
            metrics=self.default_metrics() if metrics == "auto" else metrics,
            weighted_metrics=self.default_weighted_metrics() if weighted_metrics == "auto" else weighted_metrics,
            **kwargs)

    # Two stopgaps for keras-team/keras#20585 (Keras 3.15), each a no-op unless the strategy spans
    # several workers. Keras's fit all-reduces the first distributed batch only to learn its shapes,
    # which MultiWorkerMirroredStrategy cannot do with per-replica values: one local replica's batch has
    # the same shapes. And it takes an axis-0 mean of each log across workers, which fails on scalars:
    # one-element logs average to the same scalar.
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = strategy_of(self)
        if iterator is not None and data_batch is None and multi_worker(strategy):
            import tensorflow as tf

            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0],
                                                   next(batches))
                break
            return super()._maybe_symbolic_build(data_batch=data_batch)
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, *args):
        return self._per_worker_logs(super().train_step(*args))

    def test_step(self, *args):
        return self._per_worker_logs(super().test_step(*args))

    def _per_worker_logs(self, logs):
        if not multi_worker(strategy_of(self)):
            return logs
        return {name: keras.ops.reshape(value, (1,)) for name, value in logs.items()}

    def default_loss(self):
        raise NotImplementedError

    def default_metrics(self):
        return None

    def default_weighted_metrics(self):
        return None


def backbone_inputs(backbone) -> dict:
    """Fresh `keras.Input`s with the backbone's input names."""
    return {name: keras.Input((None,), dtype="int32", name=name) for name in backbone.input}
