"""Reports on hand-made results frames: no training, every expected number computed by hand."""

from __future__ import annotations

import math
from importlib.util import find_spec

import pandas as pd
import pytest

from reports import (
    anytime_frame,
    cell_summary,
    markdown_table,
    plot_anytime,
    rich_table,
    summary,
    write_report,
)

NAN = float("nan")


def trials(task: str, strategy: str, seed: int, rows: list[tuple]) -> list[dict]:
    """Rows of (trial, state, val_accuracy, test_accuracy, epochs) for one cell, the other columns filled in."""
    return [
        {
            "task": task,
            "strategy": strategy,
            "seed": seed,
            "trial": trial,
            "state": state,
            "val_accuracy": val,
            "test_accuracy": test,
            "epochs": epochs,
            "seconds": 0.5 * epochs,
            "train_seed": 100 * seed + trial,
            "fail_reason": "diverged" if state == "FAIL" else NAN,
            "param_lr": 10.0 ** -(trial + 1),
        }
        for trial, state, val, test, epochs in rows
    ]


def frame(*cells: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for cell in cells for row in cell])


def curves_for(results: pd.DataFrame) -> pd.DataFrame:
    rows = [
        {"task": r.task, "strategy": r.strategy, "seed": r.seed, "trial": r.trial, "epoch": e,
         "train_loss": 1.0 / e, "val_loss": 1.1 / e, "val_accuracy": 0.5, "lr": r.param_lr, "seconds": 0.5}
        for r in results.itertuples() for e in range(1, r.epochs + 1)
    ]
    return pd.DataFrame(rows)


# One cell whose best test accuracy belongs to neither the best validation trial nor a COMPLETE trial.
# Trial 4 ties trial 1 on validation and is listed first: the lower trial number must still win.
SELECTION_CELL = trials("digits-resnet", "tpe", 0, [
    (4, "COMPLETE", 0.90, 0.60, 3),
    (0, "COMPLETE", 0.80, 0.95, 3),
    (1, "COMPLETE", 0.90, 0.70, 3),
    (2, "PRUNED", 0.99, 0.99, 1),  # a value on a pruned trial must not make it selectable
    (3, "FAIL", NAN, NAN, 2),
])


def three_seeds_and_one() -> pd.DataFrame:
    """tpe over three seeds (val .90/.80/.85, test .70/.60/.80) and random on one seed; tpe appears first."""
    return frame(
        trials("digits-resnet", "tpe", 0, [(0, "COMPLETE", 0.90, 0.70, 4), (1, "PRUNED", NAN, NAN, 1)]),
        trials("digits-resnet", "tpe", 1, [(0, "COMPLETE", 0.80, 0.60, 4), (1, "COMPLETE", 0.70, 0.90, 4)]),
        trials("digits-resnet", "tpe", 2, [(0, "COMPLETE", 0.85, 0.80, 4), (1, "FAIL", NAN, NAN, 2)]),
        trials("digits-resnet", "random", 0, [(0, "COMPLETE", 0.75, 0.72, 5)]),
    )


def test_selection_reports_test_accuracy_of_best_validation_trial() -> None:
    row = cell_summary(frame(SELECTION_CELL)).iloc[0]
    assert row["best_val_accuracy"] == pytest.approx(0.90)
    assert row["test_accuracy"] == pytest.approx(0.70)


def test_pruned_and_failed_trials_are_counted_but_not_selected() -> None:
    row = cell_summary(frame(SELECTION_CELL)).iloc[0]
    counts = row[["trials", "completed", "pruned", "failed", "epochs"]].tolist()
    assert counts == [5, 3, 1, 1, 12]
    assert row["seconds"] == pytest.approx(6.0)


def test_cell_without_complete_trial_keeps_its_row_with_nan() -> None:
    nothing_complete = trials("digits-resnet", "tpe", 1, [(0, "FAIL", NAN, NAN, 1), (1, "PRUNED", NAN, NAN, 2)])
    results = frame(SELECTION_CELL, nothing_complete)
    cells = cell_summary(results)
    assert cells["seed"].tolist() == [0, 1]
    empty = cells.iloc[1]
    assert math.isnan(empty["best_val_accuracy"]) and math.isnan(empty["test_accuracy"])
    assert empty[["trials", "completed", "pruned", "failed", "epochs"]].tolist() == [2, 0, 1, 1, 3]


def test_summary_mean_and_std_over_seeds() -> None:
    table = summary(three_seeds_and_one()).set_index("strategy")
    tpe = table.loc["tpe"]
    assert tpe["val_accuracy_mean"] == pytest.approx(0.85)
    assert tpe["val_accuracy_std"] == pytest.approx(0.05)  # sqrt((.05² + .05² + 0) / 2)
    assert tpe["test_accuracy_mean"] == pytest.approx(0.70)  # seed 1 reports .60, not the .90 of its worse trial
    assert tpe["test_accuracy_std"] == pytest.approx(0.10)
    assert tpe["n_seeds"] == 3
    assert tpe["trials"] == pytest.approx(2.0)
    assert tpe["epochs"] == pytest.approx(19 / 3)
    assert tpe["seconds"] == pytest.approx(0.5 * 19 / 3)
    random = table.loc["random"]
    assert random["n_seeds"] == 1
    assert math.isnan(random["val_accuracy_std"]) and math.isnan(random["test_accuracy_std"])


