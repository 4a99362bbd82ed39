"""Compression for serving: post-training quantization (`quantize`, `MODES`), magnitude pruning
during fine-tuning (`MagnitudePruning`) and structured pruning (`prune_structure`) and
distillation (`Distiller`).

Example:
    >>> from kzoo.compression import quantize
    >>> quantize(task, "int8")
"""

import importlib

# Attributes load on first use, so the CLI reads the mode names without importing Keras.
_EXPORTS = {
    "Distiller": "kzoo.compression.distillation",
    "MODES": "kzoo.compression.modes",
    "MagnitudePruning": "kzoo.compression.pruning",
    "prune_magnitude": "kzoo.compression.pruning",
    "prune_structure": "kzoo.compression.structured",
    "quantize": "kzoo.compression.quantization",
    "quantization_modes": "kzoo.compression.quantization",
}
__all__ = [
    "MODES",
    "Distiller",
    "MagnitudePruning",
    "prune_magnitude",
    "prune_structure",
    "quantization_modes",
    "quantize",
]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kzoo.compression' has no attribute {name!r}")
