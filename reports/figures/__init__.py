"""Seaborn figures of a report, each as PNG and PDF; one subplot per task where the view is per task."""

from __future__ import annotations

from pathlib import Path

from reports.analysis import Analysis
from reports.document import FigureFile
from reports.figures.outcomes import plot_critical_difference, plot_final_accuracy, plot_learning_curves, plot_profiles
from reports.figures.search import plot_anytime, plot_expected_max, plot_importance, plot_lr_scatter, spread_caption

ANYTIME_STEMS = {"epochs": "best_so_far", "seconds": "best_so_far_seconds"}

__all__ = ["draw_figures", "plot_anytime", "plot_critical_difference", "plot_expected_max", "plot_final_accuracy",
           "plot_importance", "plot_learning_curves", "plot_lr_scatter", "plot_profiles"]


def draw_figures(analysis: Analysis, out_dir: Path) -> list[FigureFile]:
    """Every figure the analysis supports, drawn into `out_dir` (PNG and PDF each)."""
    a, out = analysis, Path(out_dir)
    drawn = [
        FigureFile("final_accuracy", "Selected validation accuracy per seed",
                   "Box over seeds with every seed as a point, per task and strategy.",
                   plot_final_accuracy(a.cells, out / "final_accuracy")),
        FigureFile("performance_profiles", "Performance profiles",
                   "Fraction of (task, seed) problems each strategy brings to 99% of the problem's best validation "
                   "accuracy within τ times the epochs of the fastest strategy (Dolan & Moré); the legend gives the "
                   "normalised area under each curve on τ ∈ [1, 4].",
                   plot_profiles(a.ratios, out / "performance_profiles")),
        *[FigureFile(ANYTIME_STEMS[by], f"Best validation accuracy so far vs {by} spent",
                     f"Per task, the mean over seeds of each cell's best-so-far against the {by} its trials spent "
                     f"(pruned trials spend less). {spread_caption(a.results)} A mean starts where every seed with a "
                     "result has one, so it never falls. A cell that spent less than the most "
                     "any cell of the task spent keeps its final best to the end of the axis: a line runs on past "
                     f"the {by} its strategy spent.",
                     plot_anytime(a.results, out / ANYTIME_STEMS[by], by)) for by in ANYTIME_STEMS],
        FigureFile("expected_max", "Expected best validation accuracy vs number of trials",
                   "Dodge et al. (2019): the exact expectation of the best of n trials drawn from all of each "
                   "strategy's trials (its seeds pooled), with a ±1 std band within [0, 1]. A pruned trial counts "
                   "at the last validation accuracy it reported, a failed one at 0: leaving them out would flatter "
                   "a pruner. Exact for random search; adaptive strategies' trials are treated as exchangeable.",
                   plot_expected_max(a.expected_max, out / "expected_max")),
        FigureFile("learning_curves", "Learning curves of each strategy's best trial",
                   "Validation loss and accuracy per epoch of the trial each strategy selected over all its seeds.",
                   plot_learning_curves(a.results, a.curves, out / "learning_curves")),
        FigureFile("importance", "Hyperparameter importance (fANOVA)",
                   "Optuna's fANOVA evaluator over all COMPLETE trials of each task (every strategy and seed), "
                   "rebuilt from the results frame into an in-memory study. A learning rate whose range is its "
                   "optimizer's own counts by its position in that range, as it was drawn, so that the optimizers' "
                   "different scales count for `optimizer`, not for `lr`.",
                   plot_importance(a.importance, a.tasks, out / "importance")),
    ]
    if a.ranks.pairwise is not None and a.ranks.rejected:  # Nemenyi's bars mean nothing unless Friedman rejects
        drawn.insert(1, FigureFile("critical_difference", "Critical-difference diagram",
                                   f"Mean ranks of {a.metric.label} over N = {a.ranks.problems} (task, seed) "
                                   "problems; strategies joined by a bar are not significantly different (Nemenyi, "
                                   "α = 0.05).",
                                   plot_critical_difference(a.ranks, out / "critical_difference")))
    if "param_lr" in a.results and a.results["param_lr"].notna().any():
        drawn.append(FigureFile("lr_vs_accuracy", "Learning rate vs validation accuracy",
                                "Every COMPLETE trial, per task; the x axis is logarithmic.",
                                plot_lr_scatter(a.results, out / "lr_vs_accuracy")))
    return drawn
