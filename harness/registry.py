"""One registry type for tasks, strategies, optimizers and schedules.

Entries carry their metadata (one line of help, anything else the family needs), so `harness ls`,
spec validation and the contract tests all read the same list and there is never a second one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from harness.errors import HarnessError, first_line

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    help: str
    meta: dict[str, Any] = field(default_factory=dict)


class UnknownName(HarnessError):
    """A name that is not registered; the message lists the registered ones."""


class Registry(Generic[T]):
    """Names to objects of one family (e.g. "task"), filled by decorators at import time."""

    def __init__(self, kind: str, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, help: str | None = None, **meta: Any) -> Callable[[T], T]:
        """Decorator: `@tasks.register("digits")`; help defaults to the docstring's first line."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = Entry(name, obj, help or first_line(getattr(obj, "__doc__", None)), meta)
            return obj

        return add

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(
                f"unknown {self.kind} {name!r}; registered: {', '.join(self.names()) or '(none)'}"
            ) from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def name_of(self, obj: T) -> str:
        """The name `obj` was registered under (reverse look-up)."""
        return next(e.name for e in self._entries.values() if e.obj is obj)

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())
