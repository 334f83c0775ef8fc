"""Errors a user can fix: the CLI prints them as one message, never a traceback."""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# What PyYAML (YAML 1.1) leaves a string although it reads as a number: a float needs a dot and a signed exponent
YAML_STRING_NUMBER = re.compile(r"([-+]?\d+)(\.\d*)?([eE])([-+]?)(\d+)")

class HarnessError(Exception):
    """A problem with the user's input or environment, stated so it can be fixed."""


class Wording:
    """How a message names what the user gave: a spec's field paths and settings, or, in a subclass, the arguments
    of a command that builds its spec from them (`harness train`). A problem is said once, by the code that finds
    it, in the wording of the caller (`worded`); this one is the spec's."""

    heading = "invalid spec"  # above the list of a SpecError's problems

    def path(self, path: str) -> str:
        """Where the spec field at `path` (e.g. `tasks[0].root`) was given."""
        return path

    def option(self, name: str) -> str:
        """A task option, named in a sentence."""
        return f"`{name}:`"

    def set_option(self, name: str, value: object) -> str:
        """How to set a task option to `value`."""
        return f"set `{name}: {json.dumps(value)}` in the task entry"

    def device(self, name: str) -> str:
        """How to choose the device `name`."""
        return f"device: {name}"

    def problem(self, problem: str) -> str:
        """A "path: what is wrong" problem with its path in these words."""
        path, colon, what = problem.partition(": ")
        return f"{self.path(path)}{colon}{what}" if colon else problem


SPEC_WORDING = Wording()
_wording: ContextVar[Wording] = ContextVar("wording")


def wording() -> Wording:
    """The wording of the caller: the spec's unless a command chose its own with `worded`."""
    return _wording.get(SPEC_WORDING)


@contextmanager
def worded(words: Wording) -> Iterator[None]:
    """Say every problem found inside in `words`."""
    token = _wording.set(words)
    try:
        yield
    finally:
        _wording.reset(token)


class SpecError(HarnessError):
    """A spec that does not validate; holds every problem found, each with its field path (in the caller's
    wording)."""

    def __init__(self, problems: list[str]) -> None:
        words = wording()
        self.problems = [words.problem(p) for p in problems]
        super().__init__(f"{words.heading}:\n" + "\n".join(f"  - {p}" for p in self.problems))


def storage_failed(error: BaseException) -> bool:
    """The disk filled or the database failed: no trial's fault, and nothing more can be recorded, so the run
    stops and what it was doing runs again on resume."""
    from optuna.exceptions import StorageInternalError

    return (isinstance(error, StorageInternalError) or connection_lost(error)
            or (isinstance(error, OSError) and error.errno in DISK_FULL))


def connection_lost(error: BaseException) -> bool:
    """The database is out of reach (a server refusing, restarting or cutting the connection, which a wait may
    mend; a SQLite file that cannot be written): SQLAlchemy's OperationalError, raised as it is or under the
    error Optuna raises for a failed commit."""
    import sqlalchemy

    return any(isinstance(e, sqlalchemy.exc.OperationalError)
               or (isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated) for e in causes(error))


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error and the ones it was raised from, outermost first."""
    while error is not None:
        yield error
        error = error.__cause__


def cause_line(error: BaseException) -> str:
    """The innermost cause's type and first line: a database driver's own words (SQLAlchemy keeps them in
    `orig`), not the wrappers' around them."""
    innermost = list(causes(error))[-1]
    cause = getattr(innermost, "orig", None) or innermost
    return f"{type(cause).__name__}: {first_line(cause)}"


def first_line(text: object) -> str:
    """The first line of what an error (or a docstring) says, "" when it says nothing: messages go on one line."""
    lines = ("" if text is None else str(text)).strip().splitlines()
    return lines[0] if lines else ""


def yaml_number_hint(value: object) -> str:
    """Where a number was asked and YAML read `1e-3` or `1.0e3` as a string, how to write it so that it reads as one."""
    found = YAML_STRING_NUMBER.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return ""
    mantissa, fraction, e, sign, exponent = found.groups()
    return f"; YAML reads {value} as a string: write {mantissa}{fraction or '.0'}{e}{sign or '+'}{exponent}"
