"""Trials per hour with 1, 2 and 4 worker processes on one storage (journal file, PostgreSQL).

The task is `slow` from harness.testing.tasks: tiny blobs whose every training step sleeps, as a
GPU-bound step leaves the CPU idle, so the numbers measure the harness's coordination (claims under
the storage lock, heartbeats, per-epoch reports) rather than how many CPU cores the machine has.
Throughput is taken from the trials' own start and end times in the storage (worker start-up is
left out); the overhead per trial is each worker's busy time less the training time its epochs
recorded, per trial.

    python -m benchmarks.parallel_scaling          # small: about three minutes on a laptop
    python -m benchmarks.parallel_scaling --full   # more trials per cell
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import optuna
from typer.testing import CliRunner

from harness.cli import app
from harness.store import open_storage
from harness.testing import postgres

WORKERS = (1, 2, 4)


def spec(name: str, workers: int, full: bool) -> dict[str, Any]:
    """Trials of about a second (3 steps x 2 epochs x `pause`), as CPU-light as GPU-bound ones."""
    return {"name": name, "tasks": [{"name": "slow", "pause": 0.2 if full else 0.1}], "strategies": ["random"],
            "seeds": list(range(4 if full else 2)), "budget": {"trials": 16 if full else 8, "epochs": 2},
            "plugins": ["harness.testing.tasks"], "device": "cpu",
            "executor": {"name": "processes", "workers": workers}}


def measure(url: str) -> dict[str, float]:
    """Trials per hour from the first start to the last end, and the overhead per trial in ms."""
    storage = open_storage(url)
    trials = [t for name in optuna.get_all_study_names(storage)
              for t in optuna.load_study(study_name=name, storage=storage).trials if t.state.name == "COMPLETE"]
    first = min(t.datetime_start for t in trials)
    last = max(t.datetime_complete for t in trials)
    by_worker = defaultdict(list)
    for t in trials:
        by_worker[t.system_attrs["worker"]].append(t)
    overhead = 0.0
    for own in by_worker.values():
        busy = (max(t.datetime_complete for t in own) - min(t.datetime_start for t in own)).total_seconds()
        overhead += busy - sum(epoch["seconds"] for t in own for epoch in t.user_attrs["curve"])
    return {"trials": len(trials), "trials_per_hour": len(trials) / (last - first).total_seconds() * 3600,
            "overhead_ms_per_trial": 1000 * overhead / len(trials)}


def scaling(storage: str, server: str | None, full: bool, root: Path) -> dict[str, Any]:
    """One run per worker count; on the server's new database, else the run directory's journal file."""
    rows = {}
    for workers in WORKERS:
        name = f"{storage}_{workers}"
        spec_path = root / f"{name}.yaml"
        spec_path.write_text(json.dumps(spec(name, workers, full)))
        url = postgres.create_database(server, name) if server else f"journal://{root / name / 'journal.log'}"
        result = CliRunner().invoke(app, ["run", str(spec_path), "--runs-dir", str(root),
                                          *(["--storage", url] if server else [])])
        if result.exit_code != 0:
            raise RuntimeError(result.output)
        rows[workers] = measure(url)
    for row in rows.values():
        row["speedup"] = row["trials_per_hour"] / rows[1]["trials_per_hour"]
    return rows


def run(full: bool = False) -> dict[str, Any]:
    """Every storage available here x 1, 2, 4 workers; `summary` is one line."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp)
        results["journal"] = scaling("journal", None, full, root)
        if postgres.available():
            server = stack.enter_context(postgres.temporary_server())
            results["postgresql"] = scaling("postgresql", server, full, root)
    parts = [f"{storage}: " + ", ".join(f"{w} workers {row['speedup']:.2f}x" for w, row in rows.items())
             + f" ({rows[1]['overhead_ms_per_trial']:.0f} ms overhead/trial alone)"
             for storage, rows in results.items()]
    results["summary"] = "parallel scaling, speedup over 1 worker: " + "; ".join(parts)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="more trials per cell")
    results = run(parser.parse_args().full)
    for storage in ("journal", "postgresql"):
        for workers, row in results.get(storage, {}).items():
            print(f"{storage:<11} {workers} workers: {row['trials_per_hour']:8.0f} trials/h  speedup "
                  f"{row['speedup']:.2f}x  overhead {row['overhead_ms_per_trial']:6.1f} ms/trial "
                  f"({row['trials']} trials)")
    print(results["summary"])


if __name__ == "__main__":
    main()
