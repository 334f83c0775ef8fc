"""Report tables on hand-made results frames: every expected number computed by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from reports_frames import NAN, frame, three_seeds_and_one, trials

from reports import Analysis, cell_summary, summary
from reports.layout import accuracy_table, best_config_table, cost_table, rank_table, significant
from reports.render import to_latex, to_markdown

T_975_2 = 4.302652729911275  # Student-t 97.5% quantile with 2 degrees of freedom (tables)

# One cell whose best test accuracy belongs to neither the best validation trial nor a COMPLETE trial.
# Trial 4 ties trial 1 on validation and is listed first: the lower trial number must still win.
SELECTION_CELL = trials("digits-resnet", "tpe", 0, [
    (4, "COMPLETE", 0.90, 0.60, 3),
    (0, "COMPLETE", 0.80, 0.95, 3),
    (1, "COMPLETE", 0.90, 0.70, 3),
    (2, "PRUNED", 0.99, 0.99, 1),  # a value on a pruned trial must not make it selectable
    (3, "FAIL", NAN, NAN, 2),
])


def test_selection_reports_test_accuracy_of_best_validation_trial() -> None:
    row = cell_summary(frame(SELECTION_CELL)).iloc[0]
    assert row["best_val_accuracy"] == pytest.approx(0.90)
    assert row["test_accuracy"] == pytest.approx(0.70)


def test_pruned_and_failed_trials_are_counted_but_not_selected() -> None:
    row = cell_summary(frame(SELECTION_CELL)).iloc[0]
    assert row[["trials", "completed", "pruned", "failed", "epochs"]].tolist() == [5, 3, 1, 1, 12]
    assert row["seconds"] == pytest.approx(6.0)


def test_summary_over_seeds_with_interval_counts_and_flags() -> None:
    table = summary(three_seeds_and_one()).set_index("strategy")
    tpe = table.loc["tpe"]
    assert tpe["val_mean"] == pytest.approx(0.85)
    assert tpe["val_std"] == pytest.approx(0.05)  # sqrt((.05² + .05² + 0) / 2)
    half = T_975_2 * 0.05 / math.sqrt(3)
    assert (tpe["val_ci_low"], tpe["val_ci_high"]) == pytest.approx((0.85 - half, 0.85 + half))
    assert tpe["val_iqm"] == pytest.approx(0.85)  # a quarter of three values trims none
    assert tpe["test_mean"] == pytest.approx(0.70)  # seed 1 reports .60, not the .90 of its worse trial
    assert tpe["test_std"] == pytest.approx(0.10)
    assert [tpe[c] for c in ("n_seeds", "completed", "pruned", "failed")] == [3, 4, 1, 1]  # totals over seeds
    assert tpe["trials"] == pytest.approx(2.0) and tpe["epochs"] == pytest.approx(19 / 3)  # means per cell
    assert not tpe["fewer_seeds"]
    random = table.loc["random"]
    assert random["n_seeds"] == 1 and random["fewer_seeds"]
    assert math.isnan(random["val_std"]) and math.isnan(random["val_ci_low"])


def test_cells_without_result_are_counted_never_averaged() -> None:
    nothing = trials("digits-resnet", "tpe", 3, [(0, "FAIL", NAN, NAN, 1), (1, "PRUNED", 0.99, NAN, 2)])
    analysis = Analysis(pd.concat([three_seeds_and_one(), frame(nothing)], ignore_index=True))
    tpe = analysis.summary.set_index("strategy").loc["tpe"]
    assert tpe["n_seeds"] == 4 and tpe["seeds_without_result"] == 1
    assert tpe["val_mean"] == pytest.approx(0.85)  # the three seeds with a result, not (…+0)/4 and not .99
    assert tpe["failed"] == 2
    assert accuracy_table(analysis).cells.set_index("Strategy").loc["tpe", "Seeds"] == "4 ‡1"
    assert any("1 of 4 seed(s) ended without a COMPLETE trial" in line for line in analysis.warnings())
    assert any("random has 1 seed(s) on digits-resnet, fewer" in line for line in analysis.warnings())


def test_a_strategy_that_trained_more_outside_its_curves_than_the_median_one_is_a_caveat() -> None:
    def cell(name: str, seed: int, extra: float) -> list[dict]:  # 4 trials of 4 epochs, each with `extra` besides
        return trials("listops", name, seed, [(t, "COMPLETE", 0.8, 0.7, 4 + extra) for t in range(4)],
                      extra_epochs=extra)

    results = frame(*[cell(name, seed, extra) for name, extra in (("random", 0), ("tpe", 0), ("lr_range_test", 10))
                      for seed in (0, 1)])
    assert Analysis(results).warnings() == [
        "lr_range_test on listops trained 56 epochs per seed, 3.5x the median strategy's 16, 40 of them outside its "
        "trials' learning curves (a range test's sweeps, or epochs before a divergence) that the budget did not cap: "
        "read its accuracy with its cost"]
    counted = results.assign(epochs=results["epochs"].where(results["strategy"] != "lr_range_test", 4))
    assert Analysis(counted).warnings() == []  # a budget in epochs counted the sweeps: no more compute than others


def test_summary_keeps_first_seen_strategy_order() -> None:
    results = frame(*[trials(task, strategy, 0, [(0, "COMPLETE", 0.5, 0.5, 1)])
                      for task, strategy in [("a", "tpe"), ("a", "random"), ("b", "random"), ("b", "tpe")]])
    order = summary(results)[["task", "strategy"]].apply(tuple, axis=1).tolist()
    assert order == [("a", "tpe"), ("a", "random"), ("b", "tpe"), ("b", "random")]


def test_accuracy_table_cells() -> None:
    table = accuracy_table(Analysis(three_seeds_and_one()))
    tpe, random = (row.to_dict() for _, row in table.cells.iterrows())
    assert tpe == {"Task": "digits-resnet", "Strategy": "tpe", "Seeds": "3", "Val. acc.": "85.0 ± 5.0",
                   "95% CI": "[72.6, 97.4]", "IQM [95% CI]": tpe["IQM [95% CI]"], "Test acc.": "70.0 ± 10.0",
                   "Δ best": "best"}
    assert tpe["IQM [95% CI]"].startswith("85.0 [80.0, ")  # the bootstrap never goes below the lowest seed
    assert random == {"Task": "digits-resnet", "Strategy": "random", "Seeds": "1†", "Val. acc.": "75.0",
                      "95% CI": "–", "IQM [95% CI]": "75.0", "Test acc.": "72.0", "Δ best": "−10.0"}
    assert table.bold_mask()[:, 3].tolist() == [True, False]


def test_markdown_bolds_the_best_and_keeps_the_note() -> None:
    text = to_markdown(accuracy_table(Analysis(three_seeds_and_one())))
    lines = text.splitlines()
    assert lines[2] == "| Task | Strategy | Seeds | Val. acc. | 95% CI | IQM [95% CI] | Test acc. | Δ best |"
    assert lines[3] == "|:---|:---|---:|---:|---:|---:|---:|---:|"
    assert lines[4].startswith("| digits-resnet | tpe | 3 | **85.0 ± 5.0** | [72.6, 97.4] |")
    assert lines[5] == "| digits-resnet | random | 1† | 75.0 | – | 75.0 | 72.0 | −10.0 |"
    assert "mean ± std (ddof = 1) over seeds" in text


def test_latex_is_booktabs_with_caption_label_and_bold_best() -> None:
    latex = to_latex(accuracy_table(Analysis(three_seeds_and_one())))
    for part in (r"\begin{table}", r"\toprule", r"\midrule", r"\bottomrule", r"\caption{Selected validation",
                 r"\label{tab:accuracy}", r"\begin{tabular}{llrrrrrr}"):
        assert part in latex
    assert r"digits-resnet & tpe & 3 & \bfseries 85.0 $\pm$ 5.0 & [72.6, 97.4] &" in latex
    assert r"digits-resnet & random & 1$^\dagger$ & 75.0 & -- & 75.0 & 72.0 & $-$10.0 \\" in latex
    assert "95\\% CI" in latex and "±" not in latex


def test_cost_table_counts_and_resources_when_measured() -> None:
    results = three_seeds_and_one().assign(device_seconds=360.0, energy_joules=3.6e5)
    results.loc[results["strategy"] == "random", "strategy_note"] = "grid of 4 points; a random 1 run"
    table = cost_table(Analysis(results))
    tpe = table.cells.set_index("Strategy").loc["tpe"]
    assert tpe[["Trials/cell", "Completed", "Pruned", "Failed", "Epochs/cell", "Seconds/cell"]].tolist() == [
        "2", "4", "1", "1", "6.3", "3.2"]
    assert tpe["Device-hours"] == "0.600" and tpe["kWh"] == "0.600"  # 6 trials x 360 s; 6 x 0.1 kWh
    assert table.cells.set_index("Strategy").loc["random", "Note"] == "grid of 4 points; a random 1 run"
    unmeasured = cost_table(Analysis(results.assign(energy_joules=NAN))).cells
    assert unmeasured["kWh"].tolist() == ["–", "–"]  # nothing measured is not zero
    short = cost_table(Analysis(results.assign(device_seconds=1.0))).cells.set_index("Strategy")
    assert short.loc["tpe", "Device-hours"] == "0.00167"  # 6 s of a CPU, not 0.002


@pytest.mark.parametrize(("value", "shown"), [(0.6, "0.600"), (12.34, "12.3"), (1234.4, "1234"),
                                              (0.00138889, "0.00139"), (0.0, "0"), (NAN, "–")])
def test_resources_print_three_significant_figures(value, shown) -> None:
    assert significant(value) == shown


def test_cost_table_shows_compile_seconds_per_cell_when_a_trial_compiled() -> None:
    results = three_seeds_and_one().assign(compile_seconds=NAN)
    results.loc[results["strategy"] == "tpe", "compile_seconds"] = 2.0
    cells = cost_table(Analysis(results)).cells.set_index("Strategy")
    assert cells.loc["tpe", "Compile s/cell"] == "4.0"  # two trials per cell, 2 s each
    assert cells.loc["random", "Compile s/cell"] == "–"  # nothing compiled is not zero
    assert "Compile s/cell" not in cost_table(Analysis(results.assign(compile_seconds=NAN))).cells


def test_best_configuration_per_task() -> None:
    results = three_seeds_and_one().assign(param_optimizer="sgd")
    table = best_config_table(Analysis(results))
    row = table.cells.iloc[0].to_dict()
    assert row == {"Task": "digits-resnet", "Strategy": "tpe", "Seed": "0", "Trial": "0", "Val. acc.": "90.0",
                   "Test acc.": "70.0", "Configuration": "lr=0.1, optimizer=sgd"}


def test_no_mean_rank_without_a_problem_every_strategy_ran() -> None:
    """a ran seed 0 only, b seed 1 only: nothing to rank them on, shown as "–" (never "nan") in the table."""
    results = frame(trials("t", "a", 0, [(0, "COMPLETE", 0.5, 0.5, 1)]),
                    trials("t", "b", 1, [(0, "COMPLETE", 0.6, 0.5, 1)]))
    table = rank_table(Analysis(results))
    assert table.cells[["Mean rank", "Profile area"]].to_numpy().tolist() == [["–", "–"], ["–", "–"]]
    assert "No test: 0 problem(s) with every strategy" in table.note
