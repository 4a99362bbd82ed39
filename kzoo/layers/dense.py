"""The dense layer of kzoo's blocks: Keras's `Dense`, with its product kept apart from the bias."""

import keras
from keras import ops

from kzoo.layers.backend import unfused_product


@keras.saving.register_keras_serializable(package="kzoo")
class Dense(keras.layers.Dense):
    """`keras.layers.Dense` (same weights, LoRA and quantisation), whose float product XLA:CPU runs
    on every core: see `kzoo.layers.backend.unfused_product`.

    Example:
        >>> Dense(8)(ops.ones((1, 1, 4))).shape
        (1, 1, 8)
    """

    def call(self, inputs, training=None):
        x = unfused_product(ops.matmul(inputs, self.kernel))
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x
