"""What a process that only waits for its workers tells its progress bars (trials ending in the storage), and
what it makes of workers that failed."""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial

from harness.errors import HarnessError
from harness.executor import Hooks
from harness.plan import Cell, Plan
from harness.store import RunStore


class TrialWatcher:
    """Reads each cell's trials from the storage and reports the ones that ended since the last look."""

    def __init__(self, plan: Plan, store: RunStore, hooks: Hooks) -> None:
        self.plan, self.store, self.hooks = plan, store, hooks
        self.studies: dict[str, optuna.Study] = {}
        names = set(optuna.get_all_study_names(store.storage))
        self.seen = {cell.study_name: {t.number for t in self.ended(cell, names)} for cell in plan.cells}

    def ended(self, cell: Cell, names: set[str]) -> list[FrozenTrial]:
        """The cell's finished trials; a study the workers have not created yet (not in `names`) has none."""
        if cell.study_name not in self.studies:
            if self.store.study_name(cell) not in names:
                return []
            self.studies[cell.study_name] = self.store.study(cell)
        trials = self.studies[cell.study_name].get_trials(deepcopy=False)
        return [t for t in trials if t.state.is_finished()]

    def poll(self) -> None:
        if self.hooks.on_trial is None:
            return
        names = set(optuna.get_all_study_names(self.store.storage))
        for cell in self.plan.cells:
            for trial in self.ended(cell, names):
                if trial.number not in self.seen[cell.study_name]:
                    self.seen[cell.study_name].add(trial.number)
                    self.hooks.on_trial(cell, trial)


def settle_failed_workers(failures: list[str], workers: int, hooks: Hooks) -> None:
    """Raise when every worker failed, naming the first failure; when only some did, warn and let the run end
    with its report, since a worker that ended well ended only when every cell's budget was spent."""
    if not failures:
        return
    summary = f"{len(failures)} worker(s) failed; {failures[0]}"
    if len(failures) == workers:
        raise HarnessError(summary)
    if hooks.on_warning is not None:
        hooks.on_warning(f"{summary}; the other workers spent every cell's budget")
