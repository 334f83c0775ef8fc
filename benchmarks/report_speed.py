"""How long a report takes on a synthetic results frame: each analysis, the figures, and fANOVA's depth.

Small by default (2 tasks x 4 strategies x 3 seeds x 10 trials); `--full` is 2 x 4 x 5 x 50, i.e. 1,000
trials per task. No training: the frame is generated, so only the report's own cost is measured.

    PYTHONPATH=. python benchmarks/report_speed.py [--full]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import optuna
import pandas as pd

from reports import Analysis
from reports.figures import draw_figures
from reports.importance import task_importances

PARTS = ["summary", "ranks", "ratios", "expected_max", "importance", "best_configs"]


def synthetic(tasks: int, strategies: int, seeds: int, trials: int, epochs: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trials whose accuracy peaks at lr = 10^-2.5, with noise; one curve row per epoch."""
    rng = np.random.default_rng(0)
    rows = []
    for task, strategy, seed, trial in np.ndindex(tasks, strategies, seeds, trials):
        lr = 10 ** rng.uniform(-4, -1)
        rows.append({"task": f"task{task}", "strategy": f"strategy{strategy}", "seed": seed, "trial": trial,
                     "state": "COMPLETE", "val_accuracy": 0.9 - abs(np.log10(lr) + 2.5) / 10 + 0.01 * rng.normal(),
                     "test_accuracy": 0.8, "epochs": epochs, "seconds": 5.0, "train_seed": trial, "fail_reason": None,
                     "strategy_note": "", "param_lr": lr, "param_width": int(rng.choice([8, 16, 32])),
                     "param_optimizer": str(rng.choice(["sgd", "adam"])), "param_momentum": rng.uniform(0.8, 0.99)})
    results = pd.DataFrame(rows)
    curves = pd.DataFrame([{"task": r.task, "strategy": r.strategy, "seed": r.seed, "trial": r.trial, "epoch": e,
                            "train_loss": 1 / e, "val_loss": 1 / e, "val_accuracy": r.val_accuracy, "lr": r.param_lr,
                            "seconds": 0.5} for r in results.itertuples() for e in range(1, epochs + 1)])
    return results, curves


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1,000 trials per task instead of 120")
    args = parser.parse_args()
    shape = (2, 4, 5, 50) if args.full else (2, 4, 3, 10)
    results, curves = synthetic(*shape)
    print(f"{len(results)} trials ({' x '.join(map(str, shape))}); {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, optuna {optuna.__version__}, load {os.getloadavg()[0]:.1f}")
    analysis = Analysis(results, curves)
    for part in PARTS:
        print(f"{part:>14}: {timed(lambda: getattr(analysis, part)):6.2f} s")
    with tempfile.TemporaryDirectory() as out:
        print(f"{'figures':>14}: {timed(lambda: draw_figures(analysis, out)):6.2f} s")
    one_task = results[results["task"] == "task0"]
    for depth in (8, 64):
        found: dict[str, float] = {}
        seconds = timed(lambda: found.update(task_importances(one_task, max_depth=depth)))
        print(f"fANOVA depth {depth:>2}: {seconds:6.2f} s for one task; "
              + ", ".join(f"{name} {value:.3f}" for name, value in found.items()))

if __name__ == "__main__":
    main()
