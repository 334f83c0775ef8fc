"""A small declarative search space: ranges, choices and fixed values, possibly conditional.

It turns into Optuna suggestions (for samplers), into a finite grid at a stated resolution
(for grid search, with no meaningless points: an inactive parameter is simply absent), and into
one default configuration (the practitioner's setting, used by manual search). A range may follow an
earlier choice (`FloatBy`: each optimizer's own learning-rate range), searched through one parameter in every
configuration, so that model-based samplers keep it in their model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Union

import numpy as np
import optuna

from harness.errors import yaml_number_hint

Value = Union[float, int, str, bool]


@dataclass(frozen=True)
class Param:
    """Base of all parameter kinds; `when` makes it active only for some values of earlier ones."""

    default: Any
    when: tuple[tuple[str, tuple[Value, ...]], ...] = ()

    def active(self, config: Mapping[str, Any]) -> bool:
        return all(config.get(parent) in allowed for parent, allowed in self.when)

    def applies(self) -> str:
        """When the parameter is used, in words: what a value given for it elsewhere is told."""
        return " and ".join(f"{parent} is {' or '.join(map(str, allowed))}" for parent, allowed in self.when)

    @property
    def parents(self) -> tuple[str, ...]:
        """The earlier parameters whose values this one depends on."""
        return tuple(parent for parent, _ in self.when)

    def within(self, config: Mapping[str, Any]) -> Param:
        """The parameter as it stands in a configuration holding its parents' values."""
        return self

    def searched(self, name: str, value: Any) -> dict[str, Any]:
        """The Optuna parameter(s) a sampler draws for `value` of this parameter: what a fixed configuration is
        enqueued as, so that a trial's suggestions return it."""
        return {name: value}


@dataclass(frozen=True)
class Range(Param):
    """A numeric interval, searched (and gridded) on a log scale when `log` is set."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"`low <= high` must hold, but got (low={self.low}, high={self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs `low > 0`, but got low={self.low}")

    def points(self, resolution: int) -> np.ndarray:
        return (np.geomspace if self.log else np.linspace)(self.low, self.high, resolution)

    def allows(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high

    def allowed(self) -> str:
        return f"{self.low}..{self.high}"


@dataclass(frozen=True)
class Float(Range):
    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def grid(self, resolution: int) -> list[float]:
        return sorted({float(v) for v in self.points(resolution)})

    def plain(self, when: tuple[tuple[str, tuple[Value, ...]], ...] | None = None) -> Float:
        """This range as a plain `Float`, searched by its own value (a `FloatBy` as its envelope), used `when`
        given, else when this one is."""
        return Float(default=self.default, low=self.low, high=self.high, log=self.log,
                     when=self.when if when is None else when)


POSITION_SUFFIX = "_position"


@dataclass(frozen=True)
class InRange(Float):
    """One choice's own range of a `FloatBy`, drawn by its position in the range (0 at `low`, 1 at `high`, on the
    range's scale): the parameter samplers see keeps one distribution whichever range a trial draws in."""

    where: str = ""  # the choice this range belongs to, in words, for messages

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return self.at(trial.suggest_float(name + POSITION_SUFFIX, 0.0, 1.0))

    def searched(self, name: str, value: Any) -> dict[str, Any]:
        return {name + POSITION_SUFFIX: self.position(value)}

    def at(self, position: float) -> float:
        """The value at `position`, to 12 significant digits, so that an enqueued value trains as given."""
        scale, unscale = (math.log, math.exp) if self.log else (float, float)
        low, high = scale(self.low), scale(self.high)
        value = float(f"{unscale(low + position * (high - low)):.12g}")
        return min(max(value, self.low), self.high)

    def position(self, value: float) -> float:
        scale = math.log if self.log else float
        return (scale(value) - scale(self.low)) / (scale(self.high) - scale(self.low)) if self.high > self.low else 0.0

    def allowed(self) -> str:
        return f"{super().allowed()} {self.where}".rstrip()


