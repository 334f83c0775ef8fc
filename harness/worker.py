"""Joining an existing run from its directory: what `harness worker`, worker processes and Ray tasks do.

The run directory's manifest holds the spec (and where its plugins live), so a worker needs only
the directory and, where the run's storage is shared between machines, its URL.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from harness.errors import HarnessError
from harness.executor import CellRunner, Hooks, run_cells
from harness.plan import build_plan
from harness.spec import load_spec, parse_spec
from harness.store import RunStore, recorded_storage


def open_run(run_dir: Path, storage: str | None = None, spec_file: Path | None = None) -> RunStore:
    """The run in `run_dir`, on `storage` or the one its manifest records; checked as `harness run` checks.

    With `spec_file`, a run directory with no manifest yet is started from that spec, so every task of
    a cluster array job can be the same command; a run of another spec is refused, not silently joined."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        spec = parse_spec(manifest["spec"])
        if spec_file is not None and (given := load_spec(spec_file).hash()) != manifest["spec_hash"]:
            raise HarnessError(f"{run_dir} holds a run of another spec (hash {manifest['spec_hash']}, {spec_file} "
                               f"{given}); give the worker that run's spec, or no --spec (the run's manifest holds it)")
        storage = storage or recorded_storage(run_dir, manifest)
        spec_dir = Path(manifest["spec_dir"]) if manifest.get("spec_dir") else None
    elif spec_file is not None:
        spec, spec_dir = load_spec(spec_file), spec_file.resolve().parent
    else:
        raise HarnessError(f"{run_dir} is not a run directory (no manifest.json); start the run with `harness run` "
                           "first, or give the worker --spec")
    spec = spec.model_copy(update={"storage": storage or spec.storage})
    store = RunStore(build_plan(spec, spec_dir if spec_dir and spec_dir.is_dir() else None), run_dir.parent, run_dir)
    store.check_writable()
    store.check_shareable()
    store.check_same_spec()
    return store


def work(store: RunStore, device: torch.device, hooks: Hooks = Hooks(), spec_dir: Path | None = None) -> None:
    """Work on the run's cells until every budget is spent, as one session in its manifest."""
    with store.session(device, spec_dir):
        run_cells(CellRunner(store.plan, store, device), store.plan.cells, hooks)
