"""Trials per hour with 1, 2 and 4 worker processes on one storage (journal file, PostgreSQL).

The task is `slow` from harness.testing.tasks: tiny blobs whose every training step sleeps, as a
GPU-bound step leaves the CPU idle, so the numbers measure the harness's coordination rather than
how many CPU cores the machine has. Throughput is taken from the trials' own start and end times in
the storage (process start-up is left out, each worker's first-trial warm-up is not). The storage
overhead per trial is timed apart, in one process: a trial's storage traffic with no training (the
claim under the lock, the configuration, two epochs' curve and report, the tell).

    python -m benchmarks.parallel_scaling          # small: about three minutes on a laptop
    python -m benchmarks.parallel_scaling --full   # more trials per cell
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import optuna
from typer.testing import CliRunner

from harness.budget import Budget
from harness.claims import claim, heartbeat
from harness.cli import app
from harness.executor import CellRunner
from harness.store import open_storage
from harness.testing import postgres

WORKERS = (1, 2, 4)


def spec(name: str, workers: int, full: bool) -> dict[str, Any]:
    """Trials of about a second (3 steps x 2 epochs x `pause`), as CPU-light as GPU-bound ones."""
    return {"name": name, "tasks": [{"name": "slow", "pause": 0.2 if full else 0.1}], "strategies": ["random"],
            "seeds": list(range(4 if full else 2)), "budget": {"trials": 16 if full else 8, "epochs": 2},
            "plugins": ["harness.testing.tasks"], "device": "cpu",
            "executor": {"name": "processes", "workers": workers}}


def trials_per_hour(url: str) -> tuple[int, float]:
    """Complete trials, and their rate from the first start to the last end."""
    storage = open_storage(url)
    trials = [t for name in optuna.get_all_study_names(storage)
              for t in optuna.load_study(study_name=name, storage=storage).trials if t.state.name == "COMPLETE"]
    span = max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
    return len(trials), len(trials) / span.total_seconds() * 3600


def storage_ms_per_trial(url: str, trials: int = 40, epochs: int = 2) -> float:
    """Milliseconds of storage traffic per trial, as `CellRunner` makes it, with no training."""
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="overhead", direction="maximize")
    budget = Budget(epochs=epochs, trials=trials)

    def bookkeeping(trial: optuna.Trial) -> float:
        trial.set_user_attr("config", {"lr": trial.suggest_float("lr", 1e-3, 1e-1, log=True)})
        trial.set_user_attr("train_seed", trial.number)
        for epoch in range(1, epochs + 1):
            trial.set_user_attr("curve", [{"epoch": e, "val_accuracy": 0.5} for e in range(1, epoch + 1)])
            trial.report(0.5, epoch)
        trial.set_user_attr("test_accuracy", 0.5)
        return 0.5

    started = time.perf_counter()
    while isinstance(trial := claim(study, storage, budget, lambda _: {}), optuna.Trial):
        with heartbeat(storage, trial):
            CellRunner.finish(study, trial, lambda: bookkeeping(trial))
    return 1000 * (time.perf_counter() - started) / trials


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
        rows[workers] = dict(zip(("trials", "trials_per_hour"), trials_per_hour(url)))
    for row in rows.values():
        row["speedup"] = row["trials_per_hour"] / rows[1]["trials_per_hour"]
    overhead = postgres.create_database(server, f"{storage}_overhead") if server else \
        f"journal://{root / f'{storage}_overhead.log'}"
    return {"workers": rows, "storage_ms_per_trial": storage_ms_per_trial(overhead)}


def run(full: bool = False) -> dict[str, Any]:
    """Every storage available here x 1, 2, 4 workers; `summary` is one line."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp)
        results["journal"] = scaling("journal", None, full, root)
        if postgres.available():
            server = stack.enter_context(postgres.temporary_server())
            results["postgresql"] = scaling("postgresql", server, full, root)
    parts = [f"{storage}: " + ", ".join(f"{w} workers {row['speedup']:.2f}x" for w, row in found["workers"].items())
             + f", storage {found['storage_ms_per_trial']:.0f} ms/trial" for storage, found in results.items()]
    results["summary"] = "parallel scaling, speedup over 1 worker: " + "; ".join(parts)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="more trials per cell")
    results = run(parser.parse_args().full)
    for storage in ("journal", "postgresql"):
        found = results.get(storage, {"workers": {}})
        for workers, row in found["workers"].items():
            print(f"{storage:<11} {workers} workers: {row['trials_per_hour']:8.0f} trials/h  speedup "
                  f"{row['speedup']:.2f}x  ({row['trials']} trials)")
        if "storage_ms_per_trial" in found:
            print(f"{storage:<11} storage traffic: {found['storage_ms_per_trial']:.1f} ms per trial")
    print(results["summary"])


if __name__ == "__main__":
    main()
