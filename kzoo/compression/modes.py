"""The quantization modes users name (`kzoo quantize --mode`), and the Keras configuration each
gives dense layers and token tables. Keras is imported only when a configuration is made, so the
CLI lists the modes without loading it."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class QuantizationMode:
    """A mode: the Keras `QuantizationConfig` for dense layers and for token tables, each made
    from the int4 block size, and what the mode means."""

    dense: Callable[[int], object]
    table: Callable[[int], object]
    description: str


def _int8(block_size):
    from keras.quantizers import Int8QuantizationConfig

    return Int8QuantizationConfig()  # per-channel weights, per-token dynamic activations


def _int8_weights(block_size):
    from keras.quantizers import Int8QuantizationConfig

    return Int8QuantizationConfig(activation_quantizer=None)


def _int4_weights(block_size):
    from keras.quantizers import Int4QuantizationConfig

    return Int4QuantizationConfig(block_size=block_size)


MODES = {
    "int8": QuantizationMode(
        _int8,
        _int8_weights,
        "int8 weights per output channel, activations quantized per token at run time "
        "(dense layers); int8 weight-only token table",
    ),
    "int8_weights": QuantizationMode(
        _int8_weights, _int8_weights, "int8 weights per output channel, float activations"
    ),
    "int4_weights": QuantizationMode(
        _int4_weights,
        _int4_weights,
        "int4 weights in blocks along the input, a scale and zero point per block, float "
        "activations",
    ),
}
DEFAULT_BLOCK_SIZE = 128
