"""A registered function's own arguments as hyperparameters that exist only when it is chosen.

A schedule's `step_gamma`, say: the range travels with the registry entry (`tunable=`) and the default
is the function's own, so there is one list and one default. Every registered entry's arguments are
in the space, each active only for the entries that take it, so a spec that re-chooses the entries
finds them there.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.registry import Registry
from harness.space import Float, Int, Param, Range, when


@dataclass(frozen=True)
class Tunable:
    """The range an argument is searched in; an int default makes it an integer range."""

    low: float
    high: float
    log: bool = False


def tunable_params(registry: Registry, parent: str, taken: Collection[str] = ()) -> dict[str, Param]:
    """Each tunable argument of the registry's entries, active only when the parameter `parent` names an entry that
    takes it; entries that share an argument must give it one range and one default. `taken` are the names the
    space gives to other parameters: an argument under one of them would replace that parameter without a word,
    so it is refused."""
    users: dict[str, list[str]] = {}
    ranges: dict[str, tuple[Tunable, object]] = {}
    for entry in registry:
        signature = inspect.signature(entry.obj).parameters
        for name, tunable in entry.meta.get("tunable", {}).items():
            if name in taken:
                raise HarnessError(name_taken(registry, entry.name, name, "the training space"))
            known = ranges.setdefault(name, (tunable, signature[name].default))
            if known != (tunable, signature[name].default):
                raise HarnessError(f"{registry.kind} argument {name!r} must have one range and default in every "
                                   f"{registry.kind}, but {entry.name!r} gives {tunable} with default "
                                   f"{signature[name].default}")
            users.setdefault(name, []).append(entry.name)
    params: dict[str, Param] = {}
    for name, (tunable, default) in ranges.items():
        kind: type[Range] = Int if isinstance(default, int) else Float
        params[name] = kind(default=default, low=tunable.low, high=tunable.high, log=tunable.log,
                            when=when(**{parent: tuple(users[name])}))
    return params


def shadowed_tunables(space: Mapping[str, Param], registry: Registry, parent: str) -> list[str]:
    """The registry's tunable arguments that a task's space gives to a parameter of its own, found as a parameter
    under the argument's name that is not active when `parent` names the entry. A task may narrow an argument's
    range for the entries that take it (the text tasks' `warmup`), but not take its name for something else."""
    return [name_taken(registry, entry.name, name, "the task's space")
            for entry in registry for name in entry.meta.get("tunable", {})
            if name in space and entry.name not in dict(space[name].when).get(parent, ())]


def name_taken(registry: Registry, entry: str, argument: str, holder: str) -> str:
    return (f"{registry.kind} {entry!r} registers the tunable argument {argument!r}, but {holder} already has a "
            "parameter of that name; give the argument another name")


__all__ = ["Tunable", "shadowed_tunables", "tunable_params"]
