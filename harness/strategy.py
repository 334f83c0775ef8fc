"""What a strategy is to the harness: given a space, the budget and a seed, what Optuna needs.

A strategy never touches a model or data; it returns a sampler, a pruner and, for strategies
that fix their configurations in advance (manual, grid), the configurations to enqueue. A
strategy that picks the learning rate by a range test asks for one (`lr_range_test`); the
runner does the training it needs.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from harness.budget import Budget
from harness.options import Options
from harness.registry import Registry
from harness.space import Space
from harness.trainer import RangeTest

strategies: Registry = Registry("strategy", "strategies")


@dataclass(frozen=True)
class SearchPlan:
    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner = field(default_factory=optuna.pruners.NopPruner)
    configs: Sequence[Mapping[str, Any]] = ()  # run in this order, repeated if fewer than the budget's trials
    note: str = ""  # what a reader of the report should know, e.g. the grid's size
    lr_range_test: RangeTest | None = None  # set: each trial's lr is picked by this range test before it trains


class Strategy(Options):
    """A tuning strategy; its fields are its spec options."""

    @property
    def label(self) -> str:
        """The strategy's name in studies and reports when the spec gives no `label:`."""
        return strategies.name_of(type(self))

    @abstractmethod
    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        """Everything the study needs; `seed` seeds every random choice the strategy makes."""
