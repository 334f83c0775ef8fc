"""Performance benchmarks of the harness: each module exposes `run(full: bool) -> dict`.

`python -m benchmarks [names...] [--full]` (or `harness bench`) runs them, prints each one-line
summary (a ratio measured in the same run) and writes `benchmarks/results/<name>.json` with the
date, device, versions and command beside the figures. The default size runs in about a minute per
benchmark on a laptop CPU; `--full` is the size meant for a GPU.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from harness.store import hardware, package_versions
from harness.trainer import resolve_device

RESULTS_DIR = Path(__file__).parent / "results"


def benchmarks() -> dict[str, Callable[[bool], dict[str, Any]]]:
    """Every module of this package with a `run(full)` function, by module name (helpers start with `_`)."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        run = getattr(importlib.import_module(f"{__name__}.{module.name}"), "run", None)
        if callable(run):
            found[module.name] = run
    return dict(sorted(found.items()))


def provenance(command: str) -> dict[str, Any]:
    """What a recorded figure needs beside it: when, where, with which versions, by which command."""
    device = resolve_device("auto")
    machine = hardware(device)
    versions = package_versions()
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "device": machine.get("gpu", machine["cpu"]), "device_type": device.type,
            "cpu_count": machine["cpu_count"], "python": machine["python"],
            "torch": versions.get("torch", torch.__version__), "optuna": versions.get("optuna"),
            "command": command}


def main(argv: Sequence[str] | None = None) -> int:
    available = benchmarks()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all): {', '.join(available)}")
    parser.add_argument("--full", action="store_true", help="the full size, meant for a GPU")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON files go")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")
    command = " ".join(["python -m benchmarks", *args.names, *(["--full"] if args.full else [])])
    args.results_dir.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(available):
        figures = available[name](args.full)
        record = {"benchmark": name, "full": args.full, **provenance(command), **figures}
        (args.results_dir / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"{name}: {figures['summary']}", flush=True)
    return 0
