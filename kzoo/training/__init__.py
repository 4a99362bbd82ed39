"""Optimizer, schedule, callbacks and the training loop."""

from kzoo.training.loop import train
from kzoo.training.optimizer import WarmupDecay, make_optimizer

__all__ = ["WarmupDecay", "make_optimizer", "train"]
