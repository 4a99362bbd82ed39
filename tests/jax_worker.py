"""Trains a tiny classifier under the JAX backend; prints the losses as JSON.

    python jax_worker.py default|data_parallel|model_parallel devices
Used by test_distribution.py in subprocesses (backend and device count are fixed at start-up).
"""

import json
import os
import sys

strategy_name, devices = sys.argv[1], int(sys.argv[2])
os.environ.update(KERAS_BACKEND="jax", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")

import keras  # noqa: E402

import kzoo  # noqa: E402
from kzoo.tasks import Classifier  # noqa: E402
from worker_data import GLOBAL_BATCH, toy_classification_data  # noqa: E402

x, y = toy_classification_data()
if strategy_name != "default":
    from kzoo.training.distribution import make_strategy
    keras.distribution.set_distribution(make_strategy(strategy_name))
keras.utils.set_random_seed(0)
task = Classifier(kzoo.build_encoder("bert_tiny", vocab_size=100, num_layers=1, dropout=0.0), 2, dropout=0.0)
task.compile(optimizer=keras.optimizers.SGD(0.05))
history = task.fit(x, y, batch_size=GLOBAL_BATCH, epochs=3, shuffle=False, verbose=0)
qkv = next(v for v in task.weights if v.path.endswith("block_0/attention/qkv/kernel"))
print(json.dumps({"backend": keras.backend.backend(), "devices": len(keras.distribution.list_devices()),
                  "qkv_sharding": str(qkv.value.sharding.spec) if hasattr(qkv.value.sharding, "spec") else "",
                  "loss": history.history["loss"]}))
