"""The one training loop: `fit` with checkpoints, exact resume, a NaN guard and TensorBoard."""

import math
import sys
from pathlib import Path

import keras

from kzoo.training.checkpoints import CheckpointSaver, NaNGuard, checkpoint_manager, restore_latest
from kzoo.training.distribution import strategy_of, task_scope, worker_dir
from kzoo.training.monitoring import TrainingScalars
from kzoo.training.peak import matmul_peak_flops


def progress_verbosity(verbose):
    """Keras `verbose` for "auto": the progress bar on a terminal, one plain line per interval
    otherwise, so a log file gets lines, not the bar's carriage returns and ANSI escapes."""
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() else 2


def train(
    task,
    batches,
    run_dir,
    total_steps,
    checkpoint_every=100,
    keep=3,
    tokens_per_batch=None,
    verbose="auto",
    validation_data=None,
    flops_per_token=None,
    callbacks=(),
):
    """Trains a compiled task for `total_steps`, resuming from `run_dir/checkpoints` if present.

    Training stops at exactly `total_steps`, which need not be a multiple of
    `checkpoint_every`: the last interval is cut short and checkpointed.
    The batches must be deterministic for a given seed (kzoo's pipelines are):
    on resume, the batches already consumed are skipped, so the run continues as
    if it had never stopped. Each Keras "epoch" is one checkpoint interval.
    `flops_per_token` (see `training_flops_per_token`) adds an `mfu` scalar, measured against
    this machine's matmul peak; `callbacks` are added to kzoo's. Returns the Keras `History`.
    """
    run_dir = Path(run_dir)
    own_dir = worker_dir(run_dir, strategy_of(task))  # run_dir but on extra workers
    manager = checkpoint_manager(task, own_dir / "checkpoints", keep)
    with task_scope(task):  # restoring builds the optimizer's variables
        step = restore_latest(
            task, run_dir / "checkpoints"
        )  # every worker resumes from the chief's checkpoint
    if step and verbose:
        done = " (the run is complete)" if step >= total_steps else ""
        print(
            f"resumed from step {step} of {total_steps} "
            f"(checkpoint {run_dir / 'checkpoints' / f'ckpt-{step}'}){done}",
            flush=True,
        )
    if step >= total_steps:
        return keras.callbacks.History()
    guard = NaNGuard()
    callbacks = [
        guard,
        _StopAtStep(total_steps),
        CheckpointSaver(manager),
        *callbacks,
        keras.callbacks.TensorBoard(
            str(own_dir / "logs"), update_freq=max(1, checkpoint_every // 5)
        ),
    ]
    if tokens_per_batch:
        callbacks.append(
            TrainingScalars(
                own_dir / "logs",
                tokens_per_batch,
                every=max(1, checkpoint_every // 5),
                flops_per_token=flops_per_token,
                peak_flops=_peak(task) if flops_per_token else None,
            )
        )
    history = task.fit(
        batches.skip(step),
        epochs=math.ceil(total_steps / checkpoint_every),
        initial_epoch=step // checkpoint_every,
        steps_per_epoch=checkpoint_every,
        shuffle=False,  # the batches are shuffled by their seed; Keras would only warn
        callbacks=callbacks,
        verbose=progress_verbosity(verbose),
        validation_data=validation_data,
    )
    if guard.bad_step is not None:
        last_good = manager.checkpoints[-1].split("-")[-1] if manager.checkpoints else "none"
        raise FloatingPointError(
            f"loss became NaN or infinite at step {guard.bad_step}; the last good checkpoint "
            f"(step {last_good}) is kept in "
            f"{run_dir / 'checkpoints'}. Lower the learning rate or enable clipping, then resume."
        )
    return history


class _StopAtStep(keras.callbacks.Callback):
    """Ends `fit` once the optimizer has taken `total_steps` steps. `fit` only counts whole epochs
    (checkpoint intervals), and a resumed run's epochs may not start on an interval boundary.
    The step count is read once per epoch, so the training step gains no host read."""

    def __init__(self, total_steps):
        super().__init__()
        self.total_steps = total_steps

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        if (
            self.epoch_start + batch + 1 >= self.total_steps
        ):  # `batch`: the last step run, within the epoch
            self.model.stop_training = True


def _peak(task) -> float:
    # MFU is measured against the peak of the precision the products run in (mixed_bfloat16
    # computes in bfloat16).
    return matmul_peak_flops(
        keras.mixed_precision.dtype_policy().compute_dtype
        if task.dtype_policy is None
        else task.dtype_policy.compute_dtype
    )
