"""A registered function's own arguments as hyperparameters that exist only when it is chosen.

A schedule's `step_gamma`, say: the range travels with the registry entry (`tunable=`) and the default
is the function's own, so there is one list and one default. Every registered entry's arguments are
in the space, each active only for the entries that take it, so a spec that re-chooses the entries
finds them there.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from harness.registry import Registry
from harness.space import Float, Int, Param, Range, when


@dataclass(frozen=True)
class Tunable:
    """The range an argument is searched in; an int default makes it an integer range."""

    low: float
    high: float
    log: bool = False


def tunable_params(registry: Registry, parent: str) -> dict[str, Param]:
    """Each tunable argument of the registry's entries, active only when the parameter `parent` names an entry that
    takes it; entries that share an argument must give it one range and one default."""
    users: dict[str, list[str]] = {}
    ranges: dict[str, tuple[Tunable, object]] = {}
    for entry in registry:
        signature = inspect.signature(entry.obj).parameters
        for name, tunable in entry.meta.get("tunable", {}).items():
            known = ranges.setdefault(name, (tunable, signature[name].default))
            if known != (tunable, signature[name].default):
                raise ValueError(f"{registry.kind} argument {name!r} must have one range and default in every "
                                 f"{registry.kind}, but {entry.name!r} gives {tunable} with default "
                                 f"{signature[name].default}")
            users.setdefault(name, []).append(entry.name)
    params: dict[str, Param] = {}
    for name, (tunable, default) in ranges.items():
        kind: type[Range] = Int if isinstance(default, int) else Float
        params[name] = kind(default=default, low=tunable.low, high=tunable.high, log=tunable.log,
                            when=when(**{parent: tuple(users[name])}))
    return params


__all__ = ["Tunable", "tunable_params"]
