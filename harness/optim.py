"""Optimizers, each registered by name with one line of help, and the training search space.

An optimizer's own arguments that only it takes (AdamW's `decoupled_decay`) are registered with it
(`tunable=`, as a schedule's are) and exist only when it is chosen. Learning-rate schedules live in
`harness.schedules`; `schedules` is re-exported here for callers that import it from this module.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Union

import torch

from harness.registry import Registry, UnknownName
from harness.schedules import schedule_space, schedules
from harness.space import Choice, Fixed, Float, FloatBy, Param, Space, when
from harness.tunable import Tunable, shadowed_tunables, tunable_params

optimizers: Registry = Registry("optimizer")


# Each optimizer carries the learning-rate range practitioners start from, as (low, high, default):
# plain SGD wants 1e-2..1e-1 and momentum 0.9 divides that by ten (the step is lr / (1 - momentum)),
# Adam-family rules work at 1e-3..1e-2, Adadelta's rate is a multiplier near 1. Searches may widen them.
# Rules that take `beta1`/`beta2` say so with `betas=True`.
@optimizers.register("sgd", lr=(1e-3, 1e-1, 1e-2))
def sgd(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
        momentum: float = 0.9, nesterov: bool = False) -> torch.optim.Optimizer:
    """SGD with heavy-ball or Nesterov momentum: the conv-net classic."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0,
                           weight_decay=weight_decay)


# AdamW's decay is decoupled from the gradient: each step shrinks the weights by lr x decay, which at Adam's rates
# (a tenth to a hundredth of SGD's) wants decays of 1e-3..1e-1, not the 1e-6..1e-3 of the L2 `weight_decay` the
# other rules add to the gradient. 1e-2 is PyTorch's default and BERT's, 1e-1 GPT-3's.
DECOUPLED_DECAY = Tunable(1e-4, 1e-1, log=True)


def register_adam_rule(name: str, rule: type[torch.optim.Optimizer], lr: tuple[float, float, float],
                       help: str, decoupled: bool = False) -> None:
    """Register an Adam-family rule under one signature, so `beta1`/`beta2` mean the same for all of them.

    A `decoupled` rule (AdamW) takes its weight decay as `decoupled_decay`, searched in its own range, where the
    others take L2's `weight_decay`; the name is not torch's boolean `decoupled_weight_decay` switch.
    """

    def make(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
             beta1: float = 0.9, beta2: float = 0.999) -> torch.optim.Optimizer:
        return rule(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)

    def make_decoupled(params: Iterable[torch.nn.Parameter], lr: float, decoupled_decay: float = 1e-2,
                       beta1: float = 0.9, beta2: float = 0.999) -> torch.optim.Optimizer:
        return make(params, lr, decoupled_decay, beta1, beta2)  # the rule's `weight_decay` is the decoupled one

    tunable = {"decoupled_decay": DECOUPLED_DECAY} if decoupled else {}
    optimizers.register(name, help=help, lr=lr, betas=True, tunable=tunable)(make_decoupled if decoupled else make)


register_adam_rule("adam", torch.optim.Adam, (1e-3, 1e-2, 1e-3),
                   "Adam (Kingma & Ba, 2015); weight decay is L2 added to the gradient.")
register_adam_rule("adamw", torch.optim.AdamW, (1e-4, 1e-2, 1e-3),
                   "AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay (`decoupled_decay`), the "
                   "Transformer default.", decoupled=True)
register_adam_rule("adamax", torch.optim.Adamax, (5e-4, 1e-2, 2e-3),
                   "Adamax (Kingma & Ba, 2015, section 7): Adam under the infinity norm, robust to rare large steps.")
register_adam_rule("nadam", torch.optim.NAdam, (5e-4, 1e-2, 2e-3), "NAdam (Dozat, 2016): Adam with Nesterov momentum.")


@optimizers.register("rmsprop", lr=(1e-4, 1e-2, 1e-3))
def rmsprop(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
            momentum: float = 0.0, alpha: float = 0.99) -> torch.optim.Optimizer:
    """RMSprop (Hinton): per-parameter step sizes from a running mean of squared gradients."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, momentum=momentum, weight_decay=weight_decay)


@optimizers.register("adagrad", lr=(1e-3, 1e-1, 1e-2))
def adagrad(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adagrad (Duchi et al., 2011): step sizes shrink with the sum of squared gradients; good on sparse features."""
    return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)


@optimizers.register("adadelta", lr=(1e-1, 1.0, 1.0))
def adadelta(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
             rho: float = 0.9) -> torch.optim.Optimizer:
    """Adadelta (Zeiler, 2012): Adagrad with a decaying window; its rate is a multiplier, 1 in the paper."""
    return torch.optim.Adadelta(params, lr=lr, rho=rho, weight_decay=weight_decay)


# Rules whose fused step runs on CUDA in every torch we support. Adagrad takes `fused` too, but its fused step
# long ran on the CPU only and rejects CUDA parameters in those releases: every step would fail.
FUSED_ON_CUDA = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)


