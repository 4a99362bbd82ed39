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
    return tf.train.Checkpoint(model=task, optimizer=task.optimizer, variables=list(task.variables))


def checkpoint_manager(task, directory, keep=3) -> tf.train.CheckpointManager:
    """TF's manager writes the data files first and the index file last (atomically), so a
    crash mid-save leaves the previous checkpoint as the latest good one."""
    return tf.train.CheckpointManager(_checkpoint(task), str(directory), max_to_keep=keep)


def restore_latest(task, directory) -> int:
    """Restores model, optimizer (and with it the step and LR-schedule position) from the
    newest readable checkpoint; returns its step, 0 when there is none."""
    task.optimizer.build(task.trainable_variables)
    state = tf.train.get_checkpoint_state(str(directory))
    candidates = list(reversed(state.all_model_checkpoint_paths)) if state else []
    for path in candidates:
        try:
            _checkpoint(task).restore(path).assert_existing_objects_matched()
            return int(task.optimizer.iterations.numpy())
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as error:  # IndexError: truncated file
            warnings.warn(f"checkpoint {path} is unreadable ({type(error).__name__}: "
                          f"{str(error).splitlines()[0][:200]}); trying an older one.")
    if candidates:
        raise ValueError(f"{directory}: no readable checkpoint among {candidates}; "
                         f"delete the directory to start over.")
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
    return [int(Path(p).name.split("-")[-1]) for p in (state.all_model_checkpoint_paths if state else [])]
