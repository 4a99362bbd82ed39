"""Checkpoints that survive crashes: atomic saves, last K kept, corrupt ones skipped on restore."""

import math
import warnings
from pathlib import Path

import keras
import tensorflow as tf


def _checkpoint(task) -> tf.train.Checkpoint:
    # `variables` lists every model variable, including the dropout seed-generator
    # states that Keras does not expose to tf.train tracking; without them a
    # resumed run would draw different dropout masks.
    return tf.train.Checkpoint(
        model=task, optimizer=task.optimizer, variables=list(task.variables)
    )


def checkpoint_manager(task, directory, keep=3) -> tf.train.CheckpointManager:
    """TF's manager writes the data files first and the index file last (atomically), so a
    crash mid-save leaves the previous checkpoint as the latest good one. The state file is
    repaired from the checkpoint files first (`repair_checkpoint_state`)."""
    repair_checkpoint_state(directory)
    return tf.train.CheckpointManager(_checkpoint(task), str(directory), max_to_keep=keep)


def _step_of(prefix) -> int:
    return int(Path(prefix).name.split("-")[-1])


def _indexed_checkpoints(directory) -> list[str]:
    """Checkpoint prefixes found from their index files (written last, atomically), oldest first."""
    found = [str(p)[: -len(".index")] for p in Path(directory).glob("ckpt-*.index")]
    return sorted((p for p in found if Path(p).name.split("-")[-1].isdigit()), key=_step_of)


def _readable_state(directory):
    """The checkpoint state, or None when the file is missing or damaged (TF returns None for a
    text it cannot parse, and raises for bytes that are not UTF-8)."""
    try:
        return tf.train.get_checkpoint_state(str(directory))
    except (UnicodeDecodeError, ValueError, tf.errors.OpError):
        return None


def repair_checkpoint_state(directory) -> bool:
    """Rewrites the `checkpoint` state file from the checkpoint files when it is missing,
    unreadable, or lists fewer checkpoints than the directory holds; returns whether it did.

    The state file is a convenience, not the truth: a damaged one must never make a run start
    again from step 0 and overwrite its good checkpoints.
    """
    found = _indexed_checkpoints(directory)
    if not found:
        return False
    state = _readable_state(directory)
    paths = state.all_model_checkpoint_paths if state else []
    listed = [p for p in paths if Path(p + ".index").exists()]
    if state and {Path(p).name for p in listed} == {Path(p).name for p in found}:
        return False
    warnings.warn(
        f"{directory}: the checkpoint state file is missing, unreadable or incomplete; "
        f"rebuilt it from the {len(found)} checkpoint files (latest: step "
        f"{_step_of(found[-1])})."
    )
    names = [Path(p).name for p in found]  # relative to the directory, as the manager writes them
    tf.compat.v1.train.update_checkpoint_state(
        str(directory), names[-1], all_model_checkpoint_paths=names
    )
    return True


def restore_latest(task, directory) -> int:
    """Restores model, optimizer (and with it the step and LR-schedule position) from the
    newest readable checkpoint; returns its step, 0 when there is none."""
    task.optimizer.build(task.trainable_variables)
    repair_checkpoint_state(directory)
    state = tf.train.get_checkpoint_state(str(directory))
    candidates = list(reversed(state.all_model_checkpoint_paths)) if state else []
    for path in candidates:
        try:
            _checkpoint(task).restore(path).assert_existing_objects_matched()
            return int(task.optimizer.iterations.numpy())
        except (
            tf.errors.OpError,
            ValueError,
            AssertionError,
            IndexError,
        ) as error:  # IndexError: truncated file
            warnings.warn(
                f"checkpoint {path} is unreadable ({type(error).__name__}: "
                f"{str(error).splitlines()[0][:200]}); trying an older one."
            )
    if candidates:
        raise ValueError(
            f"{directory}: no readable checkpoint among {candidates}; move the run "
            "directory aside (to keep it for inspection) and start the run again."
        )
    return 0


class CheckpointSaver(keras.callbacks.Callback):
    """Saves at the end of every epoch (kzoo's loop makes an epoch = one checkpoint interval),
    unless the loss has gone non-finite."""

    def __init__(self, manager):
        super().__init__()
        self.manager = manager

    def on_epoch_end(self, epoch, logs=None):
        if logs and not math.isfinite(logs.get("loss", 0.0)):
            return
        self.manager.save(checkpoint_number=int(self.model.optimizer.iterations.numpy()))


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and remembers the step."""

    def __init__(self):
        super().__init__()
        self.bad_step = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad_step = int(self.model.optimizer.iterations.numpy())
            self.model.stop_training = True


def checkpoint_steps(directory) -> list[int]:
    """Steps of the checkpoints kept in `directory`, oldest first."""
    state = tf.train.get_checkpoint_state(str(directory))
    return [
        int(Path(p).name.split("-")[-1])
        for p in (state.all_model_checkpoint_paths if state else [])
    ]
