"""Fine-tuning options: freezing, LoRA (unchanged base, identical merged outputs), weight EMA."""

import keras
import numpy as np

import kzoo
from kzoo.tasks import Classifier
from kzoo.training import make_optimizer
from kzoo.training.adapters import enable_lora, freeze, merge_lora, trainable_paths


def _classifier():
    keras.utils.set_random_seed(0)
    return Classifier(
        kzoo.build_encoder("bert_tiny", vocab_size=100, num_layers=3, dropout=0.0), 2, dropout=0.0
    )


def _data():
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(1, 100, (32, 8)).astype("int32"),
        "segment_ids": np.zeros((32, 8), "int32"),
        "padding_mask": np.ones((32, 8), "int32"),
    }
    return x, (x["token_ids"][:, 0] > 50).astype("int32")


def test_freeze_embeddings_and_first_layers_exactly():
    task = freeze(_classifier(), embeddings=True, first_layers=2)
    paths = trainable_paths(task)
    assert not any(p.startswith(("embedding/", "block_0/", "block_1/")) for p in paths)
    assert {"block_2/attention/qkv/kernel", "pooler/kernel", "classifier_head/kernel"} <= paths
    assert trainable_paths(freeze(_classifier(), backbone=True)) == {
        "classifier_head/kernel",
        "classifier_head/bias",
    }


def test_frozen_weights_do_not_move_in_training():
    task = freeze(_classifier(), embeddings=True, first_layers=2)
    before = {v.path: np.asarray(v).copy() for v in task.weights}
    task.compile(optimizer=keras.optimizers.Adam(1e-2))
    task.fit(*_data(), epochs=2, verbose=0)
    moved = {v.path for v in task.weights if not np.array_equal(before[v.path], np.asarray(v))}
    assert moved and not any(p.startswith(("embedding/", "block_0/", "block_1/")) for p in moved)


def test_lora_trains_adapters_only_and_merges_to_identical_outputs():
    task = _classifier()
    before = {v.path: np.asarray(v).copy() for v in task.weights}
    enable_lora(task, rank=4, alpha=8)
    assert trainable_paths(task) == {
        f"block_{i}/attention/qkv/lora_kernel_{ab}" for i in range(3) for ab in "ab"
    } | {"classifier_head/kernel", "classifier_head/bias"}
    task.compile(optimizer=keras.optimizers.Adam(1e-2))
    x, y = _data()
    history = task.fit(x, y, epochs=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    for v in task.weights:
        if v.path in before and not v.path.startswith("classifier_head"):
            np.testing.assert_array_equal(np.asarray(v), before[v.path])  # base weights unchanged
    lora_b = [v for v in task.weights if v.path.endswith("lora_kernel_b")][0]
    assert np.abs(np.asarray(lora_b)).max() > 0  # the adapters did learn
    merged = merge_lora(task)
    assert not any("lora" in v.path for v in merged.weights)
    np.testing.assert_allclose(merged.predict(x, verbose=0), task.predict(x, verbose=0), atol=1e-5)


def test_ema_weights_replace_the_raw_weights_after_fit():
    x, y = _data()
    results = {}
    for ema in (None, 0.9):
        task = _classifier()
        task.compile(optimizer=make_optimizer(1e-2, ema_momentum=ema))
        task.fit(x, y, epochs=3, batch_size=8, verbose=0)
        results[ema] = task
    averaged = results[0.9].optimizer._model_variables_moving_average
    for variable, average in zip(results[0.9].trainable_variables, averaged):
        np.testing.assert_allclose(
            np.asarray(variable), np.asarray(average)
        )  # evaluation/export see the EMA
    raw, ema = (np.asarray(results[k].trainable_variables[0]) for k in (None, 0.9))
    assert not np.allclose(raw, ema)


def test_layerwise_lr_decay_scales_each_layers_step():
    from kzoo.training import layerwise_lr_multipliers, make_optimizer

    expected = {
        "block_0": 0.125,
        "block_1": 0.25,
        "block_2": 0.5,
        "embedding": 0.0625,
    }  # 3 blocks, decay 0.5
    steps = {}
    for decayed in (True, False):
        task = (
            _classifier()
        )  # same seed, same weights, no dropout: the same gradients in both runs
        multipliers = layerwise_lr_multipliers(task, 0.5) if decayed else None
        task.compile(
            optimizer=make_optimizer(
                1e-3, weight_decay=0.0, clipnorm=None, lr_multipliers=multipliers
            )
        )
        before = [keras.ops.convert_to_numpy(v) for v in task.trainable_variables]
        task.fit(*_data(), batch_size=32, epochs=1, verbose=0)  # one step
        steps[decayed] = {
            v.path: keras.ops.convert_to_numpy(v) - b
            for v, b in zip(task.trainable_variables, before)
        }
    for path, step in steps[True].items():
        part = next((p for p in expected if p in path.split("/")), None)
        # Adam's step is linear in the learning rate: each layer's step is its multiplier times the
        # plain one
        # (atol: float32 spacing near weights of 1).
        np.testing.assert_allclose(
            step, expected.get(part, 1.0) * steps[False][path], rtol=1e-3, atol=1e-7, err_msg=path
        )
    assert any("block_0" in p and np.abs(s).max() > 0 for p, s in steps[True].items())
