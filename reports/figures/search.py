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
# t(0.975, n - 1) is 12.7 for 2 seeds and 4.3 for 3: their band fills the panel, so each seed is drawn instead
SEEDS_FOR_A_BAND = 4


def plot_anytime(results: pd.DataFrame, stem: Path, by: str = "epochs") -> list[Path]:
    return save(anytime_figure(results, by), stem)


def anytime_figure(results: pd.DataFrame, by: str = "epochs") -> Figure:
    """One subplot per task, one line per strategy: the mean over seeds, in its Student-t 95% band from
    SEEDS_FOR_A_BAND seeds, over each seed's own best-so-far with fewer (`spread_caption` says which).

    The band is the same interval as the tables' (a bootstrap at every grid point would cost seconds
    per figure and say the same thing).
    """
    x = SPENT[by]
    frame = anytime_frame(results, by)
    bands = anytime_bands(frame, x)
    tasks = list(pd.unique(results["task"]))
    looks = styles(results["strategy"])
    figure, (axes,) = task_panels(len(tasks))
    for ax, task in zip(axes, tasks):
        for strategy, band in bands[bands["task"] == task].groupby("strategy", sort=False):
            seeds = frame[frame["task"].eq(task) & frame["strategy"].eq(strategy)]
            draw_band(ax, band, seeds, x, looks[strategy], strategy)
        if not (bands["task"] == task).any():
            empty_note(ax, "no COMPLETE trial")
        ax.set(title=str(task), xlabel=X_LABELS[by], ylabel="Best validation accuracy so far")
        percent(ax)
        if by == "epochs":
            integer_ticks(ax)
    if not bands.empty:
        strategy_legend(figure, looks)
    return figure


def draw_band(ax: Axes, band: pd.DataFrame, seeds: pd.DataFrame, x: str, style: Style, label: str) -> None:
    """One strategy's mean as a line in its t-band from SEEDS_FOR_A_BAND seeds, over each seed's own line (`seeds`:
    its rows of the anytime frame) with fewer. A single grid point (every seed's first result came with the task's
    last epoch, as with one trial per cell), where a line draws nothing, as a marker, with an error bar for a band."""
    banded = band["count"].iat[0] >= SEEDS_FOR_A_BAND
    if not banded:
        draw_seeds(ax, seeds, x, style)
    if len(band) == 1:
        spread = [band["mean"] - band["low"], band["high"] - band["mean"]] if banded else None
        ax.errorbar(band[x], band["mean"], yerr=spread, fmt=style.marker, color=style.colour, capsize=3, label=label)
        return
    ax.plot(band[x], band["mean"], label=label, **style.line(dense=True))
    if banded:
        ax.fill_between(band[x], band["low"], band["high"], color=style.colour, alpha=0.2, linewidth=0)


def draw_seeds(ax: Axes, frame: pd.DataFrame, x: str, style: Style) -> None:
    """Each seed's own best-so-far, faint, from its first result: with few seeds the spread itself, where a
    t-band would fill the panel. Unlabelled, so the legend has one entry per strategy."""
    for _, seed in frame.groupby("seed", sort=False):
        ax.plot(seed[x], seed["best_val_accuracy"], **style.faint(alone=len(seed) == 1))


def spread_caption(results: pd.DataFrame) -> str:
    """What the anytime figures draw around each strategy's mean, for the seeds this run has: a caption's sentence."""
    seeds = complete_trials(results).groupby(PAIR)["seed"].nunique()
    few = ("thin, faint lines are the best-so-far of each seed on its own, in its strategy's colour and line style, "
           f"and no band is drawn: a Student-t 95% band of fewer than {SEEDS_FOR_A_BAND} seeds would fill the panel "
           "(t = " + ", ".join(f"{stats.t.ppf(0.975, n - 1):.1f} for {n} seeds" for n in range(2, SEEDS_FOR_A_BAND))
           + ")")
    band = "band is the Student-t 95% interval of the mean"
    banded = seeds >= SEEDS_FOR_A_BAND
    if seeds.empty:
        return ""
    if banded.all() or not banded.any():
        return f"The {band if banded.all() else few}."
    return (f"For a strategy with fewer than {SEEDS_FOR_A_BAND} seeds on a task the {few}; for one with "
            f"{SEEDS_FOR_A_BAND} or more, the {band}.")


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
