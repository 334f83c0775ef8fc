"""What the strategies ended with: final accuracies, the best trials' learning curves, performance
profiles and the critical-difference diagram."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scikit_posthocs as sp
import seaborn as sns
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import ScaledTranslation, Transform

from reports.figures.canvas import (
    MAX_COLUMNS,
    Style,
    empty_note,
    integer_ticks,
    palette,
    panels,
    percent,
    save,
    strategy_legend,
    styles,
    task_panels,
)
from reports.profiles import TAU_MAX, area_under_profile, profile
from reports.stats import RankComparison
from reports.tables import CELL, PAIR, selected_trials

CURVE_METRICS = {"val_loss": "Validation loss", "val_accuracy": "Validation accuracy"}
TAU_POINTS = 61  # an even grid on [1, τ_max] for the profiles' markers
CD_WIDTH, CD_HEAD, CD_ROW = 7.0, 1.2, 0.22  # inches: a page wide; title and rank axis; a row of names or bars
CD_GAP = 6  # points between the rank axis's numbers and the critical-difference bar


def plot_final_accuracy(cells: pd.DataFrame, stem: Path) -> list[Path]:
    return save(final_accuracy_figure(cells), stem)


def final_accuracy_figure(cells: pd.DataFrame) -> Figure:
    """Per task, the selected validation accuracy of every seed as points over a box per strategy."""
    tasks = list(pd.unique(cells["task"]))
    colours = palette(cells["strategy"])
    figure, (axes,) = task_panels(len(tasks))
    for ax, task in zip(axes, tasks):
        draw_final_accuracy(ax, cells[cells["task"].eq(task)], colours)
        ax.set_title(str(task))
    grow_for_names(figure, axes)
    return figure


def grow_for_names(figure: Figure, axes: list[Axes]) -> None:
    """The figure taller by its slanted strategy names' height on each row of panels, so long names take none from
    the boxes; else the y label, longer than the boxes are high, ran past the figure's edge and was cut."""
    renderer, rows = figure.canvas.get_renderer(), math.ceil(len(axes) / MAX_COLUMNS)
    names = max((label.get_window_extent(renderer).height for ax in axes for label in ax.get_xticklabels()), default=0)
    figure.set_figheight(figure.get_figheight() + rows * names / figure.dpi)


def draw_final_accuracy(ax: Axes, cells: pd.DataFrame, colours: dict[str, tuple[float, float, float]]) -> None:
    """One task's cells: a box per strategy with every seed's selected validation accuracy as a point."""
    data = cells[cells["best_val_accuracy"].notna()]
    ax.set(xlabel="Strategy", ylabel="Selected validation accuracy")  # set first: seaborn names an unlabelled axis
    if data.empty:
        empty_note(ax, "no COMPLETE trial")
        return
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11's deprecated `vert`
        warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
        sns.boxplot(data=data, x="strategy", y="best_val_accuracy", hue="strategy", palette=colours,
                    order=list(colours), fill=False, showfliers=False, legend=False, ax=ax)
    sns.stripplot(data=data, x="strategy", y="best_val_accuracy", hue="strategy", palette=colours,
                  order=list(colours), size=5, jitter=0.15, legend=False, ax=ax)
    for label in ax.get_xticklabels():  # each name ends at its tick, rather than centred under it and its neighbour
        label.set(rotation=45, horizontalalignment="right", rotation_mode="anchor")
    percent(ax)


def plot_learning_curves(results: pd.DataFrame, curves: pd.DataFrame, stem: Path) -> list[Path]:
    return save(learning_curves_figure(results, curves), stem)


def learning_curves_figure(results: pd.DataFrame, curves: pd.DataFrame) -> Figure:
    """Validation loss and accuracy per epoch of each strategy's best trial (over its seeds), per task."""
    best = selected_trials(results, PAIR)[[*CELL, "trial"]]
    data = curves.merge(best, on=[*CELL, "trial"]) if not curves.empty else curves
    tasks = list(pd.unique(results["task"]))
    looks = styles(results["strategy"])
    figure, axes = task_panels(len(tasks), per_task=2)
    for i, task in enumerate(tasks):
        task_curves = data[data["task"] == task] if not data.empty else data
        for row, (metric, label) in enumerate(CURVE_METRICS.items()):
            draw_curves(axes[row][i], task_curves, metric, looks)
            axes[row][i].set(title=str(task) if row == 0 else "", xlabel="Epoch", ylabel=label)
            integer_ticks(axes[row][i])
        percent(axes[1][i])
    if not data.empty:
        strategy_legend(figure, looks)
    return figure


