"""The report's tables as display strings: accuracy, cost, ranks, pairwise tests, best configurations
and the noise floor. Accuracies print in percent with one decimal."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import combinations

import pandas as pd

from reports.analysis import Analysis
from reports.render import Table
from reports.stats import ALPHA
from reports.tables import is_missing, param_columns


def pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}"


def mean_std(mean: float, std: float) -> str:
    """"93.1 ± 0.8"; the ± part only when there is a spread to show."""
    return pct(mean) if math.isnan(std) or math.isnan(mean) else f"{pct(mean)} ± {pct(std)}"


def interval(low: float, high: float) -> str:
    return "–" if math.isnan(low) else f"[{pct(low)}, {pct(high)}]"


def count(value: float) -> str:
    """Integral values print as integers, others with one decimal."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def measured(digits: int) -> Callable[[float], str]:
    """A formatter that prints what was not measured (NaN, e.g. energy on a CPU) as "–", never as a number."""
    return lambda value: "–" if math.isnan(value) else f"{value:.{digits}f}"


def significant(value: float, digits: int = 3) -> str:
    """`digits` significant figures without an exponent (0.600, 12.3, 1234, 0.00139), so a short run's device-hours
    read 0.00139, never 0.000; what was not measured (NaN) as "–"."""
    if math.isnan(value):
        return "–"
    decimals = digits - 1 - math.floor(math.log10(abs(value))) if value else 0
    return f"{value:.{max(decimals, 0)}f}"


def _seeds(row: object) -> str:
    """Seed count, † when fewer than another strategy on the task, ‡k when k seeds found no result."""
    text = str(row.n_seeds) + ("†" if row.fewer_seeds else "")
    return text + (f" ‡{row.seeds_without_result}" if row.seeds_without_result else "")


def _gap(gap: float, within_noise: bool) -> str:
    if math.isnan(gap):
        return "–"
    return "best" if gap == 0 else f"−{100 * gap:.1f}" + (" ≈" if within_noise else "")


def accuracy_table(analysis: Analysis) -> Table:
    """Per task × strategy: the selected validation accuracy over seeds, its CI and IQM, and test accuracy."""
    s, gaps = analysis.summary, analysis.gaps
    cells = pd.DataFrame({
        "Task": s["task"], "Strategy": s["strategy"], "Seeds": [_seeds(r) for r in s.itertuples()],
        "Val. acc.": [mean_std(m, d) for m, d in zip(s["val_mean"], s["val_std"])],
        "95% CI": [interval(lo, hi) for lo, hi in zip(s["val_ci_low"], s["val_ci_high"])],
        "IQM [95% CI]": [f"{pct(m)} {interval(lo, hi)}".replace(" –", "") for m, lo, hi in
                         zip(s["val_iqm"], s["val_iqm_low"], s["val_iqm_high"])],
        "Test acc.": [mean_std(m, d) for m, d in zip(s["test_mean"], s["test_std"])],
        "Δ best": [_gap(g, w) for g, w in zip(gaps["gap_to_best"], gaps["within_noise"])],
    })
    best = gaps["gap_to_best"].eq(0) | gaps["within_noise"]
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    bold["Val. acc."] = best
    data = s.drop(columns=["strategy_note"], errors="ignore").join(gaps[["gap_to_best", "within_noise"]])
    note = ("Validation accuracy (%) of the trial each cell (task × strategy × seed) selected: mean ± std "
            "(ddof = 1) over seeds, Student-t 95% CI of the mean, and interquartile mean with a percentile "
            "bootstrap 95% CI. Test accuracy is that of the same selected trials. Bold: the best mean on the "
            "task" + (" and every mean within the seed noise of it (≈: the gap is at most the noise floor's std; "
                      "not a win)." if not analysis.floor.empty else "; no noise floor was measured.")
            + " †: fewer seeds than another strategy on this task. ‡k: k seeds without a COMPLETE trial, left "
            "out of the mean and ranked last.")
    return Table("accuracy", "Selected validation and test accuracy (%) per task and strategy", cells, data,
                 bold, note)


def cost_table(analysis: Analysis) -> Table:
    """Per task × strategy: trials by state and the budget spent, beside the strategy's own note."""
    s = analysis.summary
    columns = {"Task": s["task"], "Strategy": s["strategy"], "Trials/cell": s["trials"].map(count),
               "Completed": s["completed"].map(count), "Pruned": s["pruned"].map(count),
               "Failed": s["failed"].map(count), "Epochs/cell": s["epochs"].map(count),
               "Seconds/cell": s["seconds"].map(lambda v: f"{v:.1f}")}
    compiled = "compile_seconds" in s and s["compile_seconds"].notna().any()
    if compiled:
        columns["Compile s/cell"] = s["compile_seconds"].map(measured(1))
    for column, header in (("device_hours", "Device-hours"), ("kwh", "kWh")):
        if column in s:
            columns[header] = s[column].map(significant)
    if "strategy_note" in s:
        columns["Note"] = s["strategy_note"].fillna("")
    cells = pd.DataFrame(columns)
    note = ("Trials, epochs and seconds are means per cell, to read against the per-cell budget; completed, "
            "pruned and failed trials (and device-hours of training on the run's CPU or GPU, and kWh where "
            "measured) are totals over seeds. Failed trials are counted and spend budget but are never averaged "
            "into accuracies.")
    if compiled:
        note += (" Compile s/cell: the first training step's seconds, which compile the model for training (part "
                 "of the seconds; recompiles for evaluation or other batch shapes fall in the epochs' seconds).")
    align = "ll" + "r" * (cells.shape[1] - 2 - ("Note" in cells)) + ("l" if "Note" in cells else "")
    return Table("cost", "Budget spent and trials by state per task and strategy", cells, s, note=note, align=align)


