"""Runs an exported signature in a new Python process that imports only TensorFlow and TF Text.

This is what TF Serving sees: no kzoo, no Keras, no Python tokenizer. Used by the
quickstart and the export tests.
"""

import json
import subprocess
import sys

_SCRIPT = r"""
import json, sys
import numpy as np, tensorflow as tf, tensorflow_text  # noqa: F401  (TF Text ops, as TF Serving links them)
request = json.loads(sys.stdin.read())
loaded = tf.saved_model.load(request["path"])
inputs = {k: tf.constant(v, tf.string) if v == [] else tf.constant(v) for k, v in request["inputs"].items()}
outputs = loaded.signatures[request["signature"]](**inputs)
forbidden = sorted(m for m in ("kzoo", "keras_hub") if m in sys.modules)
decode = np.vectorize(lambda s: s.decode("utf-8", "replace"), otypes=[object])
print(json.dumps({"outputs": {k: (decode(v.numpy()) if v.dtype == tf.string else v.numpy()).tolist()
                              for k, v in outputs.items()}, "imported": forbidden}))
"""


def predict_in_fresh_process(version_dir, inputs: dict, signature="serving_default") -> dict:
    """Calls `signature` of the SavedModel at `version_dir` in a clean interpreter; returns its outputs."""
    request = json.dumps({"path": str(version_dir), "inputs": inputs, "signature": signature})
    result = subprocess.run([sys.executable, "-c", _SCRIPT], input=request, capture_output=True, text=True,
                            env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if result.returncode:
        raise RuntimeError(f"loading {version_dir} in a fresh process failed:\n{result.stderr[-3000:]}")
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    if reply["imported"]:
        raise RuntimeError(f"the fresh process imported {reply['imported']}; the export must not need them.")
    return reply["outputs"]
