"""A trial's position in its cell: what pairs it across strategies and seeds its draws.

Trial i of a cell trains with a seed derived from (seed, i), and its sampler draws with a seed derived
from (seed, i) too, so an uninterrupted cell is the same sequence on every run. A trial cut short by an
interruption (Ctrl-C, SIGTERM, a user's mistake) keeps its position: its configuration is queued again
under it, so the resumed cell runs the trials an uninterrupted one would have. A trial whose worker died
gives its position up (the configuration may be what killed it) unless the executor's `retries` re-run
it; the next new trial takes the position after every one used so far.

Runs made before positions were recorded read a trial's number as its position.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from harness.budget import counts_against_budget
from harness.seeding import derive

POSITION_KEY = "position"  # trial user attribute
INTERRUPTED_KEY = "interrupted"  # trial user attribute: what stopped it, on a trial an interruption failed


def position(trial: FrozenTrial | optuna.Trial) -> int:
    return trial.user_attrs.get(POSITION_KEY, trial.number)


def placed(trial: FrozenTrial) -> FrozenTrial:
    """A copy of `trial` numbered by its position, for Optuna code that keys by the number."""
    copied = copy.copy(trial)
    copied.number = position(trial)
    return copied


def next_position(trials: list[FrozenTrial]) -> int:
    """The position of a new trial: after every one used so far, a dead worker's too."""
    return max(map(position, trials), default=-1) + 1


def interrupted(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and INTERRUPTED_KEY in trial.user_attrs


class WithoutInterrupted:
    """A study as a pruner sees it, less the trials an interruption failed: each runs again at its position and
    reaches its rungs itself, so counted too it would compete twice."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study

    def get_trials(self, deepcopy: bool = True, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        return [t for t in self.study.get_trials(deepcopy=deepcopy, states=states) if not interrupted(t)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.study, name)


def requeue_interrupted(study: optuna.Study, trials: list[FrozenTrial]) -> int:
    """Queue again, each under its own position, the configurations of interrupted trials whose position no
    trial holds (ended, running or queued); returns how many were queued."""
    held = {position(t) for t in trials
            if counts_against_budget(t) or t.state in (TrialState.RUNNING, TrialState.WAITING)}
    lost = {position(t): t for t in trials if interrupted(t) and position(t) not in held}
    for trial in lost.values():
        # the sampler's own attributes (CMA-ES's generation; a queued configuration), not its worker's nor the
        # rungs a pruner recorded for it, which the re-run reaches for itself
        kept = {k: v for k, v in trial.system_attrs.items() if not k.startswith(("worker", "completed_rung_"))}
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, params=trial.params,
                                                  distributions=trial.distributions,
                                                  user_attrs={POSITION_KEY: position(trial)}, system_attrs=kept))
    return len(lost)


class ByPosition(optuna.samplers.BaseSampler):
    """Draws each trial with the sampler of its position, so its draws depend on (seed, position) and the trials
    before it, not on which process asked when. `next_position` is the position of the next trial asked that
    does not carry its own (one queued does), set by the harness's claims; unset (a plain `study.optimize`), a
    trial's number is its position."""

    def __init__(self, sampler_at: Callable[[int], optuna.samplers.BaseSampler]) -> None:
        self.sampler_at = sampler_at
        self.next_position: int | None = None
        self.drawing: dict[int, optuna.samplers.BaseSampler] = {}  # trial number -> its position's sampler

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        fresh = trial.number if self.next_position is None else self.next_position
        self.drawing[trial.number] = self.sampler_at(trial.user_attrs.get(POSITION_KEY, fresh))
        self.call("before_trial", study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.call("infer_relative_search_space", study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.call("sample_relative", study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.call("sample_independent", study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.call("after_trial", study, trial, state, values)
        self.drawing.pop(trial.number, None)

    def call(self, method: str, study: optuna.Study, trial: FrozenTrial, *args: Any) -> Any:
        """`method` of the sampler drawing `trial` (made anew for a trial asked elsewhere, whose position it then
        carries)."""
        if trial.number not in self.drawing:
            self.drawing[trial.number] = self.sampler_at(position(trial))
        return getattr(self.drawing[trial.number], method)(study, trial, *args)


def random_by_position(seed: int) -> ByPosition:
    """Random draws, seeded by (seed, position): for what a queued configuration leaves open."""
    return ByPosition(lambda place: optuna.samplers.RandomSampler(seed=derive(seed, place)))
