"""Writes the `.keras` files that kzoo 0.1.0 (before model families were components) saved.

Run once with that version (commit 2e9edcd): `python tools/reference/legacy_keras.py`. The test
`tests/test_families.py::test_legacy_keras_files_load` loads them with the current version and
compares the outputs stored beside them.
"""

from pathlib import Path

import numpy as np

import kzoo
from kzoo.tasks import CausalLM, Classifier

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "legacy_v0_1"
SHAPE = dict(vocab_size=97, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
             max_positions=24, dropout=0.0, attention_dropout=0.0)

rng = np.random.default_rng(0)
ids = rng.integers(1, 97, size=(2, 7)).astype("int32")
mask = np.array([[1] * 7, [1] * 5 + [0] * 2], "int32")
classifier = Classifier(kzoo.build_encoder("bert_tiny", **SHAPE), num_classes=3)
lm = CausalLM(kzoo.build_decoder("gpt2_small", **SHAPE))
outputs = {
    "classifier": classifier({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": mask}),
    "causal_lm": lm({"token_ids": ids, "padding_mask": mask}),
}
OUT.mkdir(parents=True, exist_ok=True)
classifier.save(OUT / "classifier.keras")
lm.save(OUT / "causal_lm.keras")
np.savez(OUT / "outputs.npz", token_ids=ids, padding_mask=mask,
         **{k: np.asarray(v) for k, v in outputs.items()})
