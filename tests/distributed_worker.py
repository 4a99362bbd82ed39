"""Trains a tiny classifier for a few steps under a strategy; prints the losses as JSON.

    python distributed_worker.py default|mirrored|multi_worker [logical_cpus]
Used by test_distribution.py in subprocesses (devices must be set before TensorFlow starts).
"""

import json
import sys

import tensorflow as tf

strategy_name = sys.argv[1]
logical_cpus = int(sys.argv[2]) if len(sys.argv) > 2 else 1
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)

import keras  # noqa: E402

import kzoo  # noqa: E402
from kzoo.tasks import Classifier  # noqa: E402
from worker_data import GLOBAL_BATCH, toy_classification_data  # noqa: E402
from kzoo.training.distribution import strategy_scope  # noqa: E402

x, y = toy_classification_data()
with strategy_scope(strategy_name) as strategy:
    keras.utils.set_random_seed(0)
    task = Classifier(kzoo.build_encoder("bert_tiny", vocab_size=100, num_layers=1, dropout=0.0), 2, dropout=0.0)
    task.compile(optimizer=keras.optimizers.SGD(0.05))
history = task.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH), epochs=3, verbose=0)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "loss": history.history["loss"]}))
