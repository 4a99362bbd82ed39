"""Optimizer, schedule and the training loop's safety: resume, corrupt checkpoints, NaN guard, logs."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import training_worker
from kzoo.training import WarmupDecay, make_optimizer, train
from kzoo.training.checkpoints import checkpoint_steps

sys.path.insert(0, str(Path(__file__).parent))


@pytest.mark.parametrize("decay", ["linear", "cosine"])
def test_schedule_matches_the_formula(decay):
    schedule = WarmupDecay(2e-4, total_steps=110, warmup_steps=10, decay=decay, end_ratio=0.1)
    for step in (0, 5, 10, 35, 60, 110, 500):
        if step < 10:
            expected = 2e-4 * step / 10
        else:
            p = min((step - 10) / 100, 1.0)
            shape = 1 - p if decay == "linear" else (1 + math.cos(math.pi * p)) / 2
            expected = 2e-4 * (0.1 + 0.9 * shape)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5)


def test_weight_decay_skips_norms_biases_and_optionally_embeddings():
    task = training_worker.make_task()
    optimizer = make_optimizer(decay_embeddings=False)
    optimizer.build(task.trainable_variables)
    decayed = {v.path for v in task.trainable_variables if optimizer._use_weight_decay(v)}
    assert "block_0/ffn_in/kernel" in decayed and "classifier_head/kernel" in decayed
    for path in (
        "block_0/attention_norm/gamma",
        "block_0/ffn_in/bias",
        "embedding/norm/beta",
        "embedding/token_embedding/embeddings",
    ):
        assert path not in decayed
    with_embeddings = make_optimizer()
    with_embeddings.build(task.trainable_variables)
    assert any(
        "token_embedding" in v.path and with_embeddings._use_weight_decay(v)
        for v in task.trainable_variables
    )


def _weights(task):
    return [np.asarray(w) for w in task.weights]


def test_sigkill_mid_run_then_resume_equals_uninterrupted_run(tmp_path):
    reference = training_worker.run(tmp_path / "reference")
    worker = subprocess.Popen(
        [sys.executable, training_worker.__file__, str(tmp_path / "killed")],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    deadline = time.time() + 120
    while (
        time.time() < deadline and len(checkpoint_steps(tmp_path / "killed" / "checkpoints")) < 2
    ):
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    steps = checkpoint_steps(tmp_path / "killed" / "checkpoints")
    assert steps and steps[-1] < training_worker.TOTAL_STEPS, "the worker was not killed mid-run"
    resumed = training_worker.run(tmp_path / "killed")
    assert int(resumed.optimizer.iterations.numpy()) == training_worker.TOTAL_STEPS
    for a, b in zip(_weights(reference), _weights(resumed)):
        np.testing.assert_array_equal(
            a, b
        )  # bit-identical: same data position, RNG and optimizer state


def test_training_stops_at_total_steps_between_checkpoints_and_resumes_to_a_longer_run(tmp_path):
    task = training_worker.run(tmp_path / "run", total_steps=7)  # checkpoint_every=5
    assert int(task.optimizer.iterations.numpy()) == 7
    assert checkpoint_steps(tmp_path / "run" / "checkpoints") == [5, 7]
    task = training_worker.run(tmp_path / "run", total_steps=13)  # resumes mid-interval
    assert int(task.optimizer.iterations.numpy()) == 13
    assert checkpoint_steps(tmp_path / "run" / "checkpoints")[-1] == 13


def test_truncated_checkpoint_is_skipped_with_a_warning(tmp_path):
    training_worker.run(tmp_path / "run", total_steps=15)
    latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    data_file = Path(latest + ".data-00000-of-00001")
    data_file.write_bytes(data_file.read_bytes()[:100])
    task = training_worker.make_task()
    from kzoo.training.checkpoints import restore_latest

    with pytest.warns(UserWarning, match="ckpt-15 is unreadable"):
        assert restore_latest(task, tmp_path / "run" / "checkpoints") == 10


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    import keras

    task = training_worker.make_task()

    def loss_that_breaks_at_step_12(y, logits):
        loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return tf.where(task.optimizer.iterations >= 12, np.nan, loss)

    task.compile(optimizer=make_optimizer(1e-3), loss=loss_that_breaks_at_step_12)
    with pytest.raises(
        FloatingPointError, match=r"NaN or infinite at step 13.*last good checkpoint \(step 10\)"
    ):
        train(task, training_worker.batches(), tmp_path / "run", 30, checkpoint_every=5, verbose=0)
    assert checkpoint_steps(tmp_path / "run" / "checkpoints")[-1] == 10


def test_tensorboard_events_hold_the_promised_scalars(tmp_path):
    task = training_worker.make_task()
    train(
        task,
        training_worker.batches(),
        tmp_path / "run",
        10,
        checkpoint_every=5,
        tokens_per_batch=128,
        verbose=0,
        flops_per_token=1e6,
    )
    scalars = {}
    for path in (tmp_path / "run" / "logs").rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    promised = {
        "epoch_loss",
        "epoch_accuracy",
        "learning_rate",
        "tokens_per_second",
        "mfu",
        "gradient_norm",
    }
    assert promised <= set(scalars)
    # MFU = tokens/s × FLOPs per token / peak: the same factor at every logged step
    factors = np.array(scalars["mfu"]) / np.array(scalars["tokens_per_second"])
    np.testing.assert_allclose(factors, factors[0], rtol=1e-5)
    assert 1e6 / 1e14 < factors[0] < 1e6 / 1e9  # a peak between 1 GFLOP/s and 100 TFLOP/s


def test_training_flops_per_token_matches_the_hand_count():
    from kzoo import parameter_count, resolve_config
    from kzoo.training.monitoring import training_flops_per_token

    config = resolve_config("bert_base")
    # 12 × (4·768² + 2·768·3072) dense, 12 × 2·128·768 attention, 768 × 30522 vocabulary projection
    assert training_flops_per_token(config, 128) == 6 * (84_934_656 + 2_359_296) + 6 * 768 * 30522
    assert training_flops_per_token(config, 128) == pytest.approx(
        6 * parameter_count(config), rel=0.05
    )
    # MLM with 20 predictions: 11 full blocks; the last one projects keys and values (2·768²) for
    # every token and the rest (2·768² + 2·768·3072 + 2·128·768) for 21 of 128; 20/128 of the vocabulary
    assert training_flops_per_token(config, 128, 20 / 128) == pytest.approx(
        6 * (11 * 7_274_496 + 1_179_648 + 21 / 128 * 6_094_848 + 20 / 128 * 768 * 30522), rel=1e-12
    )


def test_optimizer_keeps_the_global_gradient_norm_before_clipping():
    import keras

    import kzoo
    from kzoo.tasks import Classifier

    keras.utils.set_random_seed(0)
    task = Classifier(
        kzoo.build_encoder("bert_tiny", vocab_size=100, num_layers=1, dropout=0.0), 2, dropout=0.0
    )
    task.compile(
        optimizer=make_optimizer(1e-3, clipnorm=1e-3)
    )  # clipping must not change the logged norm
    x, y = next(iter(training_worker.batches()))
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
            y, task(x, training=True)
        )
    expected = tf.linalg.global_norm(tape.gradient(loss, task.trainable_variables))
    task.train_on_batch(x, y)
    assert float(task.optimizer.gradient_norm) == pytest.approx(float(expected), rel=1e-3)
    assert float(expected) > 1e-3


def test_fused_adamw_steps_equal_keras_adamw():
    import keras

    from kzoo.training.optimizer import ScaledAdamW

    rng = np.random.default_rng(0)
    start = [rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(4,)).astype("float32")]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(3)]
    settings = dict(learning_rate=1e-2, weight_decay=0.1, epsilon=1e-6)
    results = []
    for optimizer in (keras.optimizers.AdamW(**settings), ScaledAdamW(**settings)):
        variables = [keras.Variable(w) for w in start]
        optimizer.build(variables)
        apply = tf.function(lambda step_grads: optimizer.apply(step_grads, variables))  # noqa: B023
        for step_grads in grads:
            apply([tf.constant(g) for g in step_grads])
        results.append([v.numpy() for v in variables])
        ops = {
            op.type
            for op in apply.get_concrete_function(
                [tf.constant(g) for g in grads[0]]
            ).graph.get_operations()
        }
    assert "ResourceApplyAdam" in ops  # the last optimizer, kzoo's, took the fused kernel
    for reference, fused in zip(
        *results
    ):  # steps are ~1e-2: 1e-6 allows rounding, not a wrong formula
        np.testing.assert_allclose(fused, reference, rtol=0, atol=1e-6)
        assert not np.allclose(fused, start[0] if fused.ndim == 2 else start[1], atol=1e-3)


def test_the_matmul_peak_is_per_precision_and_only_rises(tmp_path, monkeypatch):
    from kzoo.training import peak

    monkeypatch.setenv("KZOO_CACHE_DIR", str(tmp_path))
    fp32 = peak.matmul_peak_flops("float32", size=256)
    assert 1e8 < fp32 < 1e14 and peak.matmul_peak_flops("bfloat16", size=256) > 1e8
    monkeypatch.setattr(peak, "_measure", lambda *args: fp32 / 2)  # a measurement under load
    assert peak.matmul_peak_flops("float32", size=256) == fp32  # the best one is kept
    features = peak.cpu_features()
    assert set(peak.FEATURES) <= set(features) and features["cores"] >= 1


def test_progress_off_a_terminal_is_plain_lines_without_keras_warnings(tmp_path, capfd, recwarn):
    train(
        training_worker.make_task(),
        training_worker.batches(),
        tmp_path / "run",
        6,
        checkpoint_every=3,
        verbose="auto",
    )
    out = capfd.readouterr().out
    assert "Epoch 2/2" in out and "loss" in out
    assert "\x1b[" not in out and "\r" not in out and "━" not in out
    assert not [w for w in recwarn if "shuffle" in str(w.message)]