@dataclass(frozen=True)
class FloatBy(Float):
    """A range that follows an earlier choice: each optimizer has its own practical learning rates (SGD 1e-3..1e-1,
    Adam 1e-3..1e-2, Adadelta 0.1..1), and one range spanning them all has random search train Adam at 0.5.

    `low`, `high` and `default` are the envelope and the default configuration's value; `ranges` gives each choice
    of `by` its (low, high, default), and a choice without one takes the envelope. Bounds an override gives replace
    the envelope, as one range for every choice. Samplers draw the position in the chosen range (`InRange`): a
    parameter whose bounds changed from trial to trial would drop out of the model of a GP or CMA-ES sampler, which
    models only the parameters every trial shares with one distribution.
    """

    by: str = ""
    ranges: tuple[tuple[Value, float, float, float], ...] = ()  # (choice, low, high, default)

    @property
    def parents(self) -> tuple[str, ...]:
        return (*super().parents, self.by)

    def within(self, config: Mapping[str, Any]) -> InRange:
        choice = config.get(self.by)
        low, high, default = next(((low, high, default) for value, low, high, default in self.ranges
                                    if value == choice), (self.low, self.high, self.default))
        return InRange(default=default, low=low, high=high, log=self.log, when=self.when,
                       where=f"with {self.by} {choice}")

    def has_range(self, choice: Any) -> bool:
        return any(value == choice for value, *_ in self.ranges)

    def changed(self, changes: Mapping[Any, Any]) -> FloatBy:
        """Each named choice's range changed as a mapping changes a range (`low`, `high`, `default`), the others
        kept: a paper's "SGD in 0.01..0.3, AdamW in 1e-4..3e-3"."""
        unknown = [str(choice) for choice in changes if not self.has_range(choice)]
        if unknown:
            raise KeyError(f"cannot set {unknown}: give either low, high, default or log, one range for every "
                           f"{self.by}, or a mapping for each {self.by} of its own range: "
                           f"{', '.join(str(value) for value, *_ in self.ranges)}")
        ranges = []
        for value, low, high, default in self.ranges:
            own = Float(default=default, low=low, high=high, log=self.log)
            change = changes.get(value, {})
            if not isinstance(change, Mapping) or "log" in change:
                raise TypeError(f"{value}: give its range as a mapping of low, high and default (the scale is every "
                                f"{self.by}'s), but got {change!r}")
            try:
                own = override_param(own, change)
            except (KeyError, ValueError, TypeError) as error:
                raise type(error)(f"{value}: {error.args[0] if error.args else error}") from None
            ranges.append((value, own.low, own.high, own.default))
        changed = [r for r in ranges if r[0] in changes]
        return replace(self, ranges=tuple(ranges), low=min(self.low, *(r[1] for r in changed)),
                       high=max(self.high, *(r[2] for r in changed)))


@dataclass(frozen=True)
class Int(Range):
    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)

    def grid(self, resolution: int) -> list[int]:
        return sorted({int(round(v)) for v in self.points(resolution)})

    def allows(self, value: Any) -> bool:
        return isinstance(value, int) and super().allows(value)

    def allowed(self) -> str:
        return f"integers {self.low}..{self.high}"


@dataclass(frozen=True)
class Choice(Param):
    choices: tuple[Value, ...] = ()

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError("a choice needs at least one value, but got none")

    def suggest(self, trial: optuna.Trial, name: str) -> Value:
        return trial.suggest_categorical(name, list(self.choices))

    def allows(self, value: Any) -> bool:
        return value in self.choices

    def allowed(self) -> str:
        return ", ".join(map(repr, self.choices))

    def grid(self, resolution: int) -> list[Value]:
        return list(self.choices)


@dataclass(frozen=True)
class Fixed(Param):
    """A value held constant: never suggested, never part of a grid's size."""

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return self.default

    def allows(self, value: Any) -> bool:
        return value == self.default

    def allowed(self) -> str:
        return f"{self.default!r} (fixed)"

    def grid(self, resolution: int) -> list[Any]:
        return [self.default]


def when(**parents: Value | tuple[Value, ...]) -> tuple[tuple[str, tuple[Value, ...]], ...]:
    """`when(optimizer="sgd")` or `when(schedule=("step", "exponential"))` for a conditional parameter."""
    return tuple((k, v if isinstance(v, tuple) else (v,)) for k, v in parents.items())


