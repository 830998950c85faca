"""The learning-rate rule: Caffe's "step" policy, lr = base_lr x gamma ^ floor(iteration / step)."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def lr_factor(completed: int, step: int, gamma: float) -> float:
    """The multiplier of every group's base LR for the step taken after `completed` global iterations.

    Caffe counts iterations from 0, so the 5,000 steps numbered 0..4,999 use base_lr and step 5,000 the first
    decayed rate.
    """
    return gamma ** (completed // step)


def step_scheduler(optimizer: Optimizer, step: int, gamma: float) -> LambdaLR:
    """Applies `lr_factor` to each param group's own base LR (the new layer keeps its x10); stepped once per
    iteration, so its state is just the iteration count and restores with `load_state_dict`."""
    return LambdaLR(optimizer, lambda completed: lr_factor(completed, step, gamma))
