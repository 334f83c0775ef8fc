"""The budget every strategy gets, and what a cell has spent of it.

A budget caps one of three things per cell: trials (each up to `epochs` epochs), total epochs
(so trials a pruner stops early leave epochs for more trials), or seconds (of its trials, summed). What a cell
spent is read from its trials alone, so it is the same for every executor and after a resume.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState


def counts_against_budget(trial: FrozenTrial) -> bool:
    """Ended trials spend budget; a trial failed by an interruption (no recorded reason) does not."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and "fail_reason" in trial.user_attrs)


def trial_epochs(trial: FrozenTrial) -> float:
    """Epochs a trial spent: its learning curve, plus any training outside it (a range test's sweep), and one at the
    least: a trial that failed before it finished an epoch (its model could not be built, it ran out of memory)
    spends one all the same, or trials failing at once would never spend a budget in epochs.

    A sweep counts what it planned until it ends, so a trial that failed during it (an error, not a divergence,
    whose sweep says what it took) counts the whole plan: what it took is unknown, the plan bounds it, and it is
    what the claims counted the trial for while it ran, so a budget in epochs stays a cap. A trial interrupted
    during it (Ctrl-C, a dead worker) spends nothing and runs again."""
    return max(1.0, len(trial.user_attrs.get("curve", ())) + trial.user_attrs.get("extra_epochs", 0.0))


@dataclass(frozen=True)
class Spent:
    """What a cell's ended trials used: counts by state, epochs spent (`trial_epochs`) and seconds taken.

    `started` also counts trials lost to an interruption (run again, so not charged to the budget).
    """

    started: int = 0
    trials: int = 0
    completed: int = 0
    pruned: int = 0
    failed: int = 0
    epochs: float = 0.0
    seconds: float = 0.0

    @classmethod
    def of(cls, trials: Iterable[FrozenTrial]) -> Spent:
        trials = list(trials)
        ended = [t for t in trials if counts_against_budget(t)]
        states = [t.state for t in ended]
        return cls(started=sum(t.state != TrialState.WAITING for t in trials), trials=len(ended), completed=states.count(TrialState.COMPLETE),
                   pruned=states.count(TrialState.PRUNED), failed=states.count(TrialState.FAIL),
                   epochs=sum(map(trial_epochs, ended)),
                   seconds=sum(t.duration.total_seconds() for t in ended if t.duration is not None))


@dataclass(frozen=True)
class Budget:
    """The same for every strategy in a spec: `epochs` per trial at most, and one cap per cell."""

    epochs: int
    trials: int | None = None
    total_epochs: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        caps = [cap for cap in (self.trials, self.total_epochs, self.seconds) if cap is not None]
        if len(caps) != 1:
            raise ValueError("a budget caps exactly one of trials, total_epochs or seconds")

    @property
    def planned_trials(self) -> int | None:
        """How many full-length trials the budget runs: a started trial always finishes, so an epoch budget that is
        not a multiple of `epochs` runs one trial more than it pays for in full; unknown (None) for seconds."""
        if self.trials is not None:
            return self.trials
        if self.total_epochs is not None:
            return math.ceil(self.total_epochs / self.epochs)
        return None

    def exhausted(self, spent: Spent) -> bool:
        """True once no further trial may start; a started trial always finishes."""
        if self.trials is not None:
            return spent.trials >= self.trials
        if self.total_epochs is not None:
            return spent.epochs >= self.total_epochs
        return spent.seconds >= (self.seconds or math.inf)

    def describe(self) -> str:
        if self.trials is not None:
            return f"{self.trials} trials x {self.epochs} epochs each"
        if self.total_epochs is not None:
            return f"{self.total_epochs} epochs in all, at most {self.epochs} a trial"
        return f"{self.seconds:g} seconds, at most {self.epochs} epochs a trial"
