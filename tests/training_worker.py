"""A small deterministic training run, used by test_training.py in a subprocess (and killed there)."""

import sys

import keras
import numpy as np
import tensorflow as tf

import kzoo
from kzoo.tasks import Classifier
from kzoo.training import make_optimizer, train

TOTAL_STEPS = 60


def make_task():
    keras.utils.set_random_seed(0)
    task = Classifier(kzoo.build_encoder("bert_tiny", vocab_size=100, num_layers=1, dropout=0.1), 2)
    task.compile(optimizer=make_optimizer(1e-3, total_steps=TOTAL_STEPS, warmup_steps=5))
    return task


def batches():
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, 100, (96, 8)).astype("int32"),
         "segment_ids": np.zeros((96, 8), "int32"), "padding_mask": np.ones((96, 8), "int32")}
    y = (x["token_ids"][:, 0] > 50).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(96, seed=1).repeat().batch(16)


def run(run_dir, total_steps=TOTAL_STEPS):
    task = make_task()
    train(task, batches(), run_dir, total_steps, checkpoint_every=5, keep=3, verbose=0)
    return task


if __name__ == "__main__":
    run(sys.argv[1])
