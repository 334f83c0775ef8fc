"""Coarse-to-fine search: random search on part of the budget, then TPE inside the region the best few span.

The region is derived from the study's trials alone, so it is the same after a resume: the
first `coarse` trials that ended are the coarse stage; the best `top_k` of them set, per
parameter, the kept choices and a numeric interval (their span, padded, on a log scale for log
parameters). Each fine trial is proposed by a TPE fitted only to the fine trials so far, in a
throw-away in-memory study whose distributions are the region's, while the cell's study keeps
the task's full distributions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState
from pydantic import Field

from harness.budget import Budget, counts_against_budget
from harness.positions import ByPosition, position
from harness.seeding import derive
from harness.space import Space
from harness.strategy import SearchPlan, Strategy, strategies
from strategies.samplers import TPE

Region = dict[str, BaseDistribution]


def shrink(distribution: BaseDistribution, values: Sequence[Any], pad: float = 0.5,
           min_pad: float = 0.1) -> BaseDistribution:
    """The part of `distribution` around `values`: the choices among them, or their span widened by `pad` of
    itself and at least `min_pad` of the full range on each side (on the log scale for log ranges)."""
    if isinstance(distribution, CategoricalDistribution):
        return CategoricalDistribution([c for c in distribution.choices if c in values])
    if distribution.step not in (None, 1):
        return distribution  # a stepped range keeps its grid
    scale, unscale = (math.log, math.exp) if distribution.log else (float, float)
    low, high = scale(min(values)), scale(max(values))
    margin = max(pad * (high - low), min_pad * (scale(distribution.high) - scale(distribution.low)))
    low = min(max(distribution.low, unscale(low - margin)), min(values))
    high = max(min(distribution.high, unscale(high + margin)), max(values))
    if isinstance(distribution, IntDistribution):
        return IntDistribution(math.floor(low), math.ceil(high), log=distribution.log)
    return FloatDistribution(low, high, log=distribution.log)


def region(coarse: Sequence[FrozenTrial], top_k: int, direction: optuna.study.StudyDirection) -> Region:
    """Each parameter the best `top_k` complete trials used, shrunk around their values."""
    complete = [t for t in coarse if t.state == TrialState.COMPLETE]
    best = sorted(complete, key=lambda t: t.value, reverse=direction == optuna.study.StudyDirection.MAXIMIZE)[:top_k]
    names = {name: t.distributions[name] for t in best for name in t.params}
    return {name: shrink(dist, [t.params[name] for t in best if name in t.params]) for name, dist in names.items()}


def contains(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    return distribution.low <= value <= distribution.high


def inside(trial: FrozenTrial, space: Region) -> bool:
    return all(contains(space[name], value) for name, value in trial.params.items() if name in space)


def suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    """Ask `trial` for `name` from `distribution`, whatever its kind."""
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, step=distribution.step, log=distribution.log)
    return trial.suggest_float(name, distribution.low, distribution.high, step=distribution.step, log=distribution.log)


class CoarseToFineSampler(optuna.samplers.BaseSampler):
    """Random for the cell's first `coarse` trials, then TPE in their best `top_k`'s region: one trial's sampler."""

    def __init__(self, coarse: int, top_k: int, fine_sampler: Callable[[int], optuna.samplers.BaseSampler],
                 seed: int) -> None:
        self.coarse, self.top_k, self.fine_sampler, self.seed = coarse, top_k, fine_sampler, seed
        self.random = optuna.samplers.RandomSampler(seed=seed)
        self.fine: dict[int, tuple[optuna.Trial, Region]] = {}  # trial number -> its fine proposal and region

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        ended = sorted(filter(counts_against_budget, study.get_trials(deepcopy=False)), key=position)
        if len(ended) < self.coarse:
            return
        space = region(ended[:self.coarse], self.top_k, study.direction)
        fine_study = optuna.create_study(direction=study.direction,
                                         sampler=self.fine_sampler(self.seed))
        for done in ended[self.coarse:]:
            if done.state == TrialState.COMPLETE and inside(done, space):
                fine_study.add_trial(optuna.trial.create_trial(
                    params=done.params, value=done.value,
                    distributions={n: space.get(n, d) for n, d in done.distributions.items()}))
        self.fine[trial.number] = fine_study.ask(), space

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if trial.number not in self.fine:
            return self.random.sample_independent(study, trial, param_name, param_distribution)
        proposal, space = self.fine[trial.number]
        return suggest(proposal, param_name, space.get(param_name, param_distribution))

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.fine.pop(trial.number, None)


@strategies.register("coarse_to_fine")
class CoarseToFine(Strategy):
    """Random search on part of the budget, then TPE in the region around the best few configurations."""

    coarse_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.3  # of the planned trials (of 30 when the budget is in seconds) for the coarse stage
    top_k: Annotated[int, Field(ge=1)] = 3  # the best coarse configurations that span the fine region

    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        planned = budget.planned_trials or 30
        coarse = max(self.top_k, round(self.coarse_fraction * planned))
        if coarse >= planned:  # it would be random search under this strategy's name
            raise ValueError(f"coarse_to_fine needs a fine stage, but its coarse stage of {coarse} random trials "
                             f"(coarse_fraction={self.coarse_fraction:g} of the {planned} planned, at least "
                             f"top_k={self.top_k}) takes them all: plan more trials, or lower top_k or coarse_fraction")
        fine, fine_budget = TPE(), Budget(epochs=budget.epochs, trials=max(1, planned - coarse))
        sampler = ByPosition(lambda place: CoarseToFineSampler(
            coarse, self.top_k, lambda s: fine.plan(space, fine_budget, s).sampler, derive(seed, place)))
        return SearchPlan(sampler=sampler, note=f"{coarse} random trials, then TPE around the best {self.top_k} "
                                                f"({fine.startup(fine_budget)} random start-up trials in that region)")
