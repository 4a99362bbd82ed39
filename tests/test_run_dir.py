"""Run directories are never silently lost or mixed: one process at a time (a lock naming its
holder, taken over when stale), and a damaged checkpoint state file never restarts a run."""

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import training_worker

from kzoo import cli
from kzoo.training.checkpoints import checkpoint_steps, restore_latest
from kzoo.training.run_lock import LOCK_FILE, RunDirectoryInUse, RunLock

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"

_HOLDER = """
import sys, time
from kzoo.training.run_lock import RunLock
with RunLock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _config(tmp_path, run_dir):
    config = tmp_path / "run.yaml"
    config.write_text(
        f"model: {{preset: bert_tiny, overrides: {{num_layers: 1}}}}\n"
        f"data: {{task: mlm_nsp, files: [{DATA / 'wikitext2_sample.txt'}], vocab_size: 500,"
        f" sequence_length: 32}}\n"
        f"training: {{steps: 2, batch_size: 4, checkpoint_every: 2}}\n"
        f"run_dir: {run_dir}\n"
    )
    return config


def test_a_second_process_is_refused_and_a_stale_lock_is_taken_over(tmp_path, capsys):
    run_dir = tmp_path / "bert"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(run_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.main(["pretrain", "--config", str(_config(tmp_path, run_dir))]) == 2
        error = capsys.readouterr().err
        assert f"in use by PID {holder.pid} on host {socket.gethostname()}" in error
        assert error.count("\n") == 1  # one line, no traceback
        assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_FILE]  # nothing written
    finally:
        holder.kill()
        holder.wait()
    with RunLock(run_dir):  # its holder was killed: the lock is stale
        assert "taking over the stale lock" in capsys.readouterr().err
        with pytest.raises(RunDirectoryInUse, match=f"in use by PID {os.getpid()}"):
            RunLock(run_dir).__enter__()  # even this process may not take it twice
    assert not (run_dir / LOCK_FILE).exists()  # released


@pytest.mark.parametrize("damage", ["garbage", "missing", "stale"])
def test_a_damaged_state_file_resumes_from_the_checkpoint_files(damage, tmp_path):
    trained = training_worker.run(tmp_path, total_steps=15)
    state = tmp_path / "checkpoints" / "checkpoint"
    if damage == "garbage":
        state.write_bytes(os.urandom(300))
    elif damage == "missing":
        state.unlink()
    else:  # written before the last checkpoint's index: lists only the older ones
        state.write_text('model_checkpoint_path: "ckpt-5"\nall_model_checkpoint_paths: "ckpt-5"\n')
    task = training_worker.make_task()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert restore_latest(task, tmp_path / "checkpoints") == 15
    assert any(
        "rebuilt it from the 3 checkpoint files (latest: step 15)" in str(w.message)
        for w in caught
    )
    for restored, expected in zip(task.weights, trained.weights):
        np.testing.assert_array_equal(np.asarray(restored), np.asarray(expected))
    assert checkpoint_steps(tmp_path / "checkpoints") == [
        5,
        10,
        15,
    ]  # the state file is whole again


def test_a_changed_config_is_checked_before_anything_is_written(tmp_path, capsys):
    run_dir = tmp_path / "bert"
    config = _config(tmp_path, run_dir)
    assert cli.main(["pretrain", "--config", str(config)]) == 0
    saved = (run_dir / "run.json").read_text()
    before = sorted(p.name for p in (run_dir / "checkpoints").iterdir())

    config.write_text(config.read_text().replace("num_layers: 1", "num_layers: 2"))
    assert cli.main(["pretrain", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert "model.overrides.num_layers: saved 1, given 2" in error and "new run_dir" in error
    assert "delete" not in error

    config.write_text(
        config.read_text()
        .replace("num_layers: 2", "num_layers: 1")
        .replace("batch_size: 4", "batch_size: 8, learning_rate: 0.001")
    )
    assert cli.main(["pretrain", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert "training.batch_size: saved 4, given 8" in error
    assert "--allow-changes training.batch_size --allow-changes training.learning_rate" in error
    assert (run_dir / "run.json").read_text() == saved  # nothing written by the refusals
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == before

    config.write_text(config.read_text().replace("steps: 2,", "steps: 4,"))
    assert (
        cli.main(
            [
                "pretrain",
                "--config",
                str(config),
                "--allow-changes",
                "training.batch_size",
                "--allow-changes",
                "training.learning_rate",
            ]
        )
        == 0
    )
    (entry,) = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert entry["changes"] == {
        "training.batch_size": [4, 8],
        "training.learning_rate": [1e-4, 1e-3],
        "training.steps": [2, 4],
    }
    assert checkpoint_steps(run_dir / "checkpoints")[-1] == 4


_KILLED_DURING_SAVE = """
import os, signal, sys
import keras

def save_then_die(self, filepath, *args, **kwargs):
    with open(filepath, "wb") as f:  # the first bytes of a .keras zip, then the kill
        f.write(b"PK\\x03\\x04" + bytes(4096))
    os.kill(os.getpid(), signal.SIGKILL)

keras.Model.save = save_then_die
from kzoo import cli
cli.main(["pretrain", "--config", sys.argv[1]])
"""


def test_a_kill_during_the_final_save_leaves_a_model_rebuilt_from_the_checkpoint(tmp_path):
    from kzoo.recipes import load_run

    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    assert cli.main(["pretrain", "--config", str(_config(tmp_path, reference_dir))]) == 0
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_DURING_SAVE, str(_config(tmp_path, killed_dir))],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
    )
    assert killed.returncode == -9 and checkpoint_steps(killed_dir / "checkpoints") == [2]
    assert not (killed_dir / "model.keras").exists()  # the partial file never takes its name
    with pytest.warns(UserWarning, match="was missing or damaged; rebuilt it from the checkpoint"):
        rebuilt, _ = load_run(killed_dir)
    reference, _ = load_run(reference_dir)
    for got, expected in zip(rebuilt.weights, reference.weights):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    assert (killed_dir / "model.keras").exists()

    # A truncated file, as a copy cut short (or kzoo 0.1's direct write) leaves it: Keras calls
    # it "File not found"; kzoo names it and rebuilds it.
    raw = (reference_dir / "model.keras").read_bytes()
    (reference_dir / "model.keras").write_bytes(raw[: len(raw) // 2])
    with pytest.warns(UserWarning, match="was missing or damaged"):
        again, _ = load_run(reference_dir)
    for got, expected in zip(again.weights, reference.weights):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_a_damaged_model_without_checkpoints_names_the_fix(tmp_path):
    from kzoo.recipes import load_run

    (tmp_path / "model.keras").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(
        ValueError,
        match=r"model.keras: the file is missing or damaged.*"
        r"no pretraining checkpoints to rebuild it from",
    ):
        load_run(tmp_path)
