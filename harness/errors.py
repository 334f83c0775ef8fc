"""Errors a user can fix: the CLI prints them as one message, never a traceback."""

from __future__ import annotations


class HarnessError(Exception):
    """A problem with the user's input or environment, stated so it can be fixed."""


class SpecError(HarnessError):
    """A spec that does not validate; holds every problem found, each with its field path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid spec:\n" + "\n".join(f"  - {p}" for p in problems))


def first_line(text: object) -> str:
    """The first line of what an error (or a docstring) says, "" when it says nothing: messages go on one line."""
    lines = ("" if text is None else str(text)).strip().splitlines()
    return lines[0] if lines else ""
