"""The dense layer of kzoo's blocks: Keras's `Dense`, with its product kept apart from the bias."""

import keras
from keras import ops

from kzoo.layers.backend import unfused_product


@keras.saving.register_keras_serializable(package="kzoo")
class Dense(keras.layers.Dense):
    """`keras.layers.Dense` (same weights, LoRA and quantisation), whose float product for one
    position per sequence (a decode step) XLA:CPU runs on every core: see
    `kzoo.layers.backend.unfused_product`. Longer inputs (training, prefill, exports) are
    matrix-matrix products, which XLA never fuses that way, so their graphs stay Keras's own.

    Example:
        >>> Dense(8)(ops.ones((1, 1, 4))).shape
        (1, 1, 8)
    """

    def call(self, inputs, training=None):
        x = ops.matmul(inputs, self.kernel)
        if len(inputs.shape) == 3 and inputs.shape[1] == 1:
            x = unfused_product(x)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x
