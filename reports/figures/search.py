"""How the search went: anytime curves, expected best after n trials, learning rate and importance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from reports.anytime import SPENT, anytime_frame
from reports.figures.canvas import Style, empty_note, integer_ticks, percent, save, strategy_legend, styles, task_panels
from reports.tables import PAIR, complete_trials, unit_band

X_LABELS = {"epochs": "Epochs spent", "seconds": "Seconds spent"}


def plot_anytime(results: pd.DataFrame, stem: Path, by: str = "epochs") -> list[Path]:
    return save(anytime_figure(results, by), stem)


def anytime_figure(results: pd.DataFrame, by: str = "epochs") -> Figure:
    """One subplot per task, one line per strategy: the mean over seeds with its Student-t 95% band.

    The band is the same interval as the tables' (a bootstrap at every grid point would cost seconds
    per figure and say the same thing).
    """
    x = SPENT[by]
    bands = anytime_bands(anytime_frame(results, by), x)
    tasks = list(pd.unique(results["task"]))
    looks = styles(results["strategy"])
    figure, (axes,) = task_panels(len(tasks))
    for ax, task in zip(axes, tasks):
        for strategy, band in bands[bands["task"] == task].groupby("strategy", sort=False):
            draw_band(ax, band, x, looks[strategy], strategy)
        if not (bands["task"] == task).any():
            empty_note(ax, "no COMPLETE trial")
        ax.set(title=str(task), xlabel=X_LABELS[by], ylabel="Best validation accuracy so far")
        percent(ax)
        if by == "epochs":
            integer_ticks(ax)
    if not bands.empty:
        strategy_legend(figure, looks)
    return figure


def draw_band(ax: Axes, band: pd.DataFrame, x: str, style: Style, label: str) -> None:
    """One strategy's mean as a line in its band; a single grid point (every seed's first result came with the
    task's last epoch, as with one trial per cell) as a marker with an error bar, where a line draws nothing."""
    if len(band) == 1:
        ax.errorbar(band[x], band["mean"], yerr=[band["mean"] - band["low"], band["high"] - band["mean"]],
                    fmt=style.marker, color=style.colour, capsize=3, label=label)
        return
    ax.plot(band[x], band["mean"], label=label, **style.line(dense=True))
    ax.fill_between(band[x], band["low"], band["high"], color=style.colour, alpha=0.2, linewidth=0)


def anytime_bands(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    """Per task, strategy and grid point: the mean over seeds and its t-interval, from the first point where
    every seed with a result has one.

    Each seed's best-so-far never falls, so the mean over a fixed set of seeds does not either; averaging
    whichever seeds have a value so far would fall as a worse seed joins. One seed gives no band (NaN),
    never a zero-width one; the set is the seeds the accuracy table averages.
    """
    seeds = frame.groupby(PAIR, sort=False)["seed"].nunique().rename("seeds")
    grouped = frame.groupby([*PAIR, x], sort=False)["best_val_accuracy"]
    bands = grouped.agg(["mean", "sem", "count"]).reset_index().join(seeds, on=PAIR)
    bands = bands[bands["count"].eq(bands["seeds"])].drop(columns="seeds").reset_index(drop=True)
    low, high = unit_band(bands["mean"], stats.t.ppf(0.975, bands["count"] - 1) * bands["sem"])
    return bands.assign(low=low, high=high)


def plot_expected_max(frame: pd.DataFrame, stem: Path) -> list[Path]:
    return save(expected_max_figure(frame), stem)


def expected_max_figure(frame: pd.DataFrame) -> Figure:
    """Expected best validation accuracy vs trials, with a ±1 standard deviation band (Dodge et al.)."""
    tasks = list(pd.unique(frame["task"]))
    looks = styles(frame["strategy"])
    figure, (axes,) = task_panels(len(tasks))
    for ax, task in zip(axes, tasks):
        for strategy, line in frame[frame["task"] == task].groupby("strategy", sort=False):
            style = looks[strategy]
            ax.plot(line["n_trials"], line["expected_max"], label=strategy, **style.line())
            ax.fill_between(line["n_trials"], line["low"], line["high"], color=style.colour, alpha=0.2, linewidth=0)
        ax.set(title=str(task), xlabel="Trials (n)", ylabel="Expected best validation accuracy")
        percent(ax)
        integer_ticks(ax)
    if tasks:
        strategy_legend(figure, looks)
    return figure


def plot_lr_scatter(results: pd.DataFrame, stem: Path) -> list[Path]:
    return save(lr_scatter_figure(results), stem)


def lr_scatter_figure(results: pd.DataFrame) -> Figure:
    """Learning rate against final validation accuracy of every COMPLETE trial; log-scaled x."""
    trials = complete_trials(results).dropna(subset=["param_lr"])
    tasks = list(pd.unique(results["task"]))
    looks = styles(results["strategy"])
    figure, (axes,) = task_panels(len(tasks))
    for ax, task in zip(axes, tasks):
        data = trials[trials["task"] == task]
        ax.set(title=str(task), xlabel="Learning rate", ylabel="Validation accuracy")
        if data.empty:
            empty_note(ax, "no COMPLETE trial")
            continue
        sns.scatterplot(data=data, x="param_lr", y="val_accuracy", hue="strategy", style="strategy",
                        palette={name: style.colour for name, style in looks.items()}, hue_order=list(looks),
                        markers={name: style.marker for name, style in looks.items()}, style_order=list(looks),
                        alpha=0.7, legend=False, ax=ax)
        ax.set_xscale("log")
        percent(ax)
    if not trials.empty:
        strategy_legend(figure, looks, lines=False)
    return figure


def plot_importance(frame: pd.DataFrame, tasks: list[str], stem: Path) -> list[Path]:
    return save(importance_figure(frame, tasks), stem)


def importance_figure(frame: pd.DataFrame, tasks: list[str]) -> Figure:
    """fANOVA importance per task as horizontal bars, most important on top."""
    figure, (axes,) = task_panels(len(tasks))
    for ax, task in zip(axes, tasks):
        data = frame[frame["task"] == task].sort_values("importance", ascending=False)
        if data.empty:
            empty_note(ax, "fewer than two varied\nparameters or trials")
        else:
            ax.barh(np.arange(len(data)), data["importance"], color=sns.color_palette("colorblind")[0])
            ax.set_yticks(np.arange(len(data)), data["parameter"])
            ax.invert_yaxis()
        ax.set(title=str(task), xlabel="fANOVA importance")
    return figure
