import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The matmul peak that MFU divides by is kept per machine; tests keep theirs out of ~/.cache.
os.environ.setdefault("KZOO_CACHE_DIR", tempfile.mkdtemp(prefix="kzoo-cache-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kzoo.config import ModelConfig  # noqa: E402

TINY = dict(
    vocab_size=97,
    hidden_size=16,
    num_layers=2,
    num_heads=4,
    intermediate_size=32,
    max_positions=32,
    dropout=0.0,
    attention_dropout=0.0,
)


@pytest.fixture
def encoder_config():
    return ModelConfig(**TINY)


@pytest.fixture
def decoder_config():
    return ModelConfig(
        **TINY,
        stack="decoder",
        num_segments=0,
        activation="gelu_tanh",
        norm_placement="pre",
        norm_epsilon=1e-5,
        embedding_norm=False,
    )


@pytest.fixture
def rng():
    return np.random.default_rng(0)
