"""TensorBoard scalars beyond Keras's own: learning rate and tokens per second."""

import time

import keras
import tensorflow as tf


class TrainingScalars(keras.callbacks.Callback):
    """Writes `learning_rate` and `tokens_per_second` to `log_dir/train` every `every` steps.

    `tokens_per_batch` is batch size × sequence length.
    """

    def __init__(self, log_dir, tokens_per_batch, every=10):
        super().__init__()
        self.writer = tf.summary.create_file_writer(f"{log_dir}/train")
        self.tokens_per_batch, self.every = tokens_per_batch, every
        self.start = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.start is None:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every:
            return
        elapsed = time.perf_counter() - self.start
        with self.writer.as_default(step=step):
            tf.summary.scalar("learning_rate", float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
            tf.summary.scalar("tokens_per_second", self.every * self.tokens_per_batch / max(elapsed, 1e-9))
        self.writer.flush()
        self.start = time.perf_counter()
