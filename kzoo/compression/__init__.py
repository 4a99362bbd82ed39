"""Compression for serving: post-training quantization (`quantize`, `MODES`).

Example:
    >>> from kzoo.compression import quantize
    >>> quantize(task, "int8")
"""

import importlib

# Attributes load on first use, so the CLI reads the mode names without importing Keras.
_EXPORTS = {
    "MODES": "kzoo.compression.modes",
    "quantize": "kzoo.compression.quantization",
    "quantization_modes": "kzoo.compression.quantization",
}
__all__ = ["MODES", "quantization_modes", "quantize"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kzoo.compression' has no attribute {name!r}")
