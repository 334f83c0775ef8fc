"""From a validated spec to the cells to run: every task x strategy x seed, all checked up front."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from harness.budget import Budget
from harness.errors import SpecError
from harness.optim import shadowed_arguments, unregistered_names
from harness.options import Options
from harness.plugins import load_builtins, load_plugins
from harness.registry import Registry, UnknownName
from harness.space import Space
from harness.spec import Spec, describe
from harness.strategy import SearchPlan, Strategy, strategies
from harness.task import Task, tasks

if TYPE_CHECKING:
    from harness.executor import Executor


@dataclass(frozen=True)
class TaskRun:
    label: str
    task: Task
    space: Space


NOISE_FLOOR_LABEL = "noise-floor"  # the strategy label of the cells that measure seed noise


@dataclass(frozen=True)
class StrategyRun:
    label: str
    strategy: Strategy
    budget: Budget  # the spec's budget, except for the noise floor's N trainings


@dataclass(frozen=True)
class Cell:
    """One study: a task, a strategy and a seed."""

    task: TaskRun
    strategy: StrategyRun
    seed: int

    @property
    def study_name(self) -> str:
        return f"{self.task.label}/{self.strategy.label}/seed-{self.seed}"


@dataclass(frozen=True)
class Plan:
    spec: Spec
    tasks: tuple[TaskRun, ...]
    strategies: tuple[StrategyRun, ...]
    budget: Budget
    executor: Executor
    noise_floor: StrategyRun | None = None

    @property
    def cells(self) -> list[Cell]:
        """Seed-major order, so an early stop still leaves every strategy with the same seeds done.

        The noise floor runs last, once per task: its trainings differ by training seed alone.
        """
        cells = [Cell(t, s, seed) for seed in self.spec.seeds for t in self.tasks for s in self.strategies]
        if self.noise_floor is not None:
            cells += [Cell(t, self.noise_floor, self.spec.seeds[0]) for t in self.tasks]
        return cells


def noise_floor_run(spec: Spec, budget: Budget) -> StrategyRun | None:
    """The task's default configuration re-trained `noise_floor` times, each with its own training seed."""
    if spec.noise_floor is None:
        return None
    manual = strategies.get("manual")(configs=[{}])  # one configuration: the space's defaults
    return StrategyRun(NOISE_FLOOR_LABEL, manual, Budget(epochs=budget.epochs, trials=spec.noise_floor))


TASK_KEYS = ("name", "label", "space")  # what a spec entry holds beside its plugin's options
STRATEGY_KEYS = ("name", "label")  # a strategy's space is the task's
EXECUTOR_KEYS = ("name",)


def _instantiate(registry: Registry, entry: str | Mapping[str, Any], path: str, problems: list[str],
                 keys: tuple[str, ...]) -> tuple[Options, str | None, dict[str, Any]] | None:
    """The plugin object an entry names, its optional label, and its space overrides; `keys` are what the
    entry may hold beside the plugin's options, listed when it holds something else."""
    fields = {"name": entry} if isinstance(entry, str) else dict(entry)
    name = fields.pop("name", None)
    label, overrides = fields.pop("label", None), fields.pop("space", {})
    if name is None:
        problems.append(f"{path}.name: field required (an entry is a name or a mapping with `name:`)")
        return None
    if label is not None and not (isinstance(label, str) and label):
        problems.append(f"{path}.label: a label must be a non-empty string (got {label!r})")
        return None
    if not isinstance(overrides, Mapping):
        problems.append(f"{path}.space: overrides must be a mapping of parameter to value (got {overrides!r})")
        return None
    try:
        cls = registry.get(name)
    except UnknownName as error:
        problems.append(f"{path}.name: {error}")
        return None
    try:
        return cls(**fields), label, overrides
    except ValidationError as error:
        problems += describe(error, cls, path, keys)
        return None


def _override(space: Space, overrides: Mapping[str, Any], path: str, problems: list[str]) -> Space | None:
    try:
        return space.override(overrides)
    except ValueError as error:
        problems.append(f"{path}.{error}" if not str(error).startswith("unknown") else f"{path}: {error}")
        return None


def never_used(value: Any, why: str) -> str:
    """What the spec is told of a value set for a parameter that no offered choice turns on (`Space.never_active`):
    refused, since every trial would train without it."""
    return f"{value!r} is never used: {why}; drop it, or offer a choice that uses it"


def _check_unique(labels: list[str], kind: str, problems: list[str]) -> None:
    for i, label in enumerate(labels):
        if label in labels[:i]:
            problems.append(f"{kind}[{i}]: label {label!r} is used twice; give one entry a distinct `label:`")


