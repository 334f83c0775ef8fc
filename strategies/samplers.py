"""Strategies that are one of Optuna's samplers, asked for a configuration trial by trial."""

from __future__ import annotations

import warnings

import optuna

from harness.budget import Budget
from harness.space import Space
from harness.strategy import SearchPlan, Strategy, strategies


@strategies.register("random")
class Random(Strategy):
    """Uniform random search (Bergstra & Bengio, 2012), log-uniform on log ranges."""

    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        return SearchPlan(sampler=optuna.samplers.RandomSampler(seed=seed))


@strategies.register("tpe")
class TPE(Strategy):
    """Bayesian optimisation with Optuna's multivariate TPE, conditional parameters grouped."""

    startup_trials: int | None = None  # random trials before TPE models; default: a third of the planned trials, at most 10

    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        startup = self.startup_trials if self.startup_trials is not None else min(10, max(1, (budget.planned_trials or 30) // 3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True, group=True)
        return SearchPlan(sampler=sampler, note=f"{startup} random start-up trials")
