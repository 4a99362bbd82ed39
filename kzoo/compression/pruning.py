"""Magnitude pruning during fine-tuning: a `fit` callback that zeroes the smallest weights of the
backbone's projections on a sparsity schedule and keeps them zero.

The masks are the zeros of the weights themselves: after every step the callback multiplies each
pruned kernel by its mask, so a checkpoint holds exactly the pruned weights, and a resumed run
rebuilds the masks from them (a float32 weight that training leaves at exactly 0.0 is, for
practical purposes, never seen). Resuming is therefore exact with no state of its own.

Example:
    >>> pruning = MagnitudePruning(final_sparsity=0.8, end_step=1000)
    >>> classifier.fit(batches, epochs=3, callbacks=[pruning])
"""

import keras
import numpy as np

from kzoo.models.weights import LORA_TARGETS, layer_path


class MagnitudePruning(keras.callbacks.Callback):
    """Prunes each target kernel to the sparsity of a cubic schedule (Zhu & Gupta, 2017):
    `final + (initial - final) · (1 - progress)³` from `begin_step` to `end_step`, updating the
    masks every `frequency` steps and applying them after every step.

    `targets` name the projections (`kzoo.models.weights.LORA_TARGETS`: "qkv", "output",
    "ffn_in", "ffn_out"); every block's are pruned, each kernel to the same sparsity.
    """

    def __init__(
        self,
        final_sparsity: float,
        end_step: int,
        begin_step: int = 0,
        frequency: int = 100,
        initial_sparsity: float = 0.0,
        targets=tuple(LORA_TARGETS),
    ):
        super().__init__()
        for name, value in (
            ("final_sparsity", final_sparsity),
            ("initial_sparsity", initial_sparsity),
        ):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value!r} is invalid: expected a fraction in [0, 1).")
        if not 0 <= begin_step < end_step or frequency < 1:
            raise ValueError(
                f"begin_step={begin_step}, end_step={end_step}, frequency={frequency} are "
                f"invalid: expected 0 <= begin_step < end_step and frequency >= 1."
            )
        unknown = sorted(set(targets) - set(LORA_TARGETS))
        if unknown:
            raise ValueError(
                f"targets {unknown} are invalid: expected some of {tuple(LORA_TARGETS)}."
            )
        self.final, self.initial = final_sparsity, initial_sparsity
        self.begin, self.end, self.frequency = begin_step, end_step, frequency
        self.targets = targets
        self.kernels, self.masks = [], []

    def sparsity(self, step: int) -> float:
        """The schedule's sparsity at optimizer step `step`."""
        progress = min(max((step - self.begin) / (self.end - self.begin), 0.0), 1.0)
        return self.final + (self.initial - self.final) * (1.0 - progress) ** 3

    def on_train_begin(self, logs=None):
        self.kernels = prunable_kernels(self.model.backbone, self.targets)
        self.masks = [keras.ops.cast(kernel != 0, kernel.dtype) for kernel in self.kernels]

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if self.begin <= step <= self.end and (step - self.begin) % self.frequency == 0:
            self.masks = [_magnitude_mask(k.numpy(), self.sparsity(step)) for k in self.kernels]
        for kernel, mask in zip(self.kernels, self.masks):
            kernel.assign(kernel * mask)


def prunable_kernels(backbone, targets=tuple(LORA_TARGETS)) -> list:
    """The kernels of the projections named in `targets`, in every block."""
    paths = {
        layer_path(LORA_TARGETS[target], i)
        for target in targets
        for i in range(backbone.config.num_layers)
    }
    return [layer.kernel for layer in backbone._flatten_layers() if layer.path in paths]


def prune_magnitude(model, sparsity: float, targets=tuple(LORA_TARGETS)):
    """One-shot magnitude pruning in place: each target kernel of `model`'s backbone loses the
    `sparsity` fraction of its weights with the smallest magnitudes."""
    for kernel in prunable_kernels(model.backbone, targets):
        kernel.assign(_magnitude_mask(kernel.numpy(), sparsity) * kernel.numpy())
    return model


def _magnitude_mask(kernel: np.ndarray, sparsity: float) -> np.ndarray:
    """1 for the weights kept, 0 for the `sparsity` fraction with the smallest magnitudes."""
    count = round(sparsity * kernel.size)
    mask = np.ones(kernel.size, kernel.dtype)
    mask[np.argsort(np.abs(kernel), axis=None, kind="stable")[:count]] = 0
    return mask.reshape(kernel.shape)


def sparsity_of(model) -> dict[str, float]:
    """{kernel path: fraction of zeros} for the backbone's dense kernels."""
    return {
        layer.kernel.path: float(np.mean(layer.kernel.numpy() == 0))
        for layer in model.backbone._flatten_layers()
        if hasattr(layer, "kernel") and layer.path.startswith("block_")
    }
