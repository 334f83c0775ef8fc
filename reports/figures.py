"""Anytime performance: best validation accuracy found so far against the epochs a strategy has spent.

Epochs, not trials, are the x axis because strategies that prune spend very different compute per
trial; an equal-budget comparison has to line them up by what they spent.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from reports.tables import CELL, in_first_seen_order

ANYTIME_COLUMNS = [*CELL, "epochs_spent", "best_val_accuracy"]
BOOTSTRAP_SEED = 0  # the 95% band is a bootstrap over seeds; a fixed seed makes the figure reproducible


def _trial_steps(results: pd.DataFrame) -> pd.DataFrame:
    """Per trial, in run order: cumulative epochs of its cell and the best COMPLETE val. accuracy so far.

    NaN before a cell's first COMPLETE trial, which is dropped later: no model has been found yet.
    """
    ordered = results.sort_values([*CELL, "trial"], kind="stable")
    keys = [ordered[c] for c in CELL]
    complete_val = ordered["val_accuracy"].where(ordered["state"].eq("COMPLETE"))
    # cummax leaves NaN where the trial itself did not complete; ffill carries the best across it
    best = complete_val.groupby(keys, sort=False).cummax().groupby(keys, sort=False).ffill()
    epochs_spent = ordered["epochs"].groupby(keys, sort=False).cumsum()
    return ordered[CELL].assign(epochs_spent=epochs_spent, best_val_accuracy=best)


def _on_grid(cell: pd.DataFrame, grid: pd.RangeIndex) -> pd.Series:
    """A cell's step function read at every integer epoch: the last value reached by then."""
    steps = cell.groupby("epochs_spent")["best_val_accuracy"].last()
    return steps.reindex(grid, method="ffill").dropna()


def anytime_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Best-so-far val. accuracy per cell on a common grid of 1..max epochs per task, so seeds can be averaged.

    Each cell is carried forward to its task's maximum, i.e. a cell that spent less keeps its final best.
    """
    steps = _trial_steps(results)
    frames = []
    for task, task_steps in steps.groupby("task", sort=False):
        grid = pd.RangeIndex(1, int(task_steps["epochs_spent"].max()) + 1, name="epochs_spent")
        for (strategy, seed), cell in task_steps.groupby(["strategy", "seed"], sort=False):
            curve = _on_grid(cell, grid).reset_index()
            frames.append(curve.assign(task=task, strategy=strategy, seed=seed))
    if not frames:
        return pd.DataFrame(columns=ANYTIME_COLUMNS)
    return in_first_seen_order(pd.concat(frames, ignore_index=True)[ANYTIME_COLUMNS], results)


def plot_anytime(results: pd.DataFrame, path_stem: Path) -> list[Path]:
    """One subplot per task, one line per strategy with a 95% bootstrap band over seeds; PNG and PDF.

    The figure has its own Agg canvas and never enters pyplot, so no global backend is switched and
    nothing is left open once it is saved.
    """
    frame = anytime_frame(results)
    tasks = list(pd.unique(results["task"]))
    strategies = list(pd.unique(results["strategy"]))
    figure = Figure(figsize=(4.5 * len(tasks), 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(tasks), squeeze=False)[0]
    for i, (ax, task) in enumerate(zip(axes, tasks)):
        _plot_task(ax, frame[frame["task"] == task], strategies, legend=i == 0)
        ax.set_title(str(task))
    paths = [Path(path_stem).with_suffix(suffix) for suffix in (".png", ".pdf")]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=150)
    return paths


def _plot_task(ax: Axes, frame: pd.DataFrame, strategies: list[str], legend: bool) -> None:
    """Draw one task's anytime curves; hue order is fixed so colours match across subplots."""
    sns.lineplot(
        data=frame,
        x="epochs_spent",
        y="best_val_accuracy",
        hue="strategy",
        hue_order=strategies,
        errorbar=("ci", 95),
        seed=BOOTSTRAP_SEED,
        legend="auto" if legend and not frame.empty else False,
        ax=ax,
    )
    ax.set_xlabel("Epochs spent")
    ax.set_ylabel("Best validation accuracy so far")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    if frame.empty:
        ax.text(0.5, 0.5, "no COMPLETE trial", transform=ax.transAxes, ha="center", va="center")
    if ax.get_legend() is not None:
        ax.get_legend().set_title("Strategy")
