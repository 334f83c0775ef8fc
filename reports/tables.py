"""Numbers from the results frame: one row per cell, then per (task, strategy) over seeds.

Selection uses validation accuracy only; test accuracy is reported for the trial that validation
selected, so the test split never influences which configuration a strategy is credited with.
A cell without a COMPLETE trial keeps its row with NaN accuracies: it is counted, never averaged in.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd
from scipy import stats

from reports.robust import iqm_with_ci

CELL = ["task", "strategy", "seed"]
PAIR = ["task", "strategy"]
CONFIDENCE = 0.95
RESOURCES = {"device_seconds": ("device_hours", 1 / 3600), "energy_joules": ("kwh", 1 / 3.6e6),
             "compile_seconds": ("compile_seconds", 1.0),
             "extra_epochs": ("extra_epochs", 1.0)}  # optional columns; extra epochs: trained outside the curves
PER_CELL = ("trials", "epochs", "extra_epochs", "seconds", "compile_seconds")  # means over seeds; the others totals
Band = TypeVar("Band", pd.Series, np.ndarray)


def in_first_seen_order(frame: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Sort rows by task, then strategy, as they first appear in `reference` (the spec's order), then seed."""
    ranks = {col: {v: i for i, v in enumerate(pd.unique(reference[col]))} for col in ("task", "strategy")}
    keys = [col for col in CELL if col in frame.columns]
    return frame.sort_values(
        keys, key=lambda s: s.map(ranks[s.name]) if s.name in ranks else s, kind="stable"
    ).reset_index(drop=True)


def complete_trials(results: pd.DataFrame) -> pd.DataFrame:
    """Trials that finished all their epochs with a value: the only ones a strategy may be credited with."""
    return results[results["state"].eq("COMPLETE") & results["val_accuracy"].notna()]


def selected_trials(results: pd.DataFrame, keys: list[str] = CELL) -> pd.DataFrame:
    """The trial each group selects: best validation accuracy among COMPLETE trials, ties to the earlier trial."""
    ordered = complete_trials(results).sort_values(["val_accuracy", "seed", "trial"], ascending=[False, True, True],
                                                   kind="stable")
    return ordered.drop_duplicates(keys)


def param_columns(results: pd.DataFrame) -> list[str]:
    return [c for c in results.columns if c.startswith("param_")]


def is_missing(value: object) -> bool:
    """A parameter a trial did not have (conditional ones, e.g. momentum under Adam) reads as None or NaN."""
    return value is None or (isinstance(value, float) and np.isnan(value))


def _measured_sum(values: pd.Series) -> float:
    """A sum that stays NaN where nothing was measured (e.g. energy on a CPU), rather than reading 0."""
    return values.sum(min_count=1)


def _cell_costs(results: pd.DataFrame) -> pd.DataFrame:
    """Trial counts by state and compute spent per cell, so equal budgets can be checked by eye."""
    state = results["state"]
    flagged = results.assign(completed=state.eq("COMPLETE"), pruned=state.eq("PRUNED"), failed=state.eq("FAIL"))
    extra = {name: (column, _measured_sum) for column, (name, _) in RESOURCES.items() if column in results}
    costs = flagged.groupby(CELL, sort=False).agg(
        trials=("trial", "size"), completed=("completed", "sum"), pruned=("pruned", "sum"),
        failed=("failed", "sum"), epochs=("epochs", "sum"), seconds=("seconds", "sum"), **extra)
    for column, (name, scale) in RESOURCES.items():
        if column in results:
            costs[name] = costs[name] * scale
    return costs


def cell_summary(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, strategy, seed): the validation-selected trial's accuracies and the cell's cost."""
    chosen = selected_trials(results).set_index(CELL)[["val_accuracy", "test_accuracy"]]
    cells = _cell_costs(results).join(chosen.rename(columns={"val_accuracy": "best_val_accuracy"})).reset_index()
    resources = [name for column, (name, _) in RESOURCES.items() if column in results]
    costs = ["trials", "completed", "pruned", "failed", "epochs", "seconds", *resources]
    return in_first_seen_order(cells[[*CELL, "best_val_accuracy", "test_accuracy", *costs]], results)


def t_interval(values: pd.Series) -> tuple[float, float]:
    """Student-t 95% interval of the mean over seeds, within [0, 1]; NaN with fewer than two seeds."""
    values = values.dropna()
    if len(values) < 2:
        return np.nan, np.nan
    if values.std() == 0:
        return float(values.mean()), float(values.mean())
    low, high = stats.t.interval(CONFIDENCE, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    return max(float(low), 0.0), min(float(high), 1.0)  # accuracies: the interval is clipped to [0, 1]


def unit_band(centre: Band, half: Band) -> tuple[Band, Band]:
    """centre ± half within [0, 1]: a band of accuracies cannot leave it, however wide the spread."""
    return (centre - half).clip(0, 1), (centre + half).clip(0, 1)


def _over_seeds(cells: pd.DataFrame) -> pd.Series:
    """One (task, strategy)'s numbers over its seeds; accuracies over the seeds that have one."""
    val = cells["best_val_accuracy"]
    ci_low, ci_high = t_interval(val)
    iqm, iqm_low, iqm_high = iqm_with_ci(val.dropna().to_numpy())
    row = {"n_seeds": len(cells), "seeds_without_result": val.isna().sum(),
           "val_mean": val.mean(), "val_std": val.std(), "val_ci_low": ci_low, "val_ci_high": ci_high,
           "val_iqm": iqm, "val_iqm_low": iqm_low, "val_iqm_high": iqm_high,
           "test_mean": cells["test_accuracy"].mean(), "test_std": cells["test_accuracy"].std()}
    row |= {name: cells[name].sum() for name in ("completed", "pruned", "failed")}
    row |= {name: cells[name].mean() for name in PER_CELL if name in cells}
    row |= {name: _measured_sum(cells[name]) for name in ("device_hours", "kwh") if name in cells}
    return pd.Series(row)


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, strategy) over seeds: mean, std (ddof=1), 95% CI and IQM of the selected trials.

    Counts (completed, pruned, failed) and resources (device-hours, kWh) are totals over seeds; trials,
    epochs, seconds and compile seconds (part of the seconds) are means per cell, to read against the
    per-cell budget. `fewer_seeds` marks a strategy with fewer seeds than another on the same task.
    """
    cells = cell_summary(results)
    rows = [_over_seeds(group).rename(key) for key, group in cells.groupby(PAIR, sort=False)]
    table = pd.DataFrame(rows)
    table.index = pd.MultiIndex.from_tuples(table.index, names=PAIR)
    table = table.reset_index().astype({"n_seeds": int, "seeds_without_result": int, "completed": int,
                                        "pruned": int, "failed": int})
    table["fewer_seeds"] = table["n_seeds"] < table.groupby("task")["n_seeds"].transform("max")
    if "strategy_note" in results:
        notes = results.groupby(PAIR, sort=False)["strategy_note"].agg(
            lambda s: "; ".join(note for note in pd.unique(s.dropna()) if note))
        table = table.join(notes, on=PAIR)
    return in_first_seen_order(table, results)


def best_configs(results: pd.DataFrame) -> pd.DataFrame:
    """Per task, the configuration with the best validation accuracy over every strategy and seed."""
    best = selected_trials(results, ["task"])
    columns = ["task", "strategy", "seed", "trial", "val_accuracy", "test_accuracy", *param_columns(results)]
    return in_first_seen_order(best[columns], results)
