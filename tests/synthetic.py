"""A cheap synthetic objective for strategy tests: a known function of the hyperparameters, no training.

`run_strategy` spends a budget through the runner's own claim-train-tell loop, with learning curves
reported epoch by epoch so pruners act, optional sleeps so a budget in seconds is spent, and a
diverging corner that fails trials with a recorded reason, as the trainer does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import optuna

from harness.budget import Budget
from harness.claims import Slot
from harness.executor import CellRunner, trial_claims
from harness.plugins import load_builtins
from harness.seeding import derive
from harness.space import Choice, Float, Int, Space, when
from harness.strategy import strategies
from harness.trainer import Diverged

load_builtins()

def quick_options(name: str, budget: Budget) -> dict[str, Any]:
    """GP's acquisition optimisation costs about a second a trial on a loaded CPU: here it gets all but two of
    the planned trials (10 where the budget plans none) as random start-up trials, leaving two model-based
    proposals to check."""
    return {"startup_trials": max(0, (budget.planned_trials or 12) - 2)} if name == "gp" else {}

SPACE = Space({
    "optimizer": Choice(default="adam", choices=("sgd", "adam")),
    "lr": Float(default=1e-2, low=1e-4, high=1.0, log=True),
    "momentum": Float(default=0.9, low=0.5, high=0.99, when=when(optimizer="sgd")),
    "schedule": Choice(default="constant", choices=("constant", "step")),
    "step_gamma": Float(default=0.1, low=0.02, high=0.5, log=True, when=when(schedule="step")),
    "width": Int(default=16, low=8, high=64, log=True),
})


def final_score(config: Mapping[str, Any]) -> float:
    """Best near lr=1e-2, high momentum (so SGD) and dropout 0.2; smooth in every numeric parameter."""
    bonus = 0.2 * config.get("momentum", 0.0) + 0.05 * math.log10(config.get("step_gamma", 0.1) * 10)
    return (-0.25 * (math.log10(config["lr"]) + 2) ** 2 + bonus - (config.get("dropout", 0.2) - 0.2) ** 2
            + 0.01 * math.log2(config.get("width", 16)))


def learning_curve(config: Mapping[str, Any], epoch: int) -> float:
    """Rises towards the final score; better configurations stay better at every epoch (pruners can tell)."""
    return final_score(config) - 2.0 * 0.5 ** epoch


def run_strategy(name: str, seed: int, budget: Budget, seconds_per_epoch: float = 0.0,
                 space: Space = SPACE, **options: Any) -> list[optuna.trial.FrozenTrial]:
    """Spend `budget` with the strategy on the synthetic objective; the study is named, as a cell's is."""
    strategy = strategies.get(name)(**{**quick_options(name, budget), **options})
    plan = strategy.plan(space, budget, seed)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="synthetic/cell", direction="maximize",
                                sampler=plan.sampler, pruner=plan.pruner)

    def objective(trial: optuna.Trial) -> float:
        config = space.suggest(trial)
        trial.set_user_attr("config", config)  # as the runner records it: what trained, in the space's own terms
        curve = []
        for epoch in range(1, budget.epochs + 1):
            time.sleep(seconds_per_epoch)
            if config["lr"] > 0.5 and config.get("optimizer") == "sgd":
                trial.set_user_attr("fail_reason", "loss became non-finite in epoch 1")
                trial.set_user_attr("extra_epochs", 1)  # as the runner records the epoch that diverged
                raise Diverged("synthetic divergence")
            curve.append({"epoch": epoch, "val_accuracy": learning_curve(config, epoch)})
            trial.set_user_attr("curve", curve)
            trial.report(curve[-1]["val_accuracy"], epoch)
            if epoch < budget.epochs and trial.should_prune():
                raise optuna.TrialPruned()
        return curve[-1]["val_accuracy"]

    next_trial = trial_claims(study, storage, plan, budget, space,
                              lambda n: strategy.plan(space, budget, derive(seed, n)).sampler)
    while not isinstance(trial := next_trial(), Slot):
        CellRunner.finish(study, trial, lambda: objective(trial))
    return study.get_trials(deepcopy=False)
