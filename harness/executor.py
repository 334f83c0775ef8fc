"""Running cells: one Optuna study per (task, strategy, seed), trials trained by the one trainer.

An executor decides where cells run (this process, worker processes, other machines); every one
of them trains trials through the same `CellRunner`, so trials are the same whoever runs them.

A cell resumes where it stopped: trials that ended (complete, pruned, or failed with a recorded
reason) count against its budget and are never re-run; fixed configurations that were lost to an
interruption are enqueued again.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from harness.options import Options
from harness.plan import Cell, Plan
from harness.registry import Registry
from harness.seeding import sampler_seed, training_seed
from harness.space import config_key
from harness.budget import Budget, Spent, counts_against_budget
from harness.store import RunStore
from harness.strategy import SearchPlan
from harness.task import Data
from harness.trainer import Diverged, EpochRecord, RangeTest, fit, lr_range_test

optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported by the caller, in one line

TrialHook = Callable[[Cell, FrozenTrial], None]
EpochHook = Callable[[EpochRecord], None]
executors: Registry = Registry("executor")


@dataclass(frozen=True)
class Hooks:
    """What a caller (the CLI's progress bars) hears while a plan runs."""

    on_cell: Callable[[Cell], None] | None = None
    on_trial: TrialHook | None = None
    on_epoch: EpochHook | None = None


def missing_configs(planned: list[Mapping[str, Any]], trials: list[FrozenTrial]) -> list[Mapping[str, Any]]:
    """Planned fixed configurations not yet run nor waiting in the queue (a multiset difference)."""
    have = Counter(config_key(t.params) for t in trials if counts_against_budget(t))
    have += Counter(config_key(t.system_attrs.get("fixed_params", {})) for t in trials if t.state == TrialState.WAITING)
    missing = []
    for config in planned:
        key = config_key(config)
        if have[key] > 0:
            have[key] -= 1
        else:
            missing.append(config)
    return missing


def enqueue_planned(study: optuna.Study, search: SearchPlan, budget: Budget) -> None:
    """Queue a strategy's fixed configurations, cycled to fill the budget, skipping those already run.

    A budget in trials queues them all up front (workers sharing the study share the queue). A
    budget in epochs or seconds has no trial count known in advance: called before each trial,
    this queues the next configuration of the cycle, for as long as the budget lasts.
    """
    if not search.configs:
        return
    trials = study.get_trials(deepcopy=False)
    if budget.trials is not None:
        count, at_most = budget.trials, None
    else:
        count, at_most = len(search.configs) * (1 + sum(map(counts_against_budget, trials)) // len(search.configs)), 1
    planned = [search.configs[i % len(search.configs)] for i in range(count)]
    for config in missing_configs(planned, trials)[:at_most]:
        study.enqueue_trial(dict(config), skip_if_exists=False)


def spend(study: optuna.Study, search: SearchPlan, budget: Budget, objective: Callable[[optuna.Trial], float],
          **optimize: Any) -> Spent:
    """Run the strategy's trials one at a time while budget is left, and return what the cell spent.

    A trial starts only while the budget is not exhausted and always finishes, so a cell exceeds
    its budget by at most the last trial's remaining epochs (or seconds), whatever the strategy.
    """
    study.sampler, study.pruner = search.sampler, search.pruner
    while not budget.exhausted(spent := Spent.of(study.get_trials(deepcopy=False))):
        enqueue_planned(study, search, budget)
        study.optimize(objective, n_trials=1, **optimize)
    return spent


class CellRunner:
    """Runs cells in this process, one trial at a time, on one device."""

    def __init__(self, plan: Plan, store: RunStore, device: torch.device) -> None:
        self.plan, self.store, self.device = plan, store, device
        self._data: dict[str, Data] = {}

    def data(self, cell: Cell) -> Data:
        """Each task's data, loaded and moved to the device once per process."""
        if cell.task.label not in self._data:
            self._data[cell.task.label] = cell.task.task.data().to(self.device)
        return self._data[cell.task.label]

    def run_cell(self, cell: Cell, on_trial: TrialHook | None = None, on_epoch: EpochHook | None = None) -> None:
        budget = cell.strategy.budget
        study = self.store.study(cell)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # trials whose process died: failed, not counted
        trials = study.get_trials(deepcopy=False)
        if budget.exhausted(Spent.of(trials)):
            return
        search = self.search_plan(cell, len(trials))
        study.set_user_attr("strategy_note", search.note)
        self.data(cell)  # load before the first trial starts its clock

        def objective(trial: optuna.Trial) -> float:
            return self.run_trial(cell, trial, on_epoch, search.lr_range_test)

        callbacks = [lambda _study, frozen: on_trial(cell, frozen)] if on_trial else None
        spent = spend(study, search, budget, objective, catch=(Diverged,), callbacks=callbacks)
        study.set_user_attr("spent", asdict(spent))  # the cell's own account, beside its trials

    def search_plan(self, cell: Cell, trials_so_far: int) -> SearchPlan:
        """The strategy's plan; its fixed configurations never change on resume, but its sampler
        is seeded afresh so a resumed study does not replay the draws it already made."""
        strategy, space, budget = cell.strategy.strategy, cell.task.space, cell.strategy.budget
        search = strategy.plan(space, budget, sampler_seed(cell.seed, 0))
        if trials_so_far:
            search = replace(search, sampler=strategy.plan(space, budget, sampler_seed(cell.seed, trials_so_far)).sampler)
        return search

    def run_trial(self, cell: Cell, trial: optuna.Trial, on_epoch: EpochHook | None = None,
                  range_test: RangeTest | None = None) -> float:
        """Train one configuration; report every epoch so pruners can act and curves survive a stop.

        With a `range_test` the learning rate is first picked by one on a fresh model (same seed),
        and the sweep's epochs are recorded so they count against the budget.
        """
        config = cell.task.space.suggest(trial)
        seed = training_seed(cell.seed, trial.number)
        trial.set_user_attr("train_seed", seed)
        data = self.data(cell)
        curve: list[dict[str, float]] = []

        def report(record: EpochRecord) -> None:
            curve.append(asdict(record))
            trial.set_user_attr("curve", curve)
            trial.report(record.val_accuracy, record.epoch)
            if on_epoch is not None:
                on_epoch(record)
            if record.epoch < cell.strategy.budget.epochs and trial.should_prune():  # a finished trial is complete
                raise optuna.TrialPruned(f"pruned after epoch {record.epoch}")

        try:
            if range_test is not None:
                config["lr"] = self.pick_lr(cell, trial, config, range_test, seed)
            trial.set_user_attr("config", config)
            torch.manual_seed(seed)
            model = cell.task.task.model(config, data).to(self.device)
            result = fit(model, data, config, cell.strategy.budget.epochs, seed, on_epoch=report)
        except Diverged as error:
            trial.set_user_attr("fail_reason", str(error))
            trial.set_user_attr("extra_epochs", trial.user_attrs.get("extra_epochs", 0.0) + error.epochs)
            raise
        trial.set_user_attr("test_accuracy", result.test_accuracy)
        trial.set_user_attr("test_loss", result.test_loss)
        return result.val_accuracy

    def pick_lr(self, cell: Cell, trial: optuna.Trial, config: dict[str, Any], range_test: RangeTest,
                seed: int) -> float:
        """Smith's range test on a fresh model with the trial's seed; the sweep is recorded and its epochs counted."""
        data = self.data(cell)
        torch.manual_seed(seed)
        probe = lr_range_test(cell.task.task.model(config, data).to(self.device), data, config, range_test, seed)
        trial.set_user_attr("lr_range_test", asdict(probe))
        trial.set_user_attr("extra_epochs", probe.epochs)
        return probe.lr


class Executor(Options):
    """Where a plan's cells run; its fields are the options of the spec's `executor:` entry."""

    @abstractmethod
    def run(self, plan: Plan, store: RunStore, device: torch.device, hooks: Hooks) -> None:
        """Run (or resume) every cell of `plan` until each has spent its budget."""


@executors.register("local")
class Local(Executor):
    """In this process, one trial at a time, on one device: the default."""

    def run(self, plan: Plan, store: RunStore, device: torch.device, hooks: Hooks) -> None:
        runner = CellRunner(plan, store, device)
        for cell in plan.cells:
            if hooks.on_cell is not None:
                hooks.on_cell(cell)
            runner.run_cell(cell, hooks.on_trial, hooks.on_epoch)
