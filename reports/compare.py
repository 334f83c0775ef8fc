"""`harness report --compare A B`: do two runs of a spec give the same numbers, and where not?

Trials are matched on (task, strategy, seed, trial) and compared on everything that should repeat
(state, accuracies, epochs, training seed, configuration); wall time never repeats and is left out.
Differences in the spec or in the environment (packages, commit, hardware, plugin sources) are listed as likely
causes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from reports.render import Table, to_markdown
from reports.tables import CELL, param_columns

KEY = [*CELL, "trial"]
REPEATABLE = ["state", "val_accuracy", "test_accuracy", "epochs", "train_seed"]
SHOWN = 20  # differing trials listed; the count covers them all


@dataclass(frozen=True)
class RunDiff:
    spec_changes: list[str]
    environment_changes: list[str]
    matched: int
    differing: pd.DataFrame  # one row per differing (trial, column): key, column, a, b
    only_a: int
    only_b: int

    @property
    def nothing_to_compare(self) -> bool:
        """Neither run has a trial: that they agree says nothing."""
        return self.matched == self.only_a == self.only_b == 0

    @property
    def same_numbers(self) -> bool:
        return self.differing.empty and self.only_a == 0 and self.only_b == 0 and not self.nothing_to_compare


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value}


def changes(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """`path: a → b` for every leaf that differs between two nested dicts."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    return [f"{key}: {flat_a.get(key)!r} → {flat_b.get(key)!r}" for key in sorted(flat_a.keys() | flat_b.keys())
            if flat_a.get(key) != flat_b.get(key)]


def _settings(manifest: dict[str, Any]) -> dict[str, Any]:
    """The spec as written, and every option with the defaults it left out: a default another checkout
    changed shows under `resolved.` though the two specs are the same."""
    spec = {k: v for k, v in manifest["spec"].items() if k != "storage"}
    return {**spec, "resolved": manifest.get("resolved", {})}


def _environment(manifest: dict[str, Any]) -> dict[str, Any]:
    last = (manifest.get("sessions") or [{}])[-1]
    return {key: last.get(key) for key in ("packages", "git_commit", "hardware", "plugins")}


def _equal(a: pd.Series, b: pd.Series) -> pd.Series:
    """Exactly equal, or both missing: a deterministic run repeats bit for bit."""
    return (a == b) | (a.isna() & b.isna())


def compare_runs(a: pd.DataFrame, b: pd.DataFrame, manifest_a: dict[str, Any], manifest_b: dict[str, Any]) -> RunDiff:
    columns = [c for c in [*REPEATABLE, *param_columns(a), *param_columns(b)] if c in a or c in b]
    columns = list(dict.fromkeys(columns))
    merged = a.reindex(columns=[*KEY, *columns]).merge(b.reindex(columns=[*KEY, *columns]), on=KEY, how="outer",
                                                       suffixes=("_a", "_b"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    rows = []
    for column in columns:
        differs = both[~_equal(both[f"{column}_a"], both[f"{column}_b"])]
        rows += [{**{k: row[k] for k in KEY}, "column": column, "a": row[f"{column}_a"], "b": row[f"{column}_b"]}
                 for _, row in differs.iterrows()]
    return RunDiff(spec_changes=changes(_settings(manifest_a), _settings(manifest_b)),
                   environment_changes=changes(_environment(manifest_a), _environment(manifest_b)),
                   matched=len(both), differing=pd.DataFrame(rows, columns=[*KEY, "column", "a", "b"]),
                   only_a=int((merged["_merge"] == "left_only").sum()),
                   only_b=int((merged["_merge"] == "right_only").sum()))


def shown_value(value: Any) -> str:
    """A value as the table shows it; a missing one (a trial that failed on one side only) as "–"."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def diff_markdown(diff: RunDiff, name_a: str, name_b: str) -> str:
    """The verdict first, then what differs: spec, trials, environment."""
    verdict = "the same numbers" if diff.same_numbers else "different numbers"
    counts = (f"**{verdict}**: {diff.matched} trials matched, {diff.differing[KEY].drop_duplicates().shape[0]} of "
              f"them differ; {diff.only_a} only in {name_a}, {diff.only_b} only in {name_b}.")
    if diff.nothing_to_compare:
        counts = f"**nothing to compare**: neither {name_a} nor {name_b} has a trial yet."
    lines = [f"# Comparison of {name_a} and {name_b}", "", counts, ""]
    lines += ["## Spec", ""] + ([f"- {c}" for c in diff.spec_changes] or ["The same spec."]) + [""]
    if not diff.differing.empty:
        shown = diff.differing.head(SHOWN)
        table = Table("differing", f"Differing values (the first {len(shown)} of {len(diff.differing)})",
                      shown.map(shown_value), shown, align="llrrlrr")
        lines += ["## Differing trials", "", to_markdown(table)]
    lines += ["## Environment", ""] + ([f"- {c}" for c in diff.environment_changes] or ["The same."])
    return "\n".join(lines) + "\n"
