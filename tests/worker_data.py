"""The toy classification data the distribution workers train on (imported by the worker scripts)."""

import numpy as np

GLOBAL_BATCH, STEPS = 16, 6


def toy_classification_data():
    """Inputs and labels for GLOBAL_BATCH × STEPS rows: the label says whether the first token is > 50."""
    rng = np.random.default_rng(0)
    rows = GLOBAL_BATCH * STEPS
    x = {"token_ids": rng.integers(1, 100, (rows, 8)).astype("int32"), "segment_ids": np.zeros((rows, 8), "int32"),
         "padding_mask": np.ones((rows, 8), "int32")}
    return x, (x["token_ids"][:, 0] > 50).astype("int32")
