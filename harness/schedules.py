"""Learning-rate schedules, each registered by name with one line of help and its searched arguments.

A schedule is a pure function of training progress returning the factor applied to the base
learning rate, so it can be read, plotted and tested without an optimizer around it. `plateau`
also reads the validation losses of the epochs so far, which the trainer hands to any schedule
that takes `val_losses`.

A schedule's own arguments become hyperparameters that exist only when that schedule is chosen
(`step_gamma` only for `step` and `multistep`, ...): their ranges travel with the registry entry
(`tunable=`) and their defaults are the function's own (`harness.tunable`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

from harness.registry import Registry
from harness.space import Choice, Param
from harness.tunable import Tunable, tunable_params

schedules: Registry = Registry("schedule")


@schedules.register("constant")
def constant(step: int, total: int, per_epoch: int) -> float:
    """The base learning rate throughout."""
    return 1.0


@schedules.register("step", tunable={"step_every": Tunable(0.2, 0.5), "step_gamma": Tunable(0.02, 0.5, log=True)})
def step_decay(step: int, total: int, per_epoch: int, step_every: float = 1 / 3, step_gamma: float = 0.1) -> float:
    """Multiply by step_gamma after every `step_every` of training (1/3: the classic 30/60-of-90-epoch decay)."""
    return step_gamma ** math.floor(step / (step_every * total) + 1e-9)


@schedules.register("multistep", tunable={"step_gamma": Tunable(0.02, 0.5, log=True)})
def multistep(step: int, total: int, per_epoch: int, step_gamma: float = 0.1,
              milestones: Sequence[float] = (0.5, 0.75)) -> float:
    """Multiply by step_gamma at each milestone (fractions of training; 1/2 and 3/4: He et al.'s CIFAR ResNet)."""
    return step_gamma ** sum(step >= m * total for m in milestones)


@schedules.register("exponential", tunable={"gamma": Tunable(0.8, 0.99)})
def exponential(step: int, total: int, per_epoch: int, gamma: float = 0.9) -> float:
    """Multiply by gamma after every epoch."""
    return gamma ** (step // per_epoch)


@schedules.register("cosine")
def cosine(step: int, total: int, per_epoch: int) -> float:
    """Cosine annealing towards zero over the run (Loshchilov & Hutter, 2017, without restarts)."""
    return 0.5 * (1.0 + math.cos(math.pi * step / total))


@schedules.register("warmup_cosine", tunable={"warmup": Tunable(0.01, 0.2, log=True)})
def warmup_cosine(step: int, total: int, per_epoch: int, warmup: float = 0.05) -> float:
    """Linear warm-up over the first `warmup` of the steps, then cosine: the Transformer recipe.

    Hugging Face's `get_cosine_schedule_with_warmup` (over total + 1 steps) one step on: its first factor, 0,
    would spend a step at lr 0, so the rate peaks for one step at the end of the warm-up and ends near 0.
    """
    warmup_steps = max(1, round(warmup * total))
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return cosine(step + 1 - warmup_steps, total + 1 - warmup_steps, per_epoch)  # one step into its decay


@schedules.register("one_cycle", tunable={"peak_at": Tunable(0.1, 0.5)})
def one_cycle(step: int, total: int, per_epoch: int, peak_at: float = 0.3, start_div: float = 25.0,
              end_div: float = 1e4) -> float:
    """Smith & Topin's one-cycle policy (2019): cosine rise from lr/25 to lr at `peak_at`, then down to lr/25e4.

    PyTorch's OneCycleLR defaults (pct_start=0.3, div_factor=25, final_div_factor=1e4); its steps are counted as
    `cosine` counts them, so it peaks and ends one step later than OneCycleLR, whose last step is its minimum.
    """
    peak = max(1, round(peak_at * total))
    if step < peak:
        low, high, progress = 1 / start_div, 1.0, step / peak
    else:
        low, high, progress = 1 / (start_div * end_div), 1.0, 1 - (step - peak) / max(1, total - peak)
    return low + (high - low) * 0.5 * (1 - math.cos(math.pi * progress))


@schedules.register("linear")
def linear(step: int, total: int, per_epoch: int) -> float:
    """Linear decay from the base rate to zero over the run (the BERT fine-tuning default)."""
    return 1.0 - step / total


@schedules.register("plateau", tunable={"plateau_factor": Tunable(0.1, 0.5, log=True),
                                         "plateau_patience": Tunable(0, 3)})
def plateau(step: int, total: int, per_epoch: int, val_losses: Sequence[float] = (), plateau_factor: float = 0.1,
            plateau_patience: int = 2, plateau_threshold: float = 1e-4) -> float:
    """Multiply by plateau_factor once validation loss has not improved for more than `plateau_patience` epochs.

    PyTorch's ReduceLROnPlateau (mode min, relative threshold 1e-4, no cooldown) as a pure function
    of the validation losses of the epochs finished so far.
    """
    best, bad_epochs, factor = math.inf, 0, 1.0
    for loss in val_losses:
        if loss < best * (1 - plateau_threshold):
            best, bad_epochs = loss, 0
        else:
            bad_epochs += 1
        if bad_epochs > plateau_patience:
            factor, bad_epochs = factor * plateau_factor, 0
    return factor


def schedule_space(choices: Iterable[str], default: str, taken: Collection[str] = ()) -> dict[str, Param]:
    """`schedule` as a choice, then every registered schedule's tunable arguments, each active only
    for the schedules that take it (so a spec that re-chooses the schedules finds them there); none may be
    named as one of the `taken` parameters of the space around."""
    return {"schedule": Choice(default=default, choices=tuple(choices)),
            **tunable_params(schedules, "schedule", taken)}


__all__ = ["schedules", "schedule_space", "Tunable"]