class Space(Mapping[str, Param]):
    """Ordered parameters; a conditional parameter must come after the ones it depends on."""

    def __init__(self, params: Mapping[str, Param]) -> None:
        self._params = dict(params)
        seen: set[str] = set()
        for name, param in self._params.items():
            for parent in param.parents:
                if parent not in seen:
                    raise ValueError(f"{name!r} depends on {parent!r}, which must come before it")
            seen.add(name)

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Ask the trial for every active parameter (fixed ones are filled in, not asked)."""
        config: dict[str, Any] = {}
        for name, param in self._params.items():
            if param.active(config):
                config[name] = param.within(config).suggest(trial, name)
        return config

    def defaults(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for name, param in self._params.items():
            if param.active(config):
                config[name] = param.within(config).default
        return config

    def complete(self, partial: Mapping[str, Any]) -> dict[str, Any]:
        """A whole configuration: the given values, defaults for the rest; every value checked."""
        unknown = [k for k in partial if k not in self._params]
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; this space has: {', '.join(self._params)}")
        config: dict[str, Any] = {}
        for name, param in self._params.items():
            if param.active(config):
                param = param.within(config)
                value = partial.get(name, param.default)
                if not param.allows(value):
                    raise ValueError(f"{name}={value!r} is outside the space; allowed: {param.allowed()}")
                config[name] = value
        unused = [name for name in partial if name not in config]
        if unused:
            name = unused[0]
            raise ValueError(f"{name}={partial[name]!r} does not apply to this configuration: {name} is used only "
                             f"when {self._params[name].applies()}")
        return config

    def rows(self) -> list[list[str]]:
        """[parameter, values, default, used when] for each parameter some configuration uses: the search space
        as a paper's table states it, and as `harness check` shows it before a run. A range that follows a choice
        has a row for each of its ranges, naming the values offered that have it."""
        idle = self.never_active()
        return [[name, part.allowed() + (", log scale" if isinstance(part, Range) and part.log else ""),
                 repr(part.default) if isinstance(part.default, str) else str(part.default), self.used_when(part)]
                for name, param in self._params.items() if name not in idle for part in self.parts(param)]

    def offered(self, name: str) -> tuple[Any, ...] | None:
        """The values a choice (or a fixed parameter) offers; None for a range."""
        param = self._params[name]
        return tuple(param.grid(0)) if isinstance(param, (Choice, Fixed)) else None

    def parts(self, param: Param) -> tuple[Param, ...]:
        """`param`, or a `FloatBy` as one range for each value this space offers of the choice it follows, the
        values that have the same range together."""
        if isinstance(param, FloatBy) and (offered := self.offered(param.by)) is not None:
            sharing: dict[tuple[float, float, float], list[Any]] = {}  # each range, and the choices that have it
            for value in offered:
                part = param.within({param.by: value})
                sharing.setdefault((part.low, part.high, part.default), []).append(value)
            if len(sharing) == 1:
                return (param.within({param.by: offered[0]}).plain(),)
            return tuple(param.within({param.by: values[0]}).plain(when=(*param.when, (param.by, tuple(values))))
                         for values in sharing.values())
        return (param,)

    def used_when(self, param: Param) -> str:
        """`param.applies()` in the terms of this space: only the values of its parents that the space offers."""
        conditions = []
        for parent, allowed in param.when:
            offered = self.offered(parent) or allowed
            conditions.append(f"{parent} is {' or '.join(str(value) for value in allowed if value in offered)}")
        return " and ".join(conditions) or "always"

    def never_active(self) -> dict[str, str]:
        """The parameters that no value offered for the ones they depend on turns on (momentum in a space without
        SGD), each with why in words: a value a spec sets for one of them would never be used."""
        offered: dict[str, set[Any] | None] = {}  # the values each parameter that can be active takes; None: a range
        idle: dict[str, str] = {}
        for name, param in self._params.items():
            unmet = [parent for parent, allowed in param.when
                     if parent in idle or (offered[parent] is not None and not offered[parent] & set(allowed))]
            if not unmet:
                offered[name] = set(values) if (values := self.offered(name)) is not None else None
                continue
            gives = "; ".join(f"{parent} is never used itself" if parent in idle else
                              f"this space offers {parent} {' or '.join(map(str, self._params[parent].grid(0)))} only"
                              for parent in unmet)
            idle[name] = f"{name} is used only when {param.applies()}, but {gives}"
        return idle

    def ranges_never_used(self, name: str, value: Any) -> dict[str, str | None]:
        """Each choice an override of `name` gives a range of its own (`FloatBy.changed`), with why that range is
        never used where this space does not offer the choice; None for one it offers."""
        param = self._params.get(name)
        offered = self.offered(param.by) if isinstance(param, FloatBy) else None
        if offered is None or not isinstance(value, Mapping):
            return {}
        return {str(choice): None if choice in offered else
                f"the range for {choice} is never used: this space offers {param.by} "
                f"{' or '.join(map(str, offered))} only; drop it, or offer {choice}"
                for choice in value if param.has_range(choice)}

    def drawn_names(self) -> set[str]:
        """The names of the Optuna parameters `suggest` may draw: what a trial of this space can hold."""
        return {name + POSITION_SUFFIX if isinstance(param, FloatBy) else name
                for name, param in self._params.items() if not isinstance(param, Fixed)}

    def searched_part(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The entries a strategy chooses (fixed parameters are filled in by `suggest`, never enqueued)."""
        return {k: v for k, v in config.items() if not isinstance(self._params[k], Fixed)}

    def as_searched(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A (possibly partial) configuration as the Optuna parameters `suggest` draws for it: what a fixed
        configuration is enqueued as. Fixed parameters are left out; a `FloatBy` is its position in its range."""
        whole = self.complete(config)
        return {key: value for name, value in self.searched_part(whole).items()
                for key, value in self._params[name].within(whole).searched(name, value).items()}

    def grid(self, resolution: int) -> Grid:
        """Every combination at `resolution` points per numeric range; inactive parameters are absent."""
        return Grid(self._params, resolution)

    def override(self, overrides: Mapping[str, Any]) -> Space:
        """Narrow, widen, fix or re-choose parameters; see `override_param` for the forms."""
        unknown = [k for k in overrides if k not in self._params]
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; this space has: {', '.join(self._params)}")
        params = dict(self._params)
        for name, value in overrides.items():
            try:
                params[name] = override_param(params[name], value)
            except (KeyError, ValueError, TypeError) as error:
                raise ValueError(f"{name}: {error.args[0] if error.args else error}") from None
        return Space(params)

    def __repr__(self) -> str:
        return f"Space({self._params!r})"


class Grid(Sequence[dict[str, Any]]):
    """A space's grid points in a fixed order (the first parameter varies slowest), none of them built until
    asked for: a text task's full factorial holds millions of points, of which a grid search under a budget
    in trials runs a seeded handful."""

    def __init__(self, params: Mapping[str, Param], resolution: int) -> None:
        self._params, self._resolution = list(params.items()), resolution
        self._values: dict[tuple, list[Any]] = {}  # a parameter's grid values, by its index and its parents' values
        # what the points after parameter i depend on: the parents of the parameters from i on
        self._parents = [sorted({parent for _, p in self._params[i:] for parent in p.parents})
                         for i in range(len(self._params) + 1)]
        self._counts: dict[tuple, int] = {}
        self._size = self._completions({}, 0)

    def _options(self, config: Mapping[str, Any], start: int) -> list[Any]:
        """The values parameter `start` takes after `config`: [None] where it is inactive (absent from the point)."""
        param = self._params[start][1]
        if not param.active(config):
            return [None]
        key = (start, *(config.get(parent) for parent in param.parents))
        if key not in self._values:
            self._values[key] = param.within(config).grid(self._resolution)
        return self._values[key]

    def _extended(self, config: Mapping[str, Any], start: int, value: Any) -> Mapping[str, Any]:
        return config if value is None else {**config, self._params[start][0]: value}

    def _completions(self, config: Mapping[str, Any], start: int) -> int:
        """How many points extend `config`, which sets parameters before `start`."""
        if start == len(self._params):
            return 1
        key = (start, *(config.get(parent) for parent in self._parents[start]))
        if key not in self._counts:
            self._counts[key] = sum(self._completions(self._extended(config, start, v), start + 1)
                                    for v in self._options(config, start))
        return self._counts[key]

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index):  # type: ignore[override]  # an int gives a point, a slice a list of them
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        if not -self._size <= index < self._size:
            raise IndexError(f"grid index {index} is outside a grid of {self._size} points")
        index %= self._size
        config: Mapping[str, Any] = {}
        for start in range(len(self._params)):
            for value in self._options(config, start):
                count = self._completions(self._extended(config, start, value), start + 1)
                if index < count:
                    config = self._extended(config, start, value)
                    break
                index -= count
        return dict(config)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._extend({}, 0)

    def _extend(self, config: Mapping[str, Any], start: int) -> Iterator[dict[str, Any]]:
        if start == len(self._params):
            yield dict(config)
            return
        for value in self._options(config, start):
            yield from self._extend(self._extended(config, start, value), start + 1)


def override_param(param: Param, value: Any) -> Param:
    """A scalar fixes the parameter, a list becomes its choices, a mapping updates its fields; every value given
    must have the parameter's type, so that a mistake stops the spec rather than failing every trial. A `FloatBy`
    takes a mapping of choices to their ranges' changes (`FloatBy.changed`), or fields that make it one range for
    every choice."""
    if isinstance(value, Mapping) and isinstance(param, FloatBy) and any(param.has_range(key) for key in value):
        return param.changed(value)
    if isinstance(value, Mapping):
        param = param.plain() if isinstance(param, FloatBy) else param
        allowed = {f for f in ("low", "high", "log", "default", "choices") if hasattr(param, f)}
        bad = set(value) - allowed
        if bad:
            raise KeyError(f"cannot set {sorted(bad)} on a {type(param).__name__}; allowed: {sorted(allowed)}")
        if not isinstance(value.get("log", False), bool):
            raise TypeError(f"log must be true or false, but got {value['log']!r}")
        for key in ("low", "high", "default"):
            if key in value:
                _check_type(param, value[key], key)
        updates = {k: tuple(_check_type(param, c, "each choice") for c in v) if k == "choices" else v
                   for k, v in value.items()}
        return _with_valid_default(replace(param, **updates))
    if isinstance(value, (list, tuple)):
        choices = tuple(_check_type(param, c, "each choice") for c in value)
        return _with_valid_default(Choice(default=param.default, when=param.when, choices=choices))
    return Fixed(default=_check_type(param, value, "a fixed value"), when=param.when)


def _check_type(param: Param, value: Any, what: str) -> Any:
    """`value` if it has the type `param` takes: a number for a range (an integer for an integer range), the type of
    one of its choices for a choice (an integer where they are floats); a bool is never a number."""
    if isinstance(param, Range):
        kinds, wanted = ((int,), "an integer") if isinstance(param, Int) else ((int, float), "a number")
    elif isinstance(param, Choice):
        types = {type(choice) for choice in param.choices}
        kinds = tuple(types | {int} if float in types else types)
        wanted = f"of the type of its choices ({param.allowed()})"
    else:
        return value  # a fixed parameter has no type to keep
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return value
    raise TypeError(f"{what} must be {wanted}, but got {value!r}{yaml_number_hint(value)}")


def _with_valid_default(param: Param) -> Param:
    """Keep the practitioner's default where it is still allowed, otherwise the nearest allowed value."""
    if isinstance(param, Choice) and param.default not in param.choices:
        return replace(param, default=param.choices[0])
    if isinstance(param, Range) and not param.low <= param.default <= param.high:
        clipped = min(max(param.default, param.low), param.high)
        return replace(param, default=type(param.default)(clipped))
    return param


def without_positions(params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's Optuna parameters less the positions `FloatBy` ranges are drawn by, which are no value of the
    space: what a trial that failed before its configuration was written shows of it."""
    return {name: value for name, value in params.items() if not name.endswith(POSITION_SUFFIX)}


def positions(params: Mapping[str, Any]) -> dict[str, float]:
    """The positions a trial's `FloatBy` parameters were drawn at, by parameter name: what an analysis that takes
    its parameters as independent (fANOVA) needs in place of a value whose range follows another choice."""
    return {name.removesuffix(POSITION_SUFFIX): value for name, value in params.items()
            if name.endswith(POSITION_SUFFIX)}


def config_key(config: Mapping[str, Any]) -> tuple:
    """A hashable form of a configuration, with floats compared at storage precision."""
    return tuple(sorted((k, round(v, 12) if isinstance(v, float) and math.isfinite(v) else v) for k, v in config.items()))


__all__ = ["Param", "Range", "Float", "InRange", "FloatBy", "Int", "Choice", "Fixed", "Space", "Grid", "when",
           "override_param", "config_key", "positions", "without_positions"]
