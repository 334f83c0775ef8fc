"""Multi-fidelity strategies: a sampler strategy plus a pruner that stops poor trials early, epochs as the resource.

Each takes `sampler:`, the name of any sampler strategy (random, qmc, tpe, gp, cmaes), so
`{name: hyperband, sampler: tpe}` is BOHB-style TPE with Hyperband; its default label is then
`tpe+hyperband`. Under a `total_epochs` budget the epochs a pruner saves pay for more trials.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated

import optuna
from optuna.trial import FrozenTrial
from pydantic import Field, field_validator

from harness.budget import Budget
from harness.positions import WithoutInterrupted, interrupted, placed
from harness.space import Space
from harness.strategy import SearchPlan, Strategy, strategies
from strategies.samplers import SamplerStrategy, start_up_trials


def sampler_strategies() -> list[str]:
    return [entry.name for entry in strategies if issubclass(entry.obj, SamplerStrategy)]


def rungs(min_epochs: int, reduction_factor: int, epochs: int) -> list[int]:
    """The epochs at which successive halving compares trials."""
    points, rung = [], min_epochs
    while rung < epochs:
        points.append(rung)
        rung *= reduction_factor
    return points


class MultiFidelity(Strategy):
    """A sampler strategy's sampler with this strategy's pruner."""

    sampler: str = "random"  # the sampler strategy that proposes configurations: random, qmc, tpe, gp or cmaes

    @field_validator("sampler")
    @classmethod
    def _a_sampler_strategy(cls, name: str) -> str:
        if name not in sampler_strategies():
            raise ValueError(f"must name a sampler strategy ({', '.join(sampler_strategies())}), but got {name!r}")
        return name

    @property
    def label(self) -> str:
        return super().label if self.sampler == "random" else f"{self.sampler}+{super().label}"

    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        if self.first_stop() >= budget.epochs:  # a trial's last epoch always finishes: it would be its sampler alone
            raise ValueError(f"{strategies.name_of(type(self))} stops a trial after epoch {self.first_stop()} at the "
                             f"earliest, so the budget's `epochs` must be above {self.first_stop()} for it to stop any, "
                             f"but got epochs={budget.epochs}")
        proposer = strategies.get(self.sampler)().plan(space, budget, seed)
        notes = [note for note in (proposer.note, self.note(budget)) if note]
        return SearchPlan(sampler=proposer.sampler, pruner=self.pruner(budget), note="; ".join(notes))

    @abstractmethod
    def first_stop(self) -> int:
        """The earliest epoch after which the pruner may stop a trial."""

    @abstractmethod
    def pruner(self, budget: Budget) -> optuna.pruners.BasePruner:
        """The pruner, reading each trial's validation accuracy after every epoch."""

    @abstractmethod
    def note(self, budget: Budget) -> str:
        """When trials are compared, for the report."""


@strategies.register("median")
class Median(MultiFidelity):
    """Median stopping (Golovin et al., 2017): stop a trial whose accuracy is below the median of earlier ones."""

    # trials that always finish, to set the median; default: a third of the planned trials, at most Optuna's 5
    startup_trials: Annotated[int | None, Field(ge=0)] = None
    warmup_epochs: Annotated[int, Field(ge=0)] = 1  # no trial stops before this many epochs

    def startup(self, budget: Budget) -> int:
        return start_up_trials(self.startup_trials, budget, 5,
                               "median would let all its {} planned trials finish before it stops any")

    def first_stop(self) -> int:
        return max(1, self.warmup_epochs)

    def pruner(self, budget: Budget) -> optuna.pruners.BasePruner:
        return optuna.pruners.MedianPruner(n_startup_trials=self.startup(budget), n_warmup_steps=self.warmup_epochs)

    def note(self, budget: Budget) -> str:
        return f"median stopping after epoch {self.first_stop()}, once {self.startup(budget)} trials have finished"


class Halving(MultiFidelity):
    """Successive halving's two settings, shared by ASHA and Hyperband."""

    min_epochs: Annotated[int, Field(ge=1)] = 1  # the first rung
    reduction_factor: Annotated[int, Field(ge=2)] = 3  # 1/reduction_factor of the trials go on at each rung

    def first_stop(self) -> int:
        return self.min_epochs


@strategies.register("asha")
class ASHA(Halving):
    """Asynchronous successive halving (Li et al., 2020): only the best 1/reduction_factor go on at each rung."""

    def pruner(self, budget: Budget) -> optuna.pruners.BasePruner:
        return ResumedHalving(min_resource=self.min_epochs, reduction_factor=self.reduction_factor)

    def note(self, budget: Budget) -> str:
        return f"successive halving at epochs {rungs(self.min_epochs, self.reduction_factor, budget.epochs)}"


@strategies.register("hyperband")
class Hyperband(Halving):
    """Hyperband (Li et al., 2018): successive halving in brackets that trade more trials for fewer epochs."""

    def pruner(self, budget: Budget) -> optuna.pruners.BasePruner:
        return PlacedHyperband(min_resource=self.min_epochs, max_resource=max(self.min_epochs, budget.epochs),
                               reduction_factor=self.reduction_factor)

    def note(self, budget: Budget) -> str:
        return f"hyperband from {self.min_epochs} to {budget.epochs} epochs, reduction factor {self.reduction_factor}"


class ResumedHalving(optuna.pruners.SuccessiveHalvingPruner):
    """Optuna's successive halving, less the rungs of trials an interruption failed (`WithoutInterrupted`)."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return super().prune(WithoutInterrupted(study), trial)  # type: ignore[arg-type]  # a study's view


class PlacedHyperband(optuna.pruners.HyperbandPruner):
    """Optuna's Hyperband with each trial's bracket drawn from its position rather than its number, so a trial run
    again after an interruption stays in its bracket; a trial an interruption failed is in none, as its re-run
    reaches its rungs (`WithoutInterrupted`)."""

    def _get_bracket_id(self, study: optuna.Study, trial: FrozenTrial) -> int:
        return -1 if interrupted(trial) else super()._get_bracket_id(study, placed(trial))
