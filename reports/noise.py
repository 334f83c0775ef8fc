"""The noise floor: how much the validation accuracy of one fixed configuration moves with the training seed.

A spec's `noise_floor: N` re-trains the manual default N times (the `noise-floor` cells). A difference
between strategies smaller than that seed noise is not evidence that one is better, so the report
marks it and never calls it a win.
"""

from __future__ import annotations

import pandas as pd

from harness.plan import NOISE_FLOOR_LABEL
from reports.tables import complete_trials, in_first_seen_order


def split_noise_floor(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the strategies' trials, the noise floor's trials): the noise floor is no contestant."""
    is_noise = results["strategy"].eq(NOISE_FLOOR_LABEL)
    return results[~is_noise].reset_index(drop=True), results[is_noise].reset_index(drop=True)


def noise_floor(noise: pd.DataFrame) -> pd.DataFrame:
    """Per task: trainings, failures, and mean, std (ddof=1) and range of the final validation accuracy, and the
    std of the test accuracy, the noise of the rank tests on test accuracy."""
    if noise.empty:
        return pd.DataFrame(columns=["task", "trainings", "failed", "val_mean", "val_std", "val_range", "test_std"])
    complete = complete_trials(noise).groupby("task")
    val = complete["val_accuracy"]
    table = pd.DataFrame({"trainings": noise.groupby("task")["trial"].size(),
                          "failed": noise["state"].ne("COMPLETE").groupby(noise["task"]).sum(),
                          "val_mean": val.mean(), "val_std": val.std(), "val_range": val.max() - val.min(),
                          "test_std": complete["test_accuracy"].std()})
    return in_first_seen_order(table.rename_axis("task").reset_index(), noise)


def gaps_to_best(summary: pd.DataFrame, floor: pd.DataFrame) -> pd.DataFrame:
    """Per (task, strategy): how far its mean selected val. accuracy is below the task's best, and whether
    that gap lies inside the seed noise (gap ≤ the noise floor's std). The best itself has gap 0."""
    best = summary.groupby("task")["val_mean"].transform("max")
    std = summary["task"].map(floor.set_index("task")["val_std"]) if not floor.empty else float("nan")
    gap = best - summary["val_mean"]
    return summary[["task", "strategy"]].assign(gap_to_best=gap, noise_std=std,
                                                within_noise=gap.gt(0) & gap.le(std))
