"""Anytime performance: best validation accuracy found so far against the budget a cell has spent.

Budget spent (epochs or seconds), not trial index, is the x axis, because strategies that prune
spend very different compute per trial; an equal-budget comparison lines them up by what they spent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reports.tables import CELL, in_first_seen_order

SPENT = {"epochs": "epochs_spent", "seconds": "seconds_spent"}
SECONDS_GRID_POINTS = 100  # seconds are continuous: curves are read at this many points per task


def trial_steps(results: pd.DataFrame) -> pd.DataFrame:
    """Per trial, in run order: the cell's cumulative epochs and seconds and its best COMPLETE val. accuracy so far.

    NaN before a cell's first COMPLETE trial: no model has been found yet.
    """
    ordered = results.sort_values([*CELL, "trial"], kind="stable")
    keys = [ordered[c] for c in CELL]
    complete_val = ordered["val_accuracy"].where(ordered["state"].eq("COMPLETE"))
    # cummax leaves NaN where the trial itself did not complete; ffill carries the best across it
    best = complete_val.groupby(keys, sort=False).cummax().groupby(keys, sort=False).ffill()
    spent = {SPENT[c]: ordered[c].groupby(keys, sort=False).cumsum() for c in SPENT}
    return ordered[CELL].assign(**spent, best_val_accuracy=best)


def _grid(spent: pd.Series, by: str) -> np.ndarray:
    """Every whole epoch up to the task's maximum and the maximum itself, which a learning-rate range test's
    part-epoch sweep can leave fractional (else the last trials' results would fall off the end); for
    seconds, evenly spaced points up to it."""
    top = spent.max()
    if by == "epochs":
        return np.union1d(np.arange(1, math.floor(top) + 1), [top])
    return np.linspace(top / SECONDS_GRID_POINTS, top, SECONDS_GRID_POINTS)


def _on_grid(cell: pd.DataFrame, x: str, grid: np.ndarray) -> pd.DataFrame:
    """A cell's step function read at every grid point: the last value reached by then, none before."""
    index = np.searchsorted(cell[x].to_numpy(), grid, side="right") - 1
    values = np.where(index >= 0, cell["best_val_accuracy"].to_numpy()[np.maximum(index, 0)], np.nan)
    return pd.DataFrame({x: grid, "best_val_accuracy": values}).dropna()


def anytime_frame(results: pd.DataFrame, by: str = "epochs") -> pd.DataFrame:
    """Best-so-far val. accuracy per cell on a common grid per task (by "epochs" or "seconds"), so seeds
    can be averaged. A cell that spent less than the task's maximum keeps its final best to the end."""
    x = SPENT[by]
    steps = trial_steps(results)
    frames = []
    for task, task_steps in steps.groupby("task", sort=False):
        grid = _grid(task_steps[x], by)
        for (strategy, seed), cell in task_steps.groupby(["strategy", "seed"], sort=False):
            frames.append(_on_grid(cell, x, grid).assign(task=task, strategy=strategy, seed=seed))
    columns = [*CELL, x, "best_val_accuracy"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return in_first_seen_order(pd.concat(frames, ignore_index=True)[columns], results)


def spent_to_reach(results: pd.DataFrame, targets: pd.Series, by: str = "epochs") -> pd.Series:
    """Per cell, the budget spent when its best-so-far first reached its (task, seed) target; inf if never.

    `targets` is indexed by (task, seed).
    """
    steps = trial_steps(results)
    target = pd.Series(pd.MultiIndex.from_frame(steps[["task", "seed"]]).map(targets), index=steps.index)
    reached = steps[SPENT[by]].where(steps["best_val_accuracy"].ge(target))
    return reached.groupby([steps[c] for c in CELL], sort=False).min().fillna(np.inf)
