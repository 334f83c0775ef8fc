"""Everything a report says, computed from the results frame (and the curves frame for plots).

Each part is computed on first use, so the terminal's summary does not pay for fANOVA or bootstraps.
"""

from __future__ import annotations

from functools import cached_property

import pandas as pd

from reports.expected_max import expected_max_frame
from reports.importance import importance_frame
from reports.noise import gaps_to_best, noise_floor, split_noise_floor
from reports.profiles import area_under_profile, cost_ratios
from reports.stats import VALIDATION, Metric, RankComparison, compare_strategies
from reports.tables import best_configs, cell_summary, summary

MORE_COMPUTE = 1.1  # epochs per seed over the median strategy's that a reader is told of


class Analysis:
    """The strategies' trials (`results`) apart from the noise floor's (`noise`), and what follows from them;
    the rank tests compare the selected trials' `metric`."""

    def __init__(self, results: pd.DataFrame, curves: pd.DataFrame | None = None, metric: Metric = VALIDATION) -> None:
        self.results, self.noise = split_noise_floor(results)
        self.curves = curves if curves is not None else pd.DataFrame()
        self.metric = metric

    @property
    def tasks(self) -> list[str]:
        return list(pd.unique(self.results["task"]))

    @cached_property
    def cells(self) -> pd.DataFrame:
        return cell_summary(self.results)

    @cached_property
    def summary(self) -> pd.DataFrame:
        return summary(self.results)

    @cached_property
    def floor(self) -> pd.DataFrame:
        return noise_floor(self.noise)

    @cached_property
    def gaps(self) -> pd.DataFrame:
        return gaps_to_best(self.summary, self.floor)

    @cached_property
    def ranks(self) -> RankComparison:
        return compare_strategies(self.cells, self.metric)

    @cached_property
    def ratios(self) -> pd.DataFrame:
        """Performance-profile budget ratios, problems x strategies."""
        return cost_ratios(self.results)

    @cached_property
    def profile_areas(self) -> pd.Series:
        return area_under_profile(self.ratios)

    @cached_property
    def expected_max(self) -> pd.DataFrame:
        return expected_max_frame(self.results)

    @cached_property
    def importance(self) -> pd.DataFrame:
        return importance_frame(self.results)

    @cached_property
    def best_configs(self) -> pd.DataFrame:
        return best_configs(self.results)

    def warnings(self) -> list[str]:
        """What a reader must know before trusting a comparison: unequal seeds, cells without a result, and
        selected trials without the accuracy the rank tests compare (a test accuracy that was not recorded)."""
        lines = [f"{row.strategy} has {row.n_seeds} seed(s) on {row.task}, fewer than another strategy there; "
                 "its numbers are over fewer seeds" for row in self.summary[self.summary["fewer_seeds"]].itertuples()]
        lines += [f"{row.strategy} on {row.task}: {row.seeds_without_result} of {row.n_seeds} seed(s) ended without "
                  "a COMPLETE trial; means are over the others and the rank tests count them last"
                  for row in self.summary[self.summary["seeds_without_result"] > 0].itertuples()]
        unmeasured = self.cells[self.cells["best_val_accuracy"].notna() & self.cells[self.metric.cells].isna()]
        lines += [f"{row.strategy} on {row.task}, seed {row.seed}: the selected trial has no {self.metric.accuracy}; "
                  f"the rank tests on {self.metric.accuracy} count it last" for row in unmeasured.itertuples()]
        return lines + self.more_compute()

    def more_compute(self) -> list[str]:
        """Strategies that trained markedly more epochs per seed than the median strategy on a task, partly
        outside their trials' learning curves: a range test's sweeps (at least 20 steps, many epochs on a small
        data set) and epochs before a divergence, which a budget counting trials does not cap."""
        table = self.summary
        if "extra_epochs" not in table:
            return []
        median = table.groupby("task")["epochs"].transform("median")
        over = table[(table["epochs"] > MORE_COMPUTE * median) & (table["extra_epochs"] > 0)]
        return [f"{row.strategy} on {row.task} trained {row.epochs:.3g} epochs per seed, {row.epochs / m:.1f}x the "
                f"median strategy's {m:.3g}, {row.extra_epochs:.3g} of them outside its trials' learning curves (a "
                "range test's sweeps, or epochs before a divergence) that the budget did not cap: read its accuracy "
                "with its cost" for row, m in zip(over.itertuples(), median[over.index])]
