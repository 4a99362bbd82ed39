"""kzoo: build, pretrain, fine-tune, generate with and serve transformer language models.

Example:
    >>> import kzoo
    >>> encoder = kzoo.build_encoder("bert_tiny")
    >>> decoder = kzoo.build_decoder("gpt2_small", num_layers=2)
"""

import importlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's C++ start-up lines (CUDA probing on CPU machines, oneDNN and CPU-feature notices)
# say nothing a kzoo user acts on; TF_CPP_MIN_LOG_LEVEL=0 brings them back.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

# Attributes load on first use, so `kzoo --help` and the CLI's logging set-up
# run before TensorFlow is imported.
_EXPORTS = {
    "ModelConfig": "kzoo.config",
    "PRESETS": "kzoo.config",
    "parameter_count": "kzoo.config",
    "resolve_config": "kzoo.config",
    "Encoder": "kzoo.models",
    "Decoder": "kzoo.models",
    "build_encoder": "kzoo.models",
    "build_decoder": "kzoo.models",
    "EncoderDecoder": "kzoo.models",
    "build_encoder_decoder": "kzoo.models",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kzoo' has no attribute {name!r}")
