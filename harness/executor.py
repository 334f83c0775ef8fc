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
from harness.cost import metered
from harness.trainer import Diverged, EpochRecord, FitResult, device_bytes, fit, release_memory

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
    """Queue a strategy's fixed configurations, cycled to fill the budget, skipping those already run."""
    if search.configs:
        count = budget.planned_trials or len(search.configs)
        planned = [search.configs[i % len(search.configs)] for i in range(count)]
        for config in missing_configs(planned, study.get_trials(deepcopy=False)):
            study.enqueue_trial(dict(config), skip_if_exists=False)


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
        study = self.open_cell(cell)
        if study is not None:
            self.run_trials(cell, study, on_trial, on_epoch)

    def open_cell(self, cell: Cell) -> optuna.Study | None:
        """The cell's study with its strategy's sampler, pruner and queued configurations; None once spent."""
        budget = self.plan.budget
        study = self.store.study(cell)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # trials whose process died: failed, not counted
        trials = study.get_trials(deepcopy=False)
        if budget.exhausted(Spent.of(trials)):
            return None
        search = self.search_plan(cell, len(trials))
        study.sampler, study.pruner = search.sampler, search.pruner
        study.set_user_attr("strategy_note", search.note)
        self.data(cell)  # load before the first trial starts its clock
        enqueue_planned(study, search, budget)
        return study

    def run_trials(self, cell: Cell, study: optuna.Study, on_trial: TrialHook | None,
                   on_epoch: EpochHook | None) -> None:
        """One trial at a time until the budget is spent."""
        budget = self.plan.budget

        def objective(trial: optuna.Trial) -> float:
            return self.run_trial(cell, trial, on_epoch)

        callbacks = [lambda _study, frozen: on_trial(cell, frozen)] if on_trial else None
        while not budget.exhausted(Spent.of(study.get_trials(deepcopy=False))):
            before = device_bytes(self.device)
            study.optimize(objective, n_trials=1, catch=(Diverged,), callbacks=callbacks)
            release_memory(self.device, before)  # once Optuna has let go of the trial's frames

    def search_plan(self, cell: Cell, trials_so_far: int) -> SearchPlan:
        """The strategy's plan; its fixed configurations never change on resume, but its sampler
        is seeded afresh so a resumed study does not replay the draws it already made."""
        strategy, space, budget = cell.strategy.strategy, cell.task.space, self.plan.budget
        search = strategy.plan(space, budget, sampler_seed(cell.seed, 0))
        if trials_so_far:
            search = replace(search, sampler=strategy.plan(space, budget, sampler_seed(cell.seed, trials_so_far)).sampler)
        return search

    def run_trial(self, cell: Cell, trial: optuna.Trial, on_epoch: EpochHook | None = None) -> float:
        """Train one configuration; report every epoch so pruners can act and curves survive a stop."""
        config = cell.task.space.suggest(trial)
        seed = training_seed(cell.seed, trial.number)
        trial.set_user_attr("config", config)
        trial.set_user_attr("train_seed", seed)
        data = self.data(cell)
        torch.manual_seed(seed)
        model = cell.task.task.model(config, data).to(self.device)
        try:
            with metered(self.device) as cost:
                result = fit(model, data, config, self.plan.budget.epochs, seed,
                             on_epoch=epoch_reporter(trial, on_epoch), compile=self.plan.executor.compile)
        except Diverged as error:
            trial.set_user_attr("fail_reason", str(error))
            raise
        finally:
            for key, value in cost.attrs().items():
                trial.set_user_attr(key, value)
        record_result(trial, result)
        return result.val_accuracy


def epoch_reporter(trial: optuna.Trial, on_epoch: EpochHook | None) -> EpochHook:
    """Each epoch: store the curve so far, report to the pruner, tell the caller; raise if the trial is pruned."""
    curve: list[dict[str, float]] = []

    def report(record: EpochRecord) -> None:
        curve.append(asdict(record))
        trial.set_user_attr("curve", curve)
        trial.report(record.val_accuracy, record.epoch)
        if on_epoch is not None:
            on_epoch(record)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {record.epoch}")

    return report


def record_result(trial: optuna.Trial, result: FitResult) -> None:
    trial.set_user_attr("test_accuracy", result.test_accuracy)
    trial.set_user_attr("test_loss", result.test_loss)
    if result.compile_seconds:
        trial.set_user_attr("compile_seconds", result.compile_seconds)


class Executor(Options):
    """Where a plan's cells run; its fields are the options of the spec's `executor:` entry."""

    compile: bool = False  # torch.compile every model; the compile time is recorded apart (compile_seconds)

    @abstractmethod
    def run(self, plan: Plan, store: RunStore, device: torch.device, hooks: Hooks) -> None:
        """Run (or resume) every cell of `plan` until each has spent its budget."""


@executors.register("local")
class Local(Executor):
    """In this process, one trial at a time, on one device: the default."""

    def runner(self, plan: Plan, store: RunStore, device: torch.device) -> CellRunner:
        return CellRunner(plan, store, device)

    def run(self, plan: Plan, store: RunStore, device: torch.device, hooks: Hooks) -> None:
        runner = self.runner(plan, store, device)
        for cell in plan.cells:
            if hooks.on_cell is not None:
                hooks.on_cell(cell)
            runner.run_cell(cell, hooks.on_trial, hooks.on_epoch)


import harness.batched  # noqa: E402,F401  registers `batched`, which builds on CellRunner above