def test_summary_keeps_first_seen_strategy_order() -> None:
    results = frame(
        trials("a-task", "tpe", 0, [(0, "COMPLETE", 0.5, 0.5, 1)]),
        trials("a-task", "random", 0, [(0, "COMPLETE", 0.5, 0.5, 1)]),
        trials("b-task", "random", 0, [(0, "COMPLETE", 0.5, 0.5, 1)]),
        trials("b-task", "tpe", 0, [(0, "COMPLETE", 0.5, 0.5, 1)]),
    )
    order = summary(results)[["task", "strategy"]].apply(tuple, axis=1).tolist()
    assert order == [("a-task", "tpe"), ("a-task", "random"), ("b-task", "tpe"), ("b-task", "random")]


def test_markdown_table_shows_percentages_with_spread() -> None:
    text = markdown_table(summary(three_seeds_and_one()))
    lines = text.splitlines()
    assert lines[0] == (
        "| Task | Strategy | Best val. acc. | Test acc. (selected by val.) | Seeds | Trials | Epochs | Seconds |"
    )
    assert lines[2] == "| digits-resnet | tpe | 85.0 ± 5.0 | 70.0 ± 10.0 | 3 | 2 | 6.3 | 3.2 |"
    assert lines[3] == "| digits-resnet | random | 75.0 | 72.0 | 1 | 1 | 5 | 2.5 |"
    assert "standard deviation over seeds" in text
    assert "selected on validation accuracy" in text


def anytime_cell(seed: int = 0) -> list[dict]:
    """Cumulative epochs 1, 3, 4, 7, 9; best so far: none, .5, .5, .5, .7 (listed out of trial order)."""
    return trials("digits-resnet", "tpe", seed, [
        (3, "COMPLETE", 0.40, 0.90, 3),
        (0, "FAIL", NAN, NAN, 1),
        (4, "COMPLETE", 0.70, 0.60, 2),
        (1, "COMPLETE", 0.50, 0.50, 2),
        (2, "PRUNED", NAN, NAN, 1),
    ])


def test_anytime_frame_steps_and_forward_fill() -> None:
    longer = trials("digits-resnet", "tpe", 1, [(0, "COMPLETE", 0.60, 0.6, 12)])
    curve = anytime_frame(frame(anytime_cell(), longer))
    seed0 = curve[curve["seed"] == 0].set_index("epochs_spent")["best_val_accuracy"]
    # no point before the first complete trial (epoch 3); carried to the task's maximum (12 epochs)
    expected = {3: 0.5, 4: 0.5, 5: 0.5, 6: 0.5, 7: 0.5, 8: 0.5, 9: 0.7, 10: 0.7, 11: 0.7, 12: 0.7}
    assert seed0.to_dict() == pytest.approx(expected)
    assert seed0.is_monotonic_increasing
    seed1 = curve[curve["seed"] == 1]
    assert seed1["epochs_spent"].tolist() == [12] and seed1["best_val_accuracy"].tolist() == [0.6]
    assert list(curve.columns) == ["task", "strategy", "seed", "epochs_spent", "best_val_accuracy"]


def test_anytime_grid_is_per_task() -> None:
    other_task = trials("listops-transformer", "tpe", 0, [(0, "COMPLETE", 0.3, 0.3, 2)])
    curve = anytime_frame(frame(anytime_cell(), other_task))
    assert curve.groupby("task")["epochs_spent"].max().to_dict() == {"digits-resnet": 9, "listops-transformer": 2}


def test_plot_anytime_writes_png_and_pdf(tmp_path) -> None:
    random = trials("digits-resnet", "random", 0, [(0, "COMPLETE", 0.6, 0.6, 9)])
    results = frame(anytime_cell(0), anytime_cell(1), random)
    paths = plot_anytime(results, tmp_path / "figs" / "best_so_far")
    assert [p.name for p in paths] == ["best_so_far.png", "best_so_far.pdf"]
    assert paths[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and paths[0].stat().st_size > 1000
    assert paths[1].read_bytes().startswith(b"%PDF") and paths[1].stat().st_size > 1000


def test_plot_anytime_is_deterministic(tmp_path) -> None:
    results = frame(anytime_cell(0), anytime_cell(1))
    first = plot_anytime(results, tmp_path / "a")[0].read_bytes()
    second = plot_anytime(results, tmp_path / "b")[0].read_bytes()
    assert first == second


def test_write_report_creates_files_with_the_numbers(tmp_path) -> None:
    failed_cell = trials("digits-resnet", "random", 1, [(0, "FAIL", NAN, NAN, 1)])
    results = pd.concat([three_seeds_and_one(), frame(failed_cell)], ignore_index=True)
    paths = write_report(results, curves_for(results), tmp_path / "run")
    expected = {"results.csv", "curves.csv", "summary.csv", "report.md", "best_so_far.png", "best_so_far.pdf"}
    if find_spec("pyarrow") is not None:
        expected |= {"results.parquet", "curves.parquet"}
    assert set(paths) == expected
    assert all(path.is_file() and path.stat().st_size > 0 for path in paths.values())
    report = paths["report.md"].read_text(encoding="utf-8")
    assert report.startswith("# ")
    assert "| digits-resnet | tpe | 85.0 ± 5.0 | 70.0 ± 10.0 | 3 |" in report
    assert "![" in report and "](best_so_far.png)" in report
    written = pd.read_csv(paths["summary.csv"])
    assert written.loc[0, "val_accuracy_mean"] == pytest.approx(0.85)
    assert len(pd.read_csv(paths["results.csv"])) == len(results)


def test_rich_table_has_the_markdown_columns() -> None:
    table = rich_table(summary(three_seeds_and_one()))
    assert [str(c.header) for c in table.columns][2:4] == ["Best val. acc.", "Test acc. (selected by val.)"]
    assert table.row_count == 2
    assert list(table.columns[2].cells) == ["85.0 ± 5.0", "75.0"]
