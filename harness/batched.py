"""The `batched` executor: a cell's trials asked K at a time and trained together as one stacked model.

Small models leave a large GPU mostly idle; training K trials as one vmapped model (harness.stacked)
multiplies trials per hour. Every trial is still its own Optuna trial with its own configuration,
training seed, curve, test score and cost, stored exactly as the local executor stores them, so
reports cannot tell the two apart (their numbers agree within float tolerance).

Asking K trials before telling any works for every strategy: queued configurations (manual, grid)
are popped K at a time, random and QMC samplers do not look at results, and model-based samplers
(TPE, GP) propose K points from the trials that have ended, as in Optuna's own parallel optimisation.
Trials whose configurations differ in architecture or batch size cannot share a stack; they are
trained in groups of equal shape (in the worst case one at a time). A budget in seconds counts each
trial's wall duration, which for batched trials overlaps, so it is spent faster than it need be.
Optuna records heartbeats only inside `study.optimize`, so trials of an interrupted batch stay
RUNNING rather than failing as stale; they never count against the budget either way, and queued
configurations they held are queued again on resume.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Annotated, Any

import optuna
import torch
from optuna.trial import TrialState
from pydantic import Field, model_validator
from torch import nn

from harness.budget import Budget, Spent
from harness.cost import metered
from harness.executor import CellRunner, EpochHook, Local, TrialHook, epoch_reporter, executors, record_result
from harness.plan import Cell, Plan
from harness.seeding import training_seed
from harness.stacked import architecture, fit_batched
from harness.store import RunStore
from harness.trainer import Diverged, TrainConfig, device_bytes, release_memory


def trials_left(budget: Budget, spent: Spent) -> int | None:
    """How many more full-length trials the budget allows; None when it counts seconds."""
    if budget.trials is not None:
        return budget.trials - spent.trials
    if budget.total_epochs is not None:
        return math.ceil((budget.total_epochs - spent.epochs) / budget.epochs)
    return None


class BatchedRunner(CellRunner):
    """Runs cells in this process, `batch_trials` trials at a time as one stacked model."""

    def __init__(self, plan: Plan, store: RunStore, device: torch.device, batch_trials: int) -> None:
        super().__init__(plan, store, device)
        self.batch_trials = batch_trials

    def run_trials(self, cell: Cell, study: optuna.Study, on_trial: TrialHook | None,
                   on_epoch: EpochHook | None) -> None:
        budget = self.plan.budget
        while not budget.exhausted(spent := Spent.of(study.get_trials(deepcopy=False))):
            left = trials_left(budget, spent)
            with warnings.catch_warnings():  # heartbeats are recorded by study.optimize only; see the module notes
                warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                trials = [study.ask() for _ in range(min(self.batch_trials, left or self.batch_trials))]
            before = device_bytes(self.device)
            models = [self.model(cell, trial) for trial in trials]
            for group in groups(models, [trial.user_attrs["config"] for trial in trials]):
                self.run_batch(cell, study, [trials[i] for i in group], [models[i] for i in group],
                               on_trial, on_epoch)
            del models
            release_memory(self.device, before)

    def model(self, cell: Cell, trial: optuna.Trial) -> nn.Module:
        """The trial's configuration and seed recorded, and its model built as the local executor builds it."""
        config = cell.task.space.suggest(trial)
        seed = training_seed(cell.seed, trial.number)
        trial.set_user_attr("config", config)
        trial.set_user_attr("train_seed", seed)
        torch.manual_seed(seed)
        return cell.task.task.model(config, self.data(cell)).to(self.device)

    def run_batch(self, cell: Cell, study: optuna.Study, trials: list[optuna.Trial], models: list[nn.Module],
                  on_trial: TrialHook | None, on_epoch: EpochHook | None) -> None:
        """Train one stack of trials and tell each its own outcome; an unexpected error is raised after."""
        reporters = [epoch_reporter(trial, on_epoch) for trial in trials]
        with metered(self.device) as cost:
            outcomes = fit_batched(models, self.data(cell), [trial.user_attrs["config"] for trial in trials],
                                   self.plan.budget.epochs, [trial.user_attrs["train_seed"] for trial in trials],
                                   on_epoch=lambda i, record: reporters[i](record))
        total_seconds = sum(o.seconds for o in outcomes) or 1.0
        unexpected = None
        for trial, outcome in zip(trials, outcomes):
            for key, value in cost.attrs(share=outcome.seconds / total_seconds).items():
                trial.set_user_attr(key, value)
            if outcome.result is not None:
                record_result(trial, outcome.result)
                frozen = study.tell(trial, outcome.result.val_accuracy)
            elif isinstance(outcome.error, optuna.TrialPruned):
                frozen = study.tell(trial, state=TrialState.PRUNED)
            else:
                if isinstance(outcome.error, Diverged):
                    trial.set_user_attr("fail_reason", str(outcome.error))
                else:
                    unexpected = unexpected or outcome.error
                frozen = study.tell(trial, state=TrialState.FAIL)
            if on_trial is not None:
                on_trial(cell, frozen)
        if unexpected is not None:
            raise unexpected


def groups(models: list[nn.Module], configs: list[Mapping[str, Any]]) -> list[list[int]]:
    """Indices of the trials that can share a stack: same architecture, same batch size."""
    by_shape: dict[tuple, list[int]] = {}
    for i, (model, config) in enumerate(zip(models, configs)):
        by_shape.setdefault((architecture(model), TrainConfig.from_config(config).batch_size), []).append(i)
    return list(by_shape.values())


@executors.register("batched")
class Batched(Local):
    """In this process, `batch_trials` trials of one architecture at a time as one stacked model (vmap)."""

    batch_trials: Annotated[int, Field(ge=1)] = 8  # 8-32 suit small conv nets on one large GPU

    @model_validator(mode="after")
    def no_compile(self) -> Batched:
        if self.compile:
            raise ValueError("compile: true is not supported by the batched executor (vmap); use executor: local")
        return self

    def runner(self, plan: Plan, store: RunStore, device: torch.device) -> CellRunner:
        return BatchedRunner(plan, store, device, self.batch_trials)
