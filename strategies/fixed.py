"""Strategies whose configurations are decided before the first trial: manual settings and grids."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar

from pydantic import Field

from harness.budget import Budget
from harness.optim import optimizers, practical_lr
from harness.positions import random_by_position
from harness.space import Choice, Fixed, Int, Param, Range, Space
from harness.strategy import SearchPlan, Strategy, strategies

# What practitioners set per optimizer family, laid over a task's defaults wherever its space has the
# parameter (a value outside the task's range, or not among its numeric choices, moves to the nearest allowed
# one; a schedule the task does not offer keeps the task's default; `departures` says which and what trained
# instead, in the strategy's note). An optimizer with no entry here trains at its registered practical lr
# (`published`).
RECIPES: dict[str, dict[str, Any]] = {
    # He et al. (2016) ResNet on CIFAR: SGD, momentum 0.9, lr 0.1, weight decay 5e-4 at these net sizes
    # (1e-4 on ImageNet); cosine annealing (Loshchilov & Hutter, 2017) instead of hand-placed steps.
    "sgd": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "cosine"},
    # Kingma & Ba (2015): lr 1e-3, betas 0.9/0.999, the paper's defaults and every framework's; L2 decay off.
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.0},
    # Loshchilov & Hutter (2019), and the Transformer practice since: decoupled weight decay 1e-2 (PyTorch's
    # default), lr 1e-3, linear warm-up then cosine.
    "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "decoupled_decay": 1e-2, "schedule": "warmup_cosine"},
    # Hinton's lecture 6e: lr 1e-3. (Its running average decays at 0.9, but no space searches RMSprop's `alpha`,
    # so the rule keeps PyTorch's 0.99: a recipe sets only parameters of the space.)
    "rmsprop": {"lr": 1e-3},
}


def published(optimizer: str) -> dict[str, Any]:
    """The practitioner's settings for `optimizer`. One without a recipe (Adadelta, Adamax, a plugin's) trains at
    its registered practical lr, not at the task's default lr, which suits its default optimizer: Adadelta, whose
    rate is a multiplier near 1, stayed at chance at 0.01."""
    registered = {"lr": practical_lr(optimizer)[2]} if optimizer in optimizers else {}  # else the spec check says so
    return {**registered, **RECIPES.get(optimizer, {})}


def nearest_allowed(param: Param, value: Any) -> Any | None:
    """`value` moved into a range, kept if a choice allows it, else the choice nearest to it; None where the space
    decides (fixed, or a choice with nothing near: a schedule's name it does not offer)."""
    if isinstance(param, Range):
        clipped = min(max(value, param.low), param.high)
        return int(round(clipped)) if isinstance(param, Int) else float(clipped)
    if isinstance(param, Choice):
        return value if param.allows(value) else nearest_choice(param.choices, value)
    return None


def nearest_choice(choices: Sequence[Any], value: Any) -> Any | None:
    """The numeric choice nearest to a number, None for anything else (names have no distance). Nearest by ratio
    where the value and every numeric choice are positive, since learning rates, decays and batch sizes differ by
    factors (a batch size of 128 among 32 and 256 goes to 256, twice it, not to 32, a quarter of it); by difference
    otherwise (a decay of 0 goes to the smallest). Ties go to the earlier choice."""
    numbers = [choice for choice in choices if is_number(choice)]
    if not is_number(value) or not numbers:
        return None
    if value > 0 and min(numbers) > 0:
        return min(numbers, key=lambda choice: abs(math.log(choice / value)))
    return min(numbers, key=lambda choice: abs(choice - value))


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def recipe(space: Space, optimizer: str) -> dict[str, Any]:
    """The task's defaults with the practitioner's settings for `optimizer` laid over them."""
    wanted = {"optimizer": optimizer, **published(optimizer)}
    moved = {name: nearest_allowed(space[name].within(wanted), value)
             for name, value in wanted.items() if name in space}
    return space.complete({name: value for name, value in moved.items() if value is not None})


def departures(space: Space, optimizer: str, config: Mapping[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """Each recipe value `config` does not train, and what the space allows instead. Manual's promise is the
    published recipe, so a value moved into a (possibly overridden) range, a schedule the task does not offer or a
    setting the space lacks is said in the report's note, never passed off as the recipe; `skip` names values
    another step decides (a range test's lr)."""
    changed = []
    for name, value in published(optimizer).items():
        if name not in skip and config.get(name) != value:
            got = repr(config[name]) if name in config else "the optimizer's own default"
            allowed = (f"allowed: {space[name].within(config).allowed()}" if name in space
                       else f"the space has no {name}")
            changed.append(f"{optimizer} {name} {value!r} -> {got} ({allowed})")
    return changed


def recipe_caveats(space: Space, families: Sequence[str], chosen: Sequence[Mapping[str, Any]],
                   skip: tuple[str, ...] = ()) -> str:
    """What the note adds to the families' names: those without a published recipe, and each recipe value that
    did not train as published (`departures`)."""
    unpublished = [str(f) for f in families if f not in RECIPES]
    changed = [d for f, c in zip(families, chosen) for d in departures(space, f, c, skip)]
    return (f"; no published recipe for {', '.join(unpublished)}: the optimizer's registered lr, the task's "
            f"defaults otherwise" if unpublished else "") + (
        f"; recipe values the space does not allow: {'; '.join(changed)}" if changed else "")


def optimizer_families(space: Space) -> tuple[Any, ...]:
    """The optimizers a space offers (none when it has no optimizer parameter): its default first, then those with
    a published recipe. A budget of fewer trials runs only the first ones, and the image tasks offer every registered
    optimizer in alphabetical order: four trials once ran Adadelta, Adagrad, Adam and Adamax, never SGD."""
    param = space.get("optimizer")
    if isinstance(param, Choice):
        return tuple(sorted(param.choices, key=lambda name: (name != param.default, name not in RECIPES)))
    return (param.default,) if isinstance(param, Fixed) else ()


def budget_use(count: int, budget: Budget) -> str:
    """How the budget spends `count` fixed configurations: repeated, or only the first ones."""
    planned = budget.planned_trials
    if planned is None:
        return "run in this order and repeated with new training seeds while time is left"
    if planned >= count:
        return "repeated with new training seeds to fill the budget"
    return f"only the first {planned} run" + ("" if budget.trials is not None else " if every trial runs in full")


@strategies.register("manual")
class Manual(Strategy):
    """Expert settings: one practitioner recipe per optimizer family the task offers, or `configs:` from the spec."""

    configs: list[dict[str, Any]] = []  # partial configurations; unset parameters take the task's defaults
    decided_elsewhere: ClassVar[tuple[str, ...]] = ()  # recipe values a subclass replaces in every trial

    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        caveats = ""
        if self.configs:
            chosen, what = [space.complete(c) for c in self.configs], "the spec's"
        else:
            families = optimizer_families(space)
            chosen = [recipe(space, f) for f in families] or [space.defaults()]
            what = f"practitioner settings ({', '.join(map(str, families)) or 'task defaults'})"
            caveats = recipe_caveats(space, families, chosen, self.decided_elsewhere)
        return SearchPlan(sampler=random_by_position(seed),
                          configs=tuple(space.searched_part(c) for c in chosen),
                          note=f"{len(chosen)} configuration(s), {what}, {budget_use(len(chosen), budget)}{caveats}")


@strategies.register("grid")
class Grid(Strategy):
    """Full factorial at `resolution` points per range; a seeded random subset when it exceeds the budget."""

    resolution: Annotated[int, Field(ge=2)] = 3  # points per numeric range, its ends included (log-spaced for log
    #   ranges); one point would be the low end of every range; choices are all kept

    def plan(self, space: Space, budget: Budget, seed: int) -> SearchPlan:
        grid = space.grid(self.resolution)
        planned = budget.planned_trials
        size = f"grid of {len(grid)} points at resolution {self.resolution}"
        chosen: Sequence[dict[str, Any]]
        if planned is not None and len(grid) <= planned:
            chosen, note = tuple(space.searched_part(c) for c in grid), size
            if len(grid) < planned:
                note += (f" is smaller than the budget of {planned} trials: each point runs {planned // len(grid)}"
                         f"{'' if planned % len(grid) == 0 else ' or ' + str(planned // len(grid) + 1)} times, "
                         f"with new training seeds")
        elif budget.trials is not None:
            chosen = tuple(space.searched_part(c) for c in random.Random(seed).sample(grid, planned))
            note = f"{size}; a seeded random {planned} of them run"
        else:  # trials that end early (or a budget in seconds) make room for more: each takes a point not yet run
            chosen = SeededOrder(grid, space, seed)
            note = f"{size}, run in a seeded order, " + (
                "repeated while time is left" if planned is None else f"{planned} of them if every trial runs in full")
        return SearchPlan(sampler=random_by_position(seed), configs=chosen, note=note)


class SeededOrder(Sequence[dict[str, Any]]):
    """A grid's points (their searched part) in the order `random.Random(seed).sample(grid, len(grid))` gives them,
    each drawn when first asked for: the shuffle keeps only the points it moved, so a text task's grid of millions
    of points is never built, and the first k points are the same however many are asked for."""

    def __init__(self, grid: Sequence[dict[str, Any]], space: Space, seed: int) -> None:
        self._grid, self._space, self._random = grid, space, random.Random(seed)
        self._order: list[int] = []  # grid indices drawn so far
        self._moved: dict[int, int] = {}  # a slot of the shrinking pool -> the grid index moved into it

    def __len__(self) -> int:
        return len(self._grid)

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]  # no slices
        index = range(len(self))[index]  # an IndexError outside the grid, as a list gives
        while len(self._order) <= index:
            left = len(self) - len(self._order)
            slot = self._random.randrange(left)  # the draw `random.sample` makes, from the points not yet drawn
            self._order.append(self._moved.get(slot, slot))
            self._moved[slot] = self._moved.get(left - 1, left - 1)  # the pool's last point fills the slot
        return self._space.searched_part(self._grid[self._order[index]])
