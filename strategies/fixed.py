"""Strategies whose configurations are decided before the first trial: manual settings and grids."""

from __future__ import annotations

import random
from typing import Any

import optuna

from harness.budget import Budget
from harness.space import Space
from harness.strategy import SearchPlan, Strategy, strategies


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
        affordable = budget.planned_trials or len(grid)  # a budget in seconds runs the grid in a seeded order
        if len(grid) > affordable:
            chosen = random.Random(seed).sample(grid, affordable)
            note = f"grid of {len(grid)} points at resolution {self.resolution}; a random {affordable} run"
        else:
            chosen = random.Random(seed).sample(grid, len(grid)) if budget.planned_trials is None else grid
            note = f"grid of {len(grid)} points at resolution {self.resolution}; repeated to fill the budget"
        return SearchPlan(sampler=optuna.samplers.RandomSampler(seed=seed),
                          configs=tuple(space.searched_part(c) for c in chosen), note=note)
