"""The spec: one YAML file, validated once into frozen typed objects before anything runs.

Every problem is reported with its field path, the value given and what is allowed, all at once.
The hash of the validated spec names the run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from collections.abc import Sequence
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from harness.errors import HarnessError, SpecError, yaml_number_hint
from harness.options import Options

Entry = Union[str, dict[str, Any]]  # a registered name, or {name: ..., label: ..., space: ..., <options>}
DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:\d+)?)$"
Seed = Annotated[int, Field(ge=0, lt=2**32)]  # what numpy's SeedSequence and every storage's integers take


class BudgetSpec(Options):
    """`epochs` per trial at most, and exactly one cap per cell, the same for every strategy."""

    epochs: Annotated[int, Field(gt=0)]
    trials: Annotated[int | None, Field(gt=0)] = None
    total_epochs: Annotated[int | None, Field(gt=0)] = None  # pruned trials leave epochs for more trials
    seconds: Annotated[float | None, Field(gt=0, allow_inf_nan=False)] = None  # wall time per cell

    @model_validator(mode="after")
    def one_cap(self) -> BudgetSpec:
        given = [name for name in ("trials", "total_epochs", "seconds") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of trials, total_epochs or seconds (got {', '.join(given) or 'none'})")
        if self.total_epochs is not None and self.total_epochs < self.epochs:
            raise ValueError(f"total_epochs ({self.total_epochs}) must be at least epochs ({self.epochs}): a cell's "
                             "first trial would overspend it")
        return self


class Spec(Options):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    tasks: Annotated[list[Entry], Field(min_length=1)]
    strategies: Annotated[list[Entry], Field(min_length=1)]
    seeds: Annotated[list[Seed], Field(min_length=1)]
    budget: BudgetSpec
    space: dict[str, Any] = {}  # overrides applied to every task's space
    storage: str | None = None  # SQLAlchemy URL; default: SQLite in the run directory
    device: Annotated[str, Field(pattern=DEVICE_PATTERN)] = "auto"
    executor: Entry = "local"  # a registered executor's name, or {name: ..., <options>}
    plugins: list[str] = []  # modules imported before names are looked up
    noise_floor: Annotated[int | None, Field(ge=2)] = None  # re-train the manual default N times: the seed noise

    def hash(self) -> str:
        """Short content hash of the validated spec: equal specs, equal hash, whatever the YAML's layout.

        The storage URL and the executor are left out: where the trials are kept and which workers run
        them do not change what the experiment is, so a run can move between executors and resume.
        """
        canonical = json.dumps(self.model_dump(mode="json", exclude={"storage", "executor"}), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def fields_around(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """The options of the model (or nested model) that `loc`'s last part was given to; None past a non-model."""
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return sorted(model.accepted() if issubclass(model, Options) else model.model_fields)


def describe(error: ValidationError, model: type[BaseModel], prefix: str = "",
             entry_keys: Sequence[str] = ()) -> list[str]:
    """pydantic's errors as 'path: what must hold (got value)' lines; an unknown option lists the allowed
    ones: `model`'s fields, then the `entry_keys` the spec entry holding them also takes (e.g. name)."""
    return [_problem(e, model, prefix, entry_keys) for e in error.errors()]


def _problem(e: ErrorDetails, model: type[BaseModel], prefix: str, entry_keys: Sequence[str]) -> str:
    loc = tuple(p for p in e["loc"] if p not in ("str", "dict[str,any]"))  # drop union-branch names
    path = ".".join(p for p in (prefix, field_path(loc)) if p) or "(top level)"
    allowed = fields_around(model, loc) if e["type"] == "extra_forbidden" else None
    if allowed is not None:
        return f"{path}: unknown option; allowed: {', '.join([*allowed, *(entry_keys if len(loc) == 1 else ())])}"
    if e["type"] == "value_error":  # our own validators' messages, which say what they were given
        return f"{path}: {e['ctx']['error']}"
    got = "" if e["type"] == "missing" else f" (got {e['input']!r}{_yaml_number_hint(e)})"
    return f"{path}: {e['msg'][:1].lower()}{e['msg'][1:]}{got}"


def _yaml_number_hint(e: ErrorDetails) -> str:
    """PyYAML follows YAML 1.1, which reads `1e3` (no dot, no sign) as a string: say so where a number was asked."""
    return yaml_number_hint(e["input"]) if e["type"] == "float_type" else ""


def parse_spec(data: Any) -> Spec:
    if not isinstance(data, dict):
        raise SpecError([f"(top level): a spec must be a mapping of fields (got {type(data).__name__})"])
    try:
        return Spec.model_validate(data)
    except ValidationError as error:
        raise SpecError(describe(error, Spec)) from None


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping, which plain YAML resolves silently to the last value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = []  # a list, since a YAML key may be unhashable (the base class then says so)
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"{key!r} is given twice in one mapping",
                                                        key_node.start_mark)
            seen.append(key)
        return super().construct_mapping(node, deep)


def load_spec(path: Path) -> Spec:
    """Read and validate a YAML spec file."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise HarnessError(f"cannot read spec {path}: {error.strerror}") from None
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise SpecError([f"{path} is not valid YAML: {error}"]) from None
    return parse_spec(data)
