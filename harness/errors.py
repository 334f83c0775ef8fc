"""Errors a user can fix: the CLI prints them as one message, never a traceback."""

from __future__ import annotations

import errno
import re

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# What PyYAML (YAML 1.1) leaves a string although it reads as a number: a float needs a dot and a signed exponent
YAML_STRING_NUMBER = re.compile(r"([-+]?\d+)(\.\d*)?([eE])([-+]?)(\d+)")

class HarnessError(Exception):
    """A problem with the user's input or environment, stated so it can be fixed."""


class SpecError(HarnessError):
    """A spec that does not validate; holds every problem found, each with its field path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid spec:\n" + "\n".join(f"  - {p}" for p in problems))


def storage_failed(error: BaseException) -> bool:
    """The disk filled or the database failed: no trial's fault, and nothing more can be recorded, so the run
    stops and what it was doing runs again on resume."""
    from optuna.exceptions import StorageInternalError

    return isinstance(error, StorageInternalError) or (isinstance(error, OSError) and error.errno in DISK_FULL)


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
