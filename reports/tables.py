"""Tables from the results frame: one row per cell, then mean ± std over seeds per (task, strategy).

Selection uses validation accuracy only; test accuracy is reported for the trial that validation
selected, so the test split never influences which configuration a strategy is credited with.
"""

from __future__ import annotations

import math

import pandas as pd

CELL = ["task", "strategy", "seed"]
HEADERS = [
    "Task",
    "Strategy",
    "Best val. acc.",
    "Test acc. (selected by val.)",
    "Seeds",
    "Trials",
    "Epochs",
    "Seconds",
]
NOTE = (
    "± is the standard deviation over seeds. Test accuracy is that of the trial each cell "
    "(task × strategy × seed) selected on validation accuracy; trials, epochs and seconds are "
    "means per cell."
)
NUMERIC_FROM = HEADERS.index("Best val. acc.")  # from here on the columns are numbers, read best right-aligned


def in_first_seen_order(frame: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Sort rows by task, then strategy, as they first appear in `reference` (the spec's order), then seed."""
    ranks = {col: {v: i for i, v in enumerate(pd.unique(reference[col]))} for col in ("task", "strategy")}
    keys = [col for col in CELL if col in frame.columns]
    return frame.sort_values(
        keys, key=lambda s: s.map(ranks[s.name]) if s.name in ranks else s, kind="stable"
    ).reset_index(drop=True)


def _selected_trials(results: pd.DataFrame) -> pd.DataFrame:
    """The trial each cell selects: best validation accuracy among COMPLETE trials, ties to the earlier trial."""
    complete = results[results["state"].eq("COMPLETE") & results["val_accuracy"].notna()]
    ordered = complete.sort_values(["val_accuracy", "trial"], ascending=[False, True], kind="stable")
    selected = ordered.drop_duplicates(CELL).set_index(CELL)
    return selected[["val_accuracy", "test_accuracy"]].rename(columns={"val_accuracy": "best_val_accuracy"})


def _cell_costs(results: pd.DataFrame) -> pd.DataFrame:
    """Trial counts by state and compute spent per cell, so equal budgets can be checked by eye."""
    state = results["state"]
    flagged = results.assign(
        completed=state.eq("COMPLETE"), pruned=state.eq("PRUNED"), failed=state.eq("FAIL")
    )
    return flagged.groupby(CELL, sort=False).agg(
        trials=("trial", "size"),
        completed=("completed", "sum"),
        pruned=("pruned", "sum"),
        failed=("failed", "sum"),
        epochs=("epochs", "sum"),
        seconds=("seconds", "sum"),
    )


def cell_summary(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, strategy, seed): the validation-selected trial's accuracies and the cell's cost.

    A cell without a COMPLETE trial keeps its row with NaN accuracies, so failures stay visible.
    """
    cells = _cell_costs(results).join(_selected_trials(results)).reset_index()
    accuracies = ["best_val_accuracy", "test_accuracy"]
    costs = ["trials", "completed", "pruned", "failed", "epochs", "seconds"]
    return in_first_seen_order(cells[[*CELL, *accuracies, *costs]], results)


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, strategy): mean and std (ddof=1) over seeds of the per-cell numbers.

    The spread is over seeds because that is the variance a reader would see when re-running the study.
    """
    cells = cell_summary(results)
    table = cells.groupby(["task", "strategy"], sort=False).agg(
        val_accuracy_mean=("best_val_accuracy", "mean"),
        val_accuracy_std=("best_val_accuracy", "std"),
        test_accuracy_mean=("test_accuracy", "mean"),
        test_accuracy_std=("test_accuracy", "std"),
        n_seeds=("seed", "size"),
        trials=("trials", "mean"),
        epochs=("epochs", "mean"),
        seconds=("seconds", "mean"),
    )
    return in_first_seen_order(table.reset_index(), results)


def _percent(mean: float, std: float) -> str:
    """Accuracy as "93.1 ± 0.8" in percent; the ± part only when there is a spread to show."""
    if math.isnan(mean):
        return "–"
    if math.isnan(std):
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def _count(value: float) -> str:
    """A per-cell mean of counts: integral means print as integers, others with one decimal."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def format_rows(summary_frame: pd.DataFrame) -> list[list[str]]:
    """The summary as display strings in HEADERS order, shared by the Markdown and terminal tables."""
    return [
        [
            str(row.task),
            str(row.strategy),
            _percent(row.val_accuracy_mean, row.val_accuracy_std),
            _percent(row.test_accuracy_mean, row.test_accuracy_std),
            str(row.n_seeds),
            _count(row.trials),
            _count(row.epochs),
            f"{row.seconds:.1f}",
        ]
        for row in summary_frame.itertuples(index=False)
    ]


def markdown_table(summary_frame: pd.DataFrame) -> str:
    """A pipe table of `summary(...)` with the note on what ± and test accuracy mean beneath it."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"

    rule = ["---" if i < NUMERIC_FROM else "---:" for i in range(len(HEADERS))]
    lines = [line(HEADERS), "|" + "|".join(rule) + "|", *map(line, format_rows(summary_frame))]
    return "\n".join(lines) + "\n\n" + NOTE + "\n"
