"""Per-trial fixed cost: what a trial costs the harness beyond building and training its model.

A tuning benchmark runs hundreds of short trials, so whatever the harness does around each one (the
sampler, Optuna's ask and tell, the storage writes of parameters, curve and cost records, the claim
and heartbeat) is paid hundreds of times. Here N near-empty random-search trials (a tiny CNN, a few
dozen 8x8 images, one epoch) run through the harness as `harness run` runs them, on SQLite; the
bare side then builds and trains the same N configurations with the same seeds through the same
trainer (`fit`) with nothing around it. The harness's time is its trials' span in the storage, from
the first one's start to the last one's end (as `parallel_scaling` counts it), so the run's one-off
set-up (schema, manifest) is left out. Both repeat after a warm-up and the best of each counts
(others share the machine). The storage transactions the harness commits per trial are counted too:
unlike seconds, that count does not depend on the load of the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import optuna
import sqlalchemy
import torch

from benchmarks._common import SyntheticImages, run_spec, timed, trials_of
from harness.trainer import fit, resolve_device

FIXED = {"width": 8, "batch_size": 128}  # one small batch a trial: the training is the least it can be


@contextmanager
def counted_commits() -> Iterator[list[int]]:
    """Count the transactions every SQLAlchemy engine commits inside the block (one-element list)."""
    count = [0]

    def commit(_connection: sqlalchemy.engine.Connection) -> None:
        count[0] += 1

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "commit", commit)
    try:
        yield count
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "commit", commit)


def harness_trials(task: SyntheticImages, trials: int, device: torch.device, name: str
                   ) -> list[optuna.trial.FrozenTrial]:
    """N random-search trials of one cell through plan, store and the local executor, as recorded."""
    spec = {"name": name, "tasks": [{"name": "synthetic-images", **task.model_dump()}], "strategies": ["random"],
            "seeds": [0], "budget": {"trials": trials, "epochs": 1}, "space": FIXED, "device": str(device)}
    return trials_of(run_spec(spec))


def span_seconds(recorded: list[optuna.trial.FrozenTrial]) -> float:
    """From the first trial's start to the last one's end, as the storage recorded them."""
    return (max(t.datetime_complete for t in recorded) - min(t.datetime_start for t in recorded)).total_seconds()


def bare_trials(task: SyntheticImages, recorded: list[optuna.trial.FrozenTrial], device: torch.device) -> list[float]:
    """The same configurations and seeds built and trained by the trainer alone; their validation accuracies."""
    data = task.data().to(device)
    accuracies = []
    for trial in recorded:
        config, seed = trial.user_attrs["config"], trial.user_attrs["train_seed"]
        torch.manual_seed(seed)
        model = task.model(config, data).to(device)
        accuracies.append(fit(model, data, config, 1, seed).val_accuracy)
    return accuracies


def measure(task: SyntheticImages, trials: int, repeats: int) -> dict[str, Any]:
    """Alternate N harness trials and the same N bare ones `repeats` times after a warm-up of each."""
    device = resolve_device("auto")
    bare_trials(task, harness_trials(task, 2, device, "fixed-cost-warmup"), device)
    seconds: dict[str, list[float]] = {"harness": [], "bare": []}
    for i in range(repeats):
        with counted_commits() as commits:
            recorded = harness_trials(task, trials, device, f"fixed-cost-{i}")
        seconds["harness"].append(span_seconds(recorded))
        wall, bare_accuracies = timed(lambda: bare_trials(task, recorded, device), device)
        seconds["bare"].append(wall)
    best = {side: min(times) for side, times in seconds.items()}  # the least disturbed by other processes
    fixed_ms = (best["harness"] - best["bare"]) / trials * 1e3
    bare_ms = best["bare"] / trials * 1e3
    ratio = best["harness"] / best["bare"]
    per_trial_commits = commits[0] / trials
    return {"summary": f"{trials} trials: harness {best['harness'] / trials * 1e3:.1f} ms per trial vs bare "
                       f"{bare_ms:.1f} ms, fixed cost {fixed_ms:.1f} ms per trial, ratio {ratio:.2f} "
                       f"({per_trial_commits:.1f} storage transactions per trial, set-up included; best of {repeats})",
            "ratio": ratio, "fixed_ms_per_trial": fixed_ms, "bare_ms_per_trial": bare_ms,
            "commits_per_trial": per_trial_commits, "wall_seconds": seconds, "trials": trials, "repeats": repeats,
            "task": task.model_dump(), "fixed": FIXED,
            "same_accuracies": [t.value for t in recorded] == bare_accuracies}


def run(full: bool) -> dict[str, Any]:
    task = SyntheticImages(train_size=64, eval_size=32, image_size=8)
    return measure(task, trials=200 if full else 50, repeats=3)