def build_plan(spec: Spec, spec_dir: Path | None = None) -> Plan:
    """Resolve every name, option and space override; raise one SpecError listing all problems."""
    from harness.executor import executors  # executors run plans, so they import this module
    load_builtins()
    problems = load_plugins(spec.plugins, spec_dir)
    budget = Budget(**spec.budget.model_dump())

    task_runs = []
    offered: set[str] = set()  # every named task's parameters, also of a task whose overrides were refused
    shared_idle: dict[str, str] = {}  # a top-level override (or its range for one choice) a task never uses, and why
    shared_used: set[str] = set()  # the top-level overrides some task uses
    for i, entry in enumerate(spec.tasks):
        found = _instantiate(tasks, entry, f"tasks[{i}]", problems, TASK_KEYS)
        if found is None:
            continue
        task, label, overrides = found
        space = task.space()
        problems += [f"tasks[{i}]: {problem}" for problem in shadowed_arguments(space)]
        offered |= set(space)
        shared = {k: v for k, v in spec.space.items() if k in space}  # top-level overrides touch tasks that have them
        space = _override(space, shared, "space", problems)
        if space is not None:
            from_shared = unregistered_names(space)  # said of the top-level `space:` that brought them, once
            problems += [f"space.{problem}" for problem in from_shared]
            space = _override(space, overrides, f"tasks[{i}].space", problems)
        if space is not None:
            problems += [f"tasks[{i}].space.{problem}" for problem in unregistered_names(space)
                         if problem not in from_shared]
            problems += [f"tasks[{i}].space: {problem}" for problem in task.space_problems(space)]
            idle = space.never_active()
            problems += [f"tasks[{i}].space.{name}: {never_used(value, idle[name])}"
                         for name, value in overrides.items() if name in idle]
            problems += [f"tasks[{i}].space.{name}: {why}" for name, value in overrides.items()
                         for why in space.ranges_never_used(name, value).values() if why]
            shared_used |= {name for name in shared if name not in idle}
            for name, value in shared.items():
                if name in idle:
                    shared_idle.setdefault(name, never_used(value, idle[name]))
                for choice, why in space.ranges_never_used(name, value).items():  # a range given to one choice
                    if why is None:
                        shared_used.add(f"{name}.{choice}")
                    else:
                        shared_idle.setdefault(f"{name}.{choice}", why)
            task_runs.append(TaskRun(label or task.label, task, space))

    strategy_runs = []
    searches: list[tuple[int, SearchPlan]] = []  # each strategy's plan on each task, for the executor to check
    for j, entry in enumerate(spec.strategies):
        found = _instantiate(strategies, entry, f"strategies[{j}]", problems, STRATEGY_KEYS)
        if found is None:
            continue
        strategy, label, overrides = found
        if overrides:
            problems.append(f"strategies[{j}].space: spaces belong to tasks or to the top-level `space:`")
        strategy_runs.append(StrategyRun(label or strategy.label, strategy, budget))
        for run in task_runs:
            try:
                searches.append((j, strategy.plan(run.space, budget, seed=0)))
            except ValueError as error:
                problems.append(f"strategies[{j}] on task {run.label!r}: {error}")

    problems += [f"space.{name}: no task has this parameter; they have: {', '.join(sorted(offered))}"
                 for name in spec.space if offered and name not in offered]
    problems += [f"space.{name}: {why}" for name, why in shared_idle.items() if name not in shared_used]
    _check_unique([t.label for t in task_runs], "tasks", problems)
    noise_floor = noise_floor_run(spec, budget)
    _check_unique([s.label for s in strategy_runs] + ([NOISE_FLOOR_LABEL] if noise_floor else []), "strategies",
                  problems)
    executor = _instantiate(executors, spec.executor, "executor", problems, EXECUTOR_KEYS)
    if executor is not None and executor[1:] != (None, {}):
        problems.append("executor: takes a name and its options, not a label or a space")
    if executor is not None:
        refusals = (f"strategies[{j}]: {why}" for j, search in searches if (why := executor[0].refuses(search)))
        problems += dict.fromkeys(refusals)  # once per strategy, whatever the number of tasks
    if len(set(spec.seeds)) != len(spec.seeds):
        problems.append(f"seeds: every seed must be distinct (got {spec.seeds})")
    if problems:
        raise SpecError(list(dict.fromkeys(problems)))  # a top-level override refused by several tasks, said once
    return Plan(spec, tuple(task_runs), tuple(strategy_runs), budget, executor[0], noise_floor)
