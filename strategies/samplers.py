"""Strategies that are one of Optuna's samplers, asked for a configuration trial by trial.

Samplers that model only a fixed set of parameters (QMC, GP, CMA-ES) draw the rest, the
categorical or conditional ones they cannot model, from a random sampler under the same seed:
Optuna's independent fallback.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from typing import Annotated, Any, ClassVar

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial
from pydantic import Field

from harness.budget import Budget
from harness.positions import ByPosition, placed
from harness.seeding import derive
from harness.space import Space
from harness.strategy import SearchPlan, Strategy, strategies


def random_fallback(seed: int) -> dict[str, Any]:
    """Sampler arguments that draw the parameters a sampler cannot model at random, quietly."""
    return {"independent_sampler": optuna.samplers.RandomSampler(seed=seed), "warn_independent_sampling": False}


class SamplerStrategy(Strategy):
    """A strategy that is one Optuna sampler; multi-fidelity strategies combine any of them with a pruner."""

    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        return SearchPlan(sampler=ByPosition(lambda place: self.quietly(budget, seed, derive(seed, place))),
                          note=self.note(budget))

    def quietly(self, budget: Budget, seed: int, draws: int) -> optuna.samplers.BaseSampler:
        """`sampler`, without Optuna's warning that its arguments are experimental."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return self.sampler(budget, seed, draws)

    @abstractmethod
    def sampler(self, budget: Budget, seed: int, draws: int) -> optuna.samplers.BaseSampler:
        """The sampler of one position's trial: `draws` seeds its draws, and `seed`, the same at every position,
        what must not change between them (QMC's scrambling)."""

    def note(self, budget: Budget) -> str:
        return ""


@strategies.register("random")
class Random(SamplerStrategy):
    """Uniform random search (Bergstra & Bengio, 2012), log-uniform on log ranges."""

    def sampler(self, budget: Budget, seed: int, draws: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=draws)


@strategies.register("qmc")
class QMC(SamplerStrategy):
    """Quasi-random search on a scrambled Sobol sequence: the tuning playbook's choice for exploration."""

    def sampler(self, budget: Budget, seed: int, draws: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed, warn_asynchronous_seeding=False,
                                          **random_fallback(draws))

    def note(self, budget: Budget) -> str:
        return "Sobol points over the parameters of the first trial; conditional ones drawn at random"


def start_up_trials(given: int | None, budget: Budget, at_most: int, refusal: str) -> int:
    """The trials a strategy runs before its model (or its pruner) acts: `given`, or by default a third of the
    planned trials, at least 1 and at most `at_most`. A given count that takes every planned trial is refused with
    `refusal` (the planned count in its `{}`): the strategy would be another under its name."""
    planned = budget.planned_trials
    if given is None:
        return min(at_most, max(1, (planned or 3 * at_most) // 3))
    if planned is not None and given >= planned:
        raise ValueError(f"{refusal.format(planned)}: startup_trials must be below them, "
                         f"but got startup_trials={given}")
    return given


class ModelBased(SamplerStrategy):
    """A sampler that fits a model of the objective after some random start-up trials."""

    startup_trials: Annotated[int | None, Field(ge=0)] = None  # random trials before the model; default: a third of the planned trials, at most 10
    drawn_at_random: ClassVar[str] = ""  # the parameters it leaves to a random sampler, for the report

    def startup(self, budget: Budget) -> int:
        return start_up_trials(self.startup_trials, budget, 10,
                               f"{strategies.name_of(type(self))} would draw all its {{}} planned trials at random")

    def note(self, budget: Budget) -> str:
        return "; ".join(filter(None, [f"{self.startup(budget)} random start-up trial(s)", self.drawn_at_random]))


@strategies.register("tpe")
class TPE(ModelBased):
    """Bayesian optimisation with Optuna's multivariate TPE, conditional parameters grouped."""

    def sampler(self, budget: Budget, seed: int, draws: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=draws, n_startup_trials=self.startup(budget), multivariate=True,
                                          group=True)


@strategies.register("gp")
class GP(ModelBased):
    """Bayesian optimisation with a Gaussian process and expected improvement (Optuna's GPSampler)."""

    drawn_at_random: ClassVar[str] = "parameters not in every trial drawn at random"

    def sampler(self, budget: Budget, seed: int, draws: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.GPSampler(seed=draws, n_startup_trials=self.startup(budget), **random_fallback(draws))


@strategies.register("cmaes")
class CMAES(ModelBased):
    """CMA-ES evolution strategy (Hansen, 2016) on the numeric parameters; categorical ones drawn at random."""

    drawn_at_random: ClassVar[str] = "categorical and conditional parameters drawn at random"

    def sampler(self, budget: Budget, seed: int, draws: int) -> optuna.samplers.BaseSampler:
        return PlacedCmaEs(seed=draws, n_startup_trials=self.startup(budget), **random_fallback(draws))


class PlacedCmaEs(optuna.samplers.CmaEsSampler):
    """Optuna's CMA-ES, which seeds each draw with the trial's number, seeding it with the trial's position: a
    resumed cell, whose re-run trials have later numbers, then draws what an uninterrupted one does."""

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return super().sample_relative(study, placed(trial), search_space)
