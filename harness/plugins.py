"""Loading outside tasks and strategies: modules named in a spec, and installed entry points.

A plugin module registers itself on import with the same decorators the built-ins use.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

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


def plugin_sources(modules: Iterable[str]) -> dict[str, dict[str, str | None]]:
    """Each imported plugin module's source file and SHA-256: the spec's modules, then the installed entry points'.

    Recorded with every session, so a plugin whose code changed between two runs shows beside the package versions.
    """
    names = [*modules, *(point.module for point in entry_points(group=ENTRY_POINT_GROUP))]
    return {name: source_of(sys.modules[name]) for name in dict.fromkeys(names) if name in sys.modules}


def source_of(module: ModuleType) -> dict[str, str | None]:
    """A module's file and the SHA-256 of its bytes; for a package, its folder and the SHA-256 of its files'
    `sha256sum` lines (names relative to the folder, sorted), so a copy of the same code elsewhere hashes the same."""
    folders = [Path(folder).resolve() for folder in getattr(module, "__path__", ())]
    if folders:
        files = sorted((str(file.relative_to(folder)), file) for folder in folders for file in folder.rglob("*")
                       if file.is_file() and "__pycache__" not in file.parts)
        listing = "".join(f"{_sha256(file.read_bytes())}  {name}\n" for name, file in files)
        return {"path": os.pathsep.join(map(str, folders)), "sha256": _sha256(listing.encode())}
    file = getattr(module, "__file__", None)
    if file is None or not Path(file).is_file():
        return {"path": file, "sha256": None}  # built in, frozen or inside an archive: no file of its own to hash
    return {"path": str(Path(file).resolve()), "sha256": _sha256(Path(file).read_bytes())}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
