"""Loading outside tasks and strategies: modules named in a spec, and installed entry points.

A plugin module registers itself on import with the same decorators the built-ins use.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points
from pathlib import Path

ENTRY_POINT_GROUP = "harness.plugins"


def load_builtins() -> None:
    """Import the built-in tasks and strategies, then every installed `harness.plugins` entry point."""
    importlib.import_module("tasks")
    importlib.import_module("strategies")
    for point in entry_points(group=ENTRY_POINT_GROUP):
        point.load()


def load_plugins(modules: list[str], search_dir: Path | None = None) -> list[str]:
    """Import `modules` (the spec's folder is searched first); returns one problem line per failure."""
    if search_dir is not None and str(search_dir) not in sys.path:
        sys.path.insert(0, str(search_dir))
    problems = []
    for i, module in enumerate(modules):
        try:
            importlib.import_module(module)
        except Exception as error:  # any failure of a user's module is reported, not raised
            problems.append(f"plugins[{i}]: cannot import {module!r}: {type(error).__name__}: {error}")
    return problems