def draw_curves(ax: Axes, curves: pd.DataFrame, metric: str, looks: dict[str, Style]) -> None:
    """One task's curves of `metric`, a line per strategy."""
    if curves.empty:
        empty_note(ax, "no COMPLETE trial")
        return
    for strategy, curve in curves.sort_values("epoch", kind="stable").groupby("strategy", sort=False):
        ax.plot(curve["epoch"], curve[metric], label=strategy, **looks[strategy].line())


def plot_profiles(ratios: pd.DataFrame, stem: Path, tau_max: float = TAU_MAX) -> list[Path]:
    return save(profiles_figure(ratios, tau_max), stem)


def profiles_figure(ratios: pd.DataFrame, tau_max: float = TAU_MAX) -> Figure:
    """ρ_s(τ) on [1, τ_max] as steps, each strategy labelled with its area under the curve."""
    figure, ((ax,),) = panels(1)
    draw_profiles(ax, ratios, tau_max)
    return figure


def draw_profiles(ax: Axes, ratios: pd.DataFrame, tau_max: float = TAU_MAX) -> None:
    """The profiles and a legend of their areas; with no problem to profile, a note and no legend (every curve and
    area would be NaN)."""
    ax.set(xlabel="τ (budget ratio to the fastest strategy)", ylabel="Fraction of problems solved",
           xlim=(1, tau_max), ylim=(-0.02, 1.02), title=f"Performance profiles ({len(ratios)} problems)")
    if ratios.empty:
        empty_note(ax, "no problem where every strategy\nhas a cell and one has a result")
        return
    # the ratios are where the steps are; the even grid only gives the markers somewhere to sit
    taus = np.unique(np.concatenate([np.linspace(1.0, tau_max, TAU_POINTS), ratios.to_numpy().ravel()]))
    taus = taus[(taus >= 1) & (taus <= tau_max)]
    curves, areas = profile(ratios, taus), area_under_profile(ratios, tau_max)
    looks = styles(ratios.columns)
    labels = {strategy: f"{strategy} (area {areas[strategy]:.2f})" for strategy in ratios.columns}
    for strategy in ratios.columns:
        ax.step(curves.index, curves[strategy], where="post", label=labels[strategy],
                **looks[strategy].line(dense=True))
    strategy_legend(ax.figure, looks, labels)


def plot_critical_difference(comparison: RankComparison, stem: Path) -> list[Path]:
    return save(critical_difference_figure(comparison), stem)


def critical_difference_figure(comparison: RankComparison) -> Figure:
    """Mean ranks on an axis; strategies Nemenyi cannot tell apart are joined by a bar. The figure is a page wide
    and a label row taller for each row of names and bars, so many strategies do not crowd their names; its title
    is the figure's, which the layout keeps above the critical difference's bar."""
    figure, ((ax,),) = panels(1)
    drawn = sp.critical_difference_diagram(comparison.mean_ranks, comparison.pairwise, ax=ax,
                                           color_palette=palette(comparison.pairwise.columns),
                                           label_fmt_left="{label} ({rank:.2f})",
                                           label_fmt_right="({rank:.2f}) {label}")
    rows = -min(label.get_position()[1] for label in drawn["labels"])  # bar levels above, then a row per name
    figure.set_size_inches(CD_WIDTH, CD_HEAD + CD_ROW * rows)
    draw_critical_difference(ax, comparison.mean_ranks.iloc[0], comparison.critical_difference)
    figure.suptitle(f"Mean rank of {comparison.metric.accuracy} over N = {comparison.problems} (task, seed) "
                    "problems\n(Nemenyi, α = 0.05)")
    return figure


def draw_critical_difference(ax: Axes, start: float, length: float) -> None:
    """Nemenyi's critical difference as a bar from the best mean rank, with its value, CD_GAP points above the rank
    axis's numbers (scikit-posthocs puts it half a row above the axis, across the numbers once rows are many)."""
    figure = ax.figure
    ax.get_ylim()  # the limits the rank axis is drawn at, before reading where it is
    numbers = ax.xaxis.get_tightbbox(figure.canvas.get_renderer()).y1 - ax.transData.transform((0, 0))[1]
    lift = numbers * 72 / figure.dpi + CD_GAP  # points above the axis line
    ax.plot([start, start + length], [0, 0], color="k", linewidth=2, clip_on=False,
            transform=ax.transData + raised(figure, lift))
    ax.text(start + length / 2, 0, f"CD = {length:.2f}", ha="center", va="bottom",
            transform=ax.transData + raised(figure, lift + 2))


def raised(figure: Figure, points: float) -> Transform:
    return ScaledTranslation(0, points / 72, figure.dpi_scale_trans)
