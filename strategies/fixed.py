"""Strategies whose configurations are decided before the first trial: manual settings and grids."""

from __future__ import annotations

import random
from typing import Any

import optuna

from harness.space import Space
from harness.strategy import Budget, SearchPlan, Strategy, strategies


@strategies.register("manual")
class Manual(Strategy):
    """Expert settings: the task's practitioner defaults, or `configs:` given in the spec, each repeated in turn."""

    configs: list[dict[str, Any]] = []  # partial configurations; unset parameters take the task's defaults

    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        chosen = [space.complete(c) for c in self.configs] or [space.defaults()]
        return SearchPlan(sampler=optuna.samplers.RandomSampler(seed=seed),
                          configs=tuple(space.searched_part(c) for c in chosen),
                          note=f"{len(chosen)} configuration(s), repeated with new training seeds to fill the budget")


@strategies.register("grid")
class Grid(Strategy):
    """Full factorial at `resolution` points per range; a seeded random subset when it exceeds the budget."""

    resolution: int = 3  # points per numeric range (log-spaced for log ranges); choices are all kept

    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        grid = space.grid(self.resolution)
        if len(grid) > budget.trials:
            chosen = random.Random(seed).sample(grid, budget.trials)
            note = f"grid of {len(grid)} points at resolution {self.resolution}; a random {budget.trials} run"
        else:
            chosen = grid
            note = f"grid of {len(grid)} points at resolution {self.resolution}; repeated to fill {budget.trials} trials"
        return SearchPlan(sampler=optuna.samplers.RandomSampler(seed=seed),
                          configs=tuple(space.searched_part(c) for c in chosen), note=note)
