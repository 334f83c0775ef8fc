"""The learning rate picked by Smith's range test instead of searched; the rest are manual's settings."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from pydantic import Field

from harness.budget import Budget
from harness.space import FloatBy, Range, Space
from harness.strategy import SearchPlan, strategies
from harness.trainer import RangeTest
from strategies.fixed import Manual


# a budget in trials counts trials alone: the sweeps come on top, as the report's cost table and caveats show
UNCAPPED = "; a budget in trials does not cap the sweeps (a budget in total_epochs does)"


@strategies.register("lr_range_test")
class LRRangeTest(Manual):
    """Smith's range test (2017) on a short run picks each trial's learning rate; the rest as `manual`."""

    decided_elsewhere = ("lr",)  # the recipe's lr never trains, so the note does not say where it moved

    # the test run's length, whose epochs count against the budget
    sweep_epochs: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    # the sweep runs from the space's lowest lr / widen to its highest lr x widen (the trial's optimizer's, where each
    # has its own)
    widen: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 10.0
    # pick the rate at the lowest smoothed loss, divided by this, within the space's lr range
    divide: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0

    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        lr = space.get("lr")
        if not isinstance(lr, Range):
            raise ValueError(f"lr_range_test needs `lr` as a range to sweep, but the space has {lr!r}")
        test = RangeTest(min_lr=lr.low / self.widen, max_lr=lr.high * self.widen, bounds=(lr.low, lr.high),
                         epochs=self.sweep_epochs, divide=self.divide)
        manual = super().plan(space, budget, seed)
        swept = (f"over {test.min_lr:g}..{test.max_lr:g}, picked within {lr.low:g}..{lr.high:g}"
                 if not isinstance(lr, FloatBy) else
                 f"from each {lr.by}'s lowest lr / {self.widen:g} to its highest x {self.widen:g}, picked within "
                 f"its range")
        return replace(manual, lr_range_test=test,
                       note=f"{manual.note}; lr of each trial from a range test {swept}, "
                            f"lasting {self.sweep_epochs:g} epoch(s) and at "
                            f"least {test.min_steps} steps (more epochs where an epoch has fewer batches), counted "
                            f"in its epochs{UNCAPPED if budget.trials is not None else ''}")
