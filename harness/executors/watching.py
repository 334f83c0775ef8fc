"""What a process that only waits for its workers tells its progress bars: trials ending in the storage."""

from __future__ import annotations

from optuna.trial import FrozenTrial

from harness.executor import Hooks
from harness.plan import Plan
from harness.store import RunStore


class TrialWatcher:
    """Reads each cell's trials from the storage and reports the ones that ended since the last look."""

    def __init__(self, plan: Plan, store: RunStore, hooks: Hooks) -> None:
        self.plan, self.store, self.hooks = plan, store, hooks
        self.seen = {cell.study_name: {t.number for t in self.ended(cell)} for cell in plan.cells}

    def ended(self, cell) -> list[FrozenTrial]:
        return [t for t in self.store.existing_trials(cell) if t.state.is_finished()]

    def poll(self) -> None:
        if self.hooks.on_trial is None:
            return
        for cell in self.plan.cells:
            for trial in self.ended(cell):
                if trial.number not in self.seen[cell.study_name]:
                    self.seen[cell.study_name].add(trial.number)
                    self.hooks.on_trial(cell, trial)
