"""Optimizers, each registered by name with one line of help, and the training search space.

Learning-rate schedules live in `harness.schedules`; `schedules` is re-exported here for callers
that import it from this module.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from harness.registry import Registry
from harness.schedules import schedule_space, schedules
from harness.space import Choice, Float, Param, when

optimizers: Registry = Registry("optimizer")


@optimizers.register("sgd")
def sgd(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
        momentum: float = 0.9, nesterov: bool = False) -> torch.optim.Optimizer:
    """SGD with heavy-ball or Nesterov momentum: the conv-net classic."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0,
                           weight_decay=weight_decay)


@optimizers.register("adam")
def adam(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
         beta1: float = 0.9, beta2: float = 0.999) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba, 2015); weight decay is L2 added to the gradient."""
    return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)


@optimizers.register("adamw")
def adamw(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
          beta1: float = 0.9, beta2: float = 0.999) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, the Transformer default."""
    return torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)


@optimizers.register("rmsprop")
def rmsprop(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
            momentum: float = 0.0, alpha: float = 0.99) -> torch.optim.Optimizer:
    """RMSprop (Hinton): per-parameter step sizes from a running mean of squared gradients."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, momentum=momentum, weight_decay=weight_decay)


def training_space(lr: tuple[float, float, float], optimizer_choices: tuple[str, ...] = ("sgd", "adam", "adamw"),
                   batch_sizes: tuple[int, ...] = (32, 64, 128), schedule_choices: tuple[str, ...] = ("constant", "cosine"),
                   default_optimizer: str = "adam", default_schedule: str = "cosine",
                   default_batch_size: int = 64) -> dict[str, Param]:
    """The training hyperparameters every task searches: lr is (low, high, default), searched on a log scale.

    Momentum and Nesterov only exist for SGD; weight decay spans 1e-6..1e-3 (5e-4 is the conv-net default).
    """
    low, high, default = lr
    return {
        "optimizer": Choice(default=default_optimizer, choices=optimizer_choices),
        "lr": Float(default=default, low=low, high=high, log=True),
        "momentum": Float(default=0.9, low=0.8, high=0.99, when=when(optimizer="sgd")),
        "nesterov": Choice(default=False, choices=(False, True), when=when(optimizer="sgd")),
        "weight_decay": Float(default=5e-4, low=1e-6, high=1e-3, log=True),
        **schedule_space(schedule_choices, default_schedule),  # and each schedule's own arguments, conditional
        "batch_size": Choice(default=default_batch_size, choices=batch_sizes),
    }


__all__ = ["optimizers", "schedules", "training_space"]
