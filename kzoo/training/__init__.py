"""Optimizer, schedule, callbacks and the training loop."""

from kzoo.training.loop import train
from kzoo.training.optimizer import ScaledAdamW, WarmupDecay, layerwise_lr_multipliers, make_optimizer

__all__ = ["ScaledAdamW", "WarmupDecay", "layerwise_lr_multipliers", "make_optimizer", "train"]