def rank_table(analysis: Analysis) -> Table:
    """Per strategy: mean rank over (task, seed) problems and the performance-profile area."""
    ranks, areas = analysis.ranks.mean_ranks, analysis.profile_areas
    data = pd.DataFrame({"strategy": ranks.index, "mean_rank": ranks.to_numpy(),
                         "profile_area": areas.reindex(ranks.index).to_numpy()})
    cells = pd.DataFrame({"Strategy": data["strategy"], "Mean rank": data["mean_rank"].map(measured(2)),
                          "Profile area": data["profile_area"].map(measured(2))})
    bold = pd.DataFrame({"Strategy": False, "Mean rank": data["mean_rank"].eq(data["mean_rank"].min()),
                         "Profile area": data["profile_area"].eq(data["profile_area"].max())})
    note = (analysis.ranks.describe() + f" Rank 1 is the best {analysis.metric.label} on a problem; ties share "
            "ranks. Profile area: the normalised area under the performance profile on τ ∈ [1, 4] (1 = always the "
            "fastest to reach 99% of the problem's best validation accuracy).")
    return Table("ranks", f"Mean rank of {analysis.metric.accuracy} over (task, seed) problems", cells, data, bold,
                 note, align="lrr")


def pairwise_table(analysis: Analysis) -> Table | None:
    """Nemenyi p-values per pair, with the verdict; a pair inside the seed noise on every task is no win.

    Demšar (2006): post-hoc verdicts only once Friedman's test rejects; otherwise the p-values are shown
    for reference and no pair is called better.
    """
    comparison, metric = analysis.ranks, analysis.metric
    pairwise = comparison.pairwise
    if pairwise is None:
        return None
    means = analysis.summary.set_index(["task", "strategy"])[f"{metric.prefix}_mean"].unstack("strategy")
    noise = analysis.floor.set_index("task")[f"{metric.prefix}_std"].reindex(means.index)
    ranks = comparison.mean_ranks
    rows = []
    for a, b in combinations(pairwise.columns, 2):
        within = bool(noise.notna().all() and ((means[a] - means[b]).abs() <= noise).all())
        better = a if ranks[a] < ranks[b] else b
        p = float(pairwise.loc[a, b])
        verdict = ("within seed noise" if within else "none: Friedman did not reject" if not comparison.rejected
                   else f"{better} better" if p < ALPHA else "no significant difference")
        rows.append({"a": a, "b": b, "p_value": p, "within_noise": within, "verdict": verdict})
    data = pd.DataFrame(rows)
    cells = pd.DataFrame({"Strategy A": data["a"], "Strategy B": data["b"],
                          "Nemenyi p": data["p_value"].map(lambda p: f"{p:.3g}"), "Verdict": data["verdict"]})
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    bold["Nemenyi p"] = data["p_value"].lt(ALPHA) & ~data["within_noise"] & comparison.rejected
    note = (f"Bold: significant at α = {ALPHA} and outside the seed noise. A pair whose mean {metric.name} "
            f"accuracies differ by at most the noise floor's std of {metric.accuracy} on every task is never called "
            "a win.")
    if not comparison.rejected:
        note += (f" Friedman's test did not reject at α = {ALPHA} (p = {comparison.p_value:.3g}), so no pair is "
                 "called better whatever its Nemenyi p (Demšar 2006: post-hoc tests only after the omnibus test "
                 "rejects); the p-values are shown for reference.")
    return Table("pairwise", f"Pairwise post-hoc tests (Nemenyi) of {metric.accuracy}", cells, data, bold, note,
                 align="llrl")


def best_config_table(analysis: Analysis) -> Table:
    """Per task, the best configuration any strategy found, with where it was found."""
    best = analysis.best_configs
    params = param_columns(best)
    configs = [", ".join(f"{c.removeprefix('param_')}={_value(row[c])}" for c in params if not is_missing(row[c]))
               for _, row in best.iterrows()]
    cells = pd.DataFrame({"Task": best["task"], "Strategy": best["strategy"], "Seed": best["seed"].map(str),
                          "Trial": best["trial"].map(str), "Val. acc.": best["val_accuracy"].map(pct),
                          "Test acc.": best["test_accuracy"].map(pct), "Configuration": configs})
    return Table("best_configs", "Best configuration found per task (selected on validation accuracy)", cells,
                 best, align="llrrrrl")


def _value(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def noise_table(analysis: Analysis) -> Table | None:
    """Per task: the manual default re-trained with different training seeds."""
    floor = analysis.floor
    if floor.empty:
        return None
    cells = pd.DataFrame({"Task": floor["task"], "Trainings": floor["trainings"].map(count),
                          "Failed": floor["failed"].map(count), "Val. acc.": floor["val_mean"].map(pct),
                          "Std": floor["val_std"].map(pct), "Range": floor["val_range"].map(pct)})
    note = ("The task's default configuration re-trained with a different training seed each time: how much "
            "validation accuracy (%) moves from seed noise alone. Gaps between strategies at most this std are "
            "marked ≈ and not called wins.")
    return Table("noise_floor", "Noise floor: seed-to-seed spread of one fixed configuration", cells, floor,
                 note=note, align="lrrrrr")


def report_tables(analysis: Analysis) -> list[Table]:
    """Every table of the report, in reading order; tables without content are left out."""
    tables = [accuracy_table(analysis), cost_table(analysis), rank_table(analysis), pairwise_table(analysis),
              best_config_table(analysis), noise_table(analysis)]
    return [table for table in tables if table is not None]
