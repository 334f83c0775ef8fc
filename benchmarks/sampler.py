"""Sampler cost: the per-trial suggest + tell time of every registered strategy as its study grows.

Each strategy plans for the digits task's search space (training hyperparameters, conditional
momentum, architecture) and is asked for configurations by ask/tell on an in-memory study, scored by
a cheap synthetic objective with no training; fixed configurations (manual, grid) are enqueued as
the executor enqueues them. The figure that matters is the share of a typical 30-second GPU trial.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping
from typing import Any

import optuna

from harness.budget import Budget
from harness.executor import AsSearched, enqueue_planned
from harness.plugins import load_builtins
from harness.strategy import strategies
from tasks.digits import Digits

TRIAL_SECONDS = 30.0  # a typical GPU trial, what the sampler's time is compared with
SECONDS_PER_STRATEGY = 120.0  # a sampler slower than this stops early and reports the sizes it reached


def objective(config: Mapping[str, Any]) -> float:
    """A smooth synthetic score: best near lr 0.03, little L2 weight decay (AdamW's decoupled decay near 1e-2), more
    width; the rest is noise-free."""
    decay = (math.log10(config["weight_decay"]) + 5 if "weight_decay" in config
             else math.log10(config["decoupled_decay"]) + 2)
    score = -(math.log10(config["lr"]) + 1.5) ** 2 - 0.1 * decay ** 2
    score += 0.05 * config["width"] / 32 - 0.2 * config["dropout"] + 0.01 * config["depth"]
    return score + (0.05 if config["optimizer"] == "sgd" else 0.0)


def per_trial_seconds(name: str, sizes: list[int]) -> dict[int, float]:
    """Mean ask + suggest + tell seconds over the trials just before each study size in `sizes`."""
    space = Digits().space()
    budget = Budget(epochs=2, trials=max(sizes))  # two epochs: a pruner needs one it could stop a trial after
    search = strategies.get(name)().plan(space, budget, seed=0)
    study = optuna.create_study(direction="maximize", sampler=search.sampler, pruner=search.pruner)
    enqueue_planned(study, AsSearched(search.configs, space), budget)
    seconds: list[float] = []
    started = time.perf_counter()
    while len(seconds) < max(sizes) and time.perf_counter() - started < SECONDS_PER_STRATEGY:
        start = time.perf_counter()
        trial = study.ask()
        value = objective(space.suggest(trial))
        study.tell(trial, value)
        seconds.append(time.perf_counter() - start)
    return {n: statistics.mean(seconds[max(0, n - max(2, n // 10)):n]) for n in sizes if n <= len(seconds)}


def run(full: bool) -> dict[str, Any]:
    load_builtins()
    sizes = [10, 100, 1000] if full else [10, 100]
    figures: dict[str, dict[int, float]] = {}
    for entry in strategies:
        try:
            figures[entry.name] = per_trial_seconds(entry.name, sizes)
        except (TypeError, ValueError) as error:  # a strategy that needs options or refuses this space
            figures[entry.name] = {"skipped": f"{type(error).__name__}: {error}"}
    timed = {name: by_size for name, by_size in figures.items() if "skipped" not in by_size}
    largest = max(sizes)
    reached = {name: max(by_size) for name, by_size in timed.items()}
    slowest = max(timed, key=lambda name: timed[name][reached[name]])
    worst = timed[slowest][reached[slowest]]
    share = {name: {n: s / TRIAL_SECONDS for n, s in by_size.items()} for name, by_size in timed.items()}
    return {"summary": f"slowest sampler {slowest}: {worst * 1e3:.1f} ms per trial at {reached[slowest]} trials = "
                       f"{worst / TRIAL_SECONDS:.3%} of a {TRIAL_SECONDS:g} s trial "
                       f"(strategies: {', '.join(timed)}; sizes {sizes})",
            "ratio": worst / TRIAL_SECONDS, "sizes": sizes, "largest": largest, "trial_seconds": TRIAL_SECONDS,
            "seconds_per_trial": figures, "share_of_trial": share}
