"""Is one strategy better than another? Ranks per (task, seed) problem and their significance tests.

A problem is one (task, seed): strategies are ranked on an accuracy of the trial each selected there
(1 = best, ties share the mean rank): its validation accuracy by default, or its test accuracy, which shows a
strategy that overfits the validation split; the trial is selected on validation accuracy either way.
Friedman's test asks whether the mean ranks differ at all; Nemenyi's post-hoc test (scikit-posthocs) which
pairs do, with Demšar's (2006) critical difference. With two strategies, the Wilcoxon signed-rank test on
their paired accuracies. N is the number of problems, never of trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from scipy import stats

ALPHA = 0.05
WILCOXON = "Wilcoxon signed-rank"
NO_RESULT = 0.0  # a cell with no COMPLETE trial (or no test accuracy, on test) counts as 0: last, never dropped


@dataclass(frozen=True)
class Metric:
    """An accuracy to rank strategies on; each cell's trial is selected on validation accuracy whichever it is."""

    name: str  # as `harness report --metric` takes it
    cells: str  # its column in cell_summary's frame
    prefix: str  # of its columns in the summary and the noise floor: val_mean, test_std, …
    label: str  # what it is, in the report's sentences

    @property
    def accuracy(self) -> str:
        return f"{self.name} accuracy"


VALIDATION = Metric("validation", "best_val_accuracy", "val", "validation accuracy")
TEST = Metric("test", "test_accuracy", "test", "test accuracy (of the trial validation selected)")
METRICS = {metric.name: metric for metric in (VALIDATION, TEST)}


@dataclass(frozen=True)
class RankComparison:
    """The outcome of ranking strategies over problems; `test` is empty when there is too little to test."""

    mean_ranks: pd.Series  # per strategy, best first
    problems: int  # N: (task, seed) problems on which every strategy has a cell
    dropped: int  # problems missing some strategy's cell, left out of the test
    test: str = ""
    statistic: float = math.nan
    p_value: float = math.nan
    pairwise: pd.DataFrame | None = None  # post-hoc p-values, strategy x strategy
    critical_difference: float = math.nan
    tied: int = 0  # Wilcoxon: problems where the two strategies tie, which the signed-rank test leaves out
    metric: Metric = VALIDATION  # the accuracy ranked

    @property
    def rejected(self) -> bool:
        """Whether the test found the ranks to differ: post-hoc verdicts only follow this (Demšar 2006)."""
        return self.p_value < ALPHA  # NaN (no test, or all tied): never

    def describe(self) -> str:
        """One sentence for the report."""
        if not self.test:
            return (f"No test: {self.problems} problem(s) with every strategy; a test needs at least two "
                    "strategies and two problems.")
        if math.isnan(self.p_value):
            return (f"{self.test}: undefined, for every strategy has the same rank on each of the N = {self.problems} "
                    "(task, seed) problems (all tied): there is no difference to test.")
        verdict = "differ" if self.p_value < ALPHA else "do not differ significantly"
        tied = f", {self.tied} of them tied and left out by the test" if self.tied else ""
        tested = (f"the two strategies' {self.metric.name} accuracies" if self.test == WILCOXON
                  else "the strategies' ranks")
        text = (f"{self.test}: statistic {self.statistic:.3f}, p = {self.p_value:.3g} over N = {self.problems} "
                f"(task, seed) problems{tied}; {tested} {verdict} at α = {ALPHA}.")
        if not math.isnan(self.critical_difference):
            text += f" Nemenyi critical difference of mean ranks: {self.critical_difference:.3f}."
        if self.dropped:
            text += f" {self.dropped} problem(s) lacking some strategy were left out."
        return text


def problem_matrix(cells: pd.DataFrame, metric: Metric = VALIDATION) -> tuple[pd.DataFrame, int]:
    """Problems x strategies of the selected trials' `metric`, complete problems only, and how many were dropped."""
    indexed = cells.set_index(["task", "seed", "strategy"])
    strategies = list(pd.unique(cells["strategy"]))
    wide = indexed[metric.cells].unstack("strategy")[strategies]
    complete = indexed["trials"].unstack("strategy")[strategies].notna().all(axis=1)  # NaN: no such cell
    matrix = wide[complete].fillna(NO_RESULT).astype(float)
    return matrix, int((~complete).sum())


def problem_ranks(matrix: pd.DataFrame) -> pd.DataFrame:
    """Rank 1 for the best accuracy on each problem; tied strategies share the mean of their ranks."""
    return matrix.rank(axis=1, ascending=False, method="average")


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi's CD = q_α √(k(k+1)/6N), with q_α the studentized range quantile over √2 (Demšar 2006)."""
    q_alpha = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return q_alpha * math.sqrt(k * (k + 1) / (6 * n))


def compare_strategies(cells: pd.DataFrame, metric: Metric = VALIDATION) -> RankComparison:
    """Mean ranks of `metric` over complete problems with Friedman + Nemenyi (k ≥ 3) or Wilcoxon (k = 2)."""
    matrix, dropped = problem_matrix(cells, metric)
    mean_ranks = problem_ranks(matrix).mean().sort_values(kind="stable")
    n, k = matrix.shape
    base = {"mean_ranks": mean_ranks, "problems": n, "dropped": dropped, "metric": metric}
    if k < 2 or n < 2:
        return RankComparison(**base)
    test = WILCOXON if k == 2 else "Friedman"
    if matrix.nunique(axis=1).eq(1).all():
        return RankComparison(**base, test=test)  # all tied: both statistics are 0/0
    if k == 2:  # on the paired accuracies; ties (zero differences) are dropped, as Wilcoxon's own method does
        a, b = (matrix[c] for c in matrix.columns)
        result = stats.wilcoxon(a, b)
        return RankComparison(**base, test=test, statistic=float(result.statistic), p_value=float(result.pvalue),
                              tied=int(a.eq(b).sum()))
    result = stats.friedmanchisquare(*(matrix[c] for c in matrix.columns))
    pairwise = sp.posthoc_nemenyi_friedman(matrix.to_numpy())
    pairwise.index = pairwise.columns = matrix.columns
    return RankComparison(**base, test=test, statistic=float(result.statistic), p_value=float(result.pvalue),
                          pairwise=pairwise, critical_difference=critical_difference(k, n))