def fused_on_gpu(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Switch a rule with a fused CUDA kernel (SGD, Adam, AdamW) to it when every parameter is on a GPU.

    The default multi-tensor step launches about a dozen kernels per parameter group and costs
    milliseconds of host time per step, which a small model on a GPU waits for; the fused step is one
    launch. Only before the first step: these rules create their state (on the device) lazily.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if isinstance(optimizer, FUSED_ON_CUDA) and not optimizer.state and params and all(p.is_cuda for p in params):
        for group in optimizer.param_groups:
            group["fused"], group["foreach"] = True, None
    return optimizer


FALLBACK_LR = (1e-4, 1e-1, 1e-3)  # for optimizers registered by plugins without a range


def practical_lr(optimizer: str) -> tuple[float, float, float]:
    """(low, high, default) learning rate practitioners start from with this optimizer."""
    return optimizers.entry(optimizer).meta.get("lr", FALLBACK_LR)


def taking(argument: str) -> tuple[str, ...]:
    """The registered optimizers whose factory takes `argument`."""
    return tuple(entry.name for entry in optimizers if argument in inspect.signature(entry.obj).parameters)


LearningRates = Union[tuple[float, float, float], Mapping[str, tuple[float, float, float]]]


def training_space(lr: LearningRates | None = None,
                   optimizer_choices: tuple[str, ...] = ("sgd", "adam", "adamw"),
                   batch_sizes: tuple[int, ...] = (32, 64, 128), schedule_choices: tuple[str, ...] = ("constant", "cosine"),
                   default_optimizer: str = "adam", default_schedule: str = "cosine",
                   default_batch_size: int = 64) -> dict[str, Param]:
    """The training hyperparameters every task searches: lr is (low, high, default), searched on a log scale.

    Each optimizer searches its own practical range (that of every registered one, so that a spec re-choosing the
    optimizers keeps theirs), unless `lr` gives one range for all or, as a mapping, a range for each optimizer it
    names. Either way, `lr` follows the optimizer (`FloatBy`), so a spec may give each its own range. Momentum and
    Nesterov only exist for SGD, betas for the Adam family. L2 weight
    decay (`weight_decay`, 1e-6..1e-3, 5e-4 the conv-net default) exists for the optimizers that add it to
    the gradient, AdamW's decoupled decay as its own `decoupled_decay` (1e-4..1e-1, default 1e-2).
    """
    given = lr if isinstance(lr, Mapping) else dict.fromkeys(optimizers.names(), lr) if lr else {}
    own = {entry.name: given.get(entry.name) or practical_lr(entry.name) for entry in optimizers}
    offered = [own[name] for name in optimizer_choices]
    learning_rate = FloatBy(default=own[default_optimizer][2], low=min(r[0] for r in offered),
                            high=max(r[1] for r in offered), log=True, by="optimizer",
                            ranges=tuple((name, *lr_range) for name, lr_range in own.items()))
    # every registered Adam-family rule, not only the offered ones: a spec that re-chooses the optimizers (NAdam on
    # a task offering Adam) searches its betas too
    adam_family = when(optimizer=tuple(entry.name for entry in optimizers if entry.meta.get("betas")))
    betas = {"beta1": Float(default=0.9, low=0.8, high=0.95, when=adam_family),
             "beta2": Float(default=0.999, low=0.99, high=0.9999, when=adam_family)}
    shared = {
        "optimizer": Choice(default=default_optimizer, choices=optimizer_choices),
        "lr": learning_rate,
        "momentum": Float(default=0.9, low=0.8, high=0.99, when=when(optimizer="sgd")),
        "nesterov": Choice(default=False, choices=(False, True), when=when(optimizer="sgd")),
        **betas,
        "weight_decay": Float(default=5e-4, low=1e-6, high=1e-3, log=True, when=when(optimizer=taking("weight_decay"))),
    }
    batch_size = {"batch_size": Choice(default=default_batch_size, choices=batch_sizes)}
    # each schedule's own arguments and each optimizer's, conditional; none may take another parameter's name
    schedule = schedule_space(schedule_choices, default_schedule, taken=[*shared, *batch_size])
    own_arguments = tunable_params(optimizers, "optimizer", taken=[*shared, *schedule, *batch_size])
    return {**shared, **own_arguments, **schedule, **batch_size}


def shadowed_arguments(space: Space) -> list[str]:
    """Optimizers' and schedules' tunable arguments that a task's space gives to a parameter of its own: the
    trainer would hand that parameter's value to the optimizer or schedule, never a value from its range."""
    return [*shadowed_tunables(space, optimizers, "optimizer"), *shadowed_tunables(space, schedules, "schedule")]


def unregistered_names(space: Space) -> list[str]:
    """The optimizers and schedules a (possibly overridden) space offers that are not registered: the trainer looks
    each up by name, so one would stop the run at the first trial that draws it, long after the spec was checked."""
    problems = []
    for name, registry in (("optimizer", optimizers), ("schedule", schedules)):
        param = space.get(name)
        for value in param.grid(0) if isinstance(param, (Choice, Fixed)) else ():
            try:
                registry.entry(value)
            except UnknownName as error:
                problems.append(f"{name}: {error}")
    return problems


__all__ = ["LearningRates", "fused_on_gpu", "optimizers", "schedules", "shadowed_arguments", "taking",
           "training_space", "unregistered_names"]
