"""Statistics of the report against values known from textbooks or worked by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from reports_frames import (
    NAN,
    all_tied,
    frame,
    friedman_short_of_rejecting,
    swap_val_and_test,
    textbook_friedman,
    trials,
)
from scipy import stats

from reports import Analysis, anytime_frame, cell_summary
from reports.anytime import spent_to_reach
from reports.expected_max import expected_max, expected_max_frame
from reports.figures.search import anytime_bands
from reports.importance import importance_frame, infer_distribution
from reports.layout import accuracy_table, pairwise_table, rank_table
from reports.noise import noise_floor, split_noise_floor
from reports.profiles import area_under_profile, cost_ratios, profile
from reports.robust import iqm_with_ci
from reports.stats import TEST, VALIDATION, compare_strategies, critical_difference, problem_matrix

DEMSAR_Q_005_K3 = 2.343  # Demšar (2006), Table 5(a): Nemenyi's q_0.05 for three classifiers


def test_friedman_on_the_textbook_example() -> None:
    result = compare_strategies(cell_summary(textbook_friedman()))
    assert result.test == "Friedman" and result.problems == 7 and result.dropped == 0
    assert result.statistic == pytest.approx(74 / 7)
    assert result.p_value == pytest.approx(math.exp(-37 / 7))  # χ² with 2 degrees of freedom
    assert result.mean_ranks.to_dict() == pytest.approx({"after": 1.0, "later": 17 / 7, "before": 18 / 7})
    assert list(result.mean_ranks.index) == ["after", "later", "before"]  # best first


def test_nemenyi_critical_difference_and_pairs() -> None:
    result = compare_strategies(cell_summary(textbook_friedman()))
    assert result.critical_difference == pytest.approx(DEMSAR_Q_005_K3 * math.sqrt(3 * 4 / (6 * 7)), rel=1e-3)
    assert critical_difference(3, 7) == pytest.approx(result.critical_difference)
    p = result.pairwise
    # mean-rank gaps 18/7 − 1 = 1.57 and 17/7 − 1 = 1.43 exceed the CD of 1.25; 1/7 does not
    assert p.loc["before", "after"] < 0.05 and p.loc["later", "after"] < 0.05
    assert p.loc["before", "later"] > 0.05
    assert np.allclose(p.to_numpy(), p.to_numpy().T)


def test_wilcoxon_for_two_strategies() -> None:
    """Six problems where a beats b every time: the exact two-sided p is 2 / 2⁶."""
    results = frame(*[trials("task", name, seed, [(0, "COMPLETE", base + 0.01 * seed, 0.5, 1)])
                      for name, base in (("a", 0.8), ("b", 0.5)) for seed in range(6)])
    result = compare_strategies(cell_summary(results))
    assert result.test == "Wilcoxon signed-rank" and result.problems == 6
    assert result.p_value == pytest.approx(2 / 2**6)
    assert result.mean_ranks.to_dict() == {"a": 1.0, "b": 2.0}


def test_wilcoxon_says_what_it_tested_and_how_many_ties_it_left_out() -> None:
    """Differences +.3, −.1 and 0 (as in a run where both strategies' first trial was the best of a seed): scipy
    drops the tie, so W = 1 over two differences with p = 1. Wilcoxon tests the accuracies, not the mean ranks."""
    results = frame(*[trials("task", name, seed, [(0, "COMPLETE", value, 0.5, 1)])
                      for name, values in (("a", [0.9, 0.6, 0.95]), ("b", [0.6, 0.7, 0.95]))
                      for seed, value in enumerate(values)])
    result = compare_strategies(cell_summary(results))
    expected = stats.wilcoxon([0.9, 0.6, 0.95], [0.6, 0.7, 0.95])
    assert (result.statistic, result.p_value) == pytest.approx((expected.statistic, expected.pvalue))
    assert result.describe() == ("Wilcoxon signed-rank: statistic 1.000, p = 1 over N = 3 (task, seed) problems, 1 of "
                                 "them tied and left out by the test; the two strategies' validation accuracies do "
                                 "not differ significantly at α = 0.05.")


def test_rank_tests_on_test_accuracy_are_the_validation_tests_on_the_other_column() -> None:
    """The textbook accuracies as test accuracies, every validation accuracy tied: on test, Friedman's χ² is 74/7
    and the mean ranks are the textbook's; on validation, every strategy ties."""
    results = swap_val_and_test(textbook_friedman())
    on_test = compare_strategies(cell_summary(results), TEST)
    assert on_test.test == "Friedman" and on_test.statistic == pytest.approx(74 / 7)
    assert on_test.p_value == pytest.approx(math.exp(-37 / 7))
    assert on_test.mean_ranks.to_dict() == pytest.approx({"after": 1.0, "later": 17 / 7, "before": 18 / 7})
    assert math.isnan(compare_strategies(cell_summary(results)).p_value)  # validation: all tied


def test_on_test_accuracy_a_strategy_that_overfits_validation_loses() -> None:
    """a beats b on validation on six seeds and loses on test on each: Wilcoxon's exact p is 2 / 2⁶ both ways,
    the ranks swap. a's second trial has the best test accuracy of all, but validation did not select it."""
    results = frame(*[trials("task", "a", seed, [(0, "COMPLETE", 0.9, 0.6 - 0.01 * seed, 1),
                                                 (1, "COMPLETE", 0.5, 0.99, 1)]) for seed in range(6)],
                    *[trials("task", "b", seed, [(0, "COMPLETE", 0.8, 0.7, 1)]) for seed in range(6)])
    on_validation, on_test = (compare_strategies(cell_summary(results), metric) for metric in (VALIDATION, TEST))
    assert on_validation.mean_ranks.to_dict() == {"a": 1.0, "b": 2.0}
    assert on_test.mean_ranks.to_dict() == {"b": 1.0, "a": 2.0}
    assert on_test.p_value == pytest.approx(2 / 2**6)
    assert on_test.describe().endswith("the two strategies' test accuracies differ at α = 0.05.")


def test_on_test_a_selected_trial_without_test_accuracy_ranks_last_as_a_cell_without_result() -> None:
    results = frame(
        trials("t", "a", 0, [(0, "COMPLETE", 0.9, NAN, 1)]),  # selected, but no test accuracy was recorded
        trials("t", "b", 0, [(0, "FAIL", NAN, NAN, 1)]),  # nothing selected
        trials("t", "c", 0, [(0, "COMPLETE", 0.4, 0.3, 1)]),
    )
    matrix, dropped = problem_matrix(cell_summary(results), TEST)
    assert dropped == 0 and matrix.iloc[0].to_dict() == {"a": 0.0, "b": 0.0, "c": 0.3}
    assert compare_strategies(cell_summary(results), TEST).mean_ranks.to_dict() == {"c": 1.0, "a": 2.5, "b": 2.5}
    line = "a on t, seed 0: the selected trial has no test accuracy; the rank tests on test accuracy count it last"
    assert line in Analysis(results, metric=TEST).warnings()
    assert not any("the selected trial has no" in warning for warning in Analysis(results).warnings())


def test_ranks_put_cells_without_result_last_and_drop_incomplete_problems() -> None:
    results = frame(
        trials("t", "a", 0, [(0, "COMPLETE", 0.5, 0.5, 1)]),
        trials("t", "b", 0, [(0, "FAIL", NAN, NAN, 1)]),  # ran, found nothing: ranked last
        trials("t", "c", 0, [(0, "COMPLETE", 0.4, 0.5, 1)]),
        trials("t", "a", 1, [(0, "COMPLETE", 0.5, 0.5, 1)]),  # seed 1 lacks b and c: not a complete problem
    )
    matrix, dropped = problem_matrix(cell_summary(results))
    assert dropped == 1 and matrix.shape == (1, 3)
    result = compare_strategies(cell_summary(results))
    assert result.mean_ranks.to_dict() == {"a": 1.0, "c": 2.0, "b": 3.0}
    assert result.test == ""  # one problem: nothing to test
    assert "No test" in result.describe()


def test_friedman_is_undefined_when_every_strategy_ties_on_every_problem() -> None:
    result = compare_strategies(cell_summary(all_tied()))
    assert result.describe() == ("Friedman: undefined, for every strategy has the same rank on each of the N = 3 "
                                 "(task, seed) problems (all tied): there is no difference to test.")
    assert result.test == "Friedman" and result.pairwise is None and not result.rejected


def test_pairwise_verdicts_wait_for_friedman_to_reject() -> None:
    """Demšar (2006): with Friedman's p = .0503, Nemenyi's p = .031 for (s0, s2) calls neither better."""
    analysis = Analysis(friedman_short_of_rejecting())
    assert analysis.ranks.p_value == pytest.approx(0.0503, abs=1e-4)
    table = pairwise_table(analysis)
    pair = table.data.set_index(["a", "b"]).loc[("s0", "s2")]
    assert pair["p_value"] < 0.05 and pair["verdict"] == "none: Friedman did not reject"
    assert not any("better" in verdict for verdict in table.data["verdict"]) and not table.bold_mask().any()
    assert "Friedman's test did not reject at α = 0.05 (p = 0.0503)" in table.note
    assert not analysis.ranks.rejected


def test_iqm_and_its_bootstrap_interval() -> None:
    point, low, high = iqm_with_ci(np.array([0.1, 0.2, 0.3, 0.4]))
    assert point == pytest.approx(0.25)  # mean of the middle two
    assert 0.1 <= low < point < high <= 0.4
    assert iqm_with_ci(np.array([0.1, 0.2, 0.3, 0.4])) == (point, low, high)  # seeded: reproducible
    assert math.isnan(iqm_with_ci(np.array([0.7]))[1])


def test_expected_max_exact_formula() -> None:
    mean, var = expected_max(np.array([0.8, 0.2, 0.5]), np.array([1, 2, 50]))
    assert mean[0] == pytest.approx(0.5) and var[0] == pytest.approx(0.06)  # (.04 + .25 + .64)/3 − .25
    assert mean[1] == pytest.approx((0.2 * 1 + 0.5 * 3 + 0.8 * 5) / 9)  # P(max = v(i)) = (i² − (i−1)²)/9
    assert mean[2] == pytest.approx(0.8, abs=1e-6) and var[2] == pytest.approx(0.0, abs=1e-6)


def test_expected_max_counts_pruned_trials_at_their_last_value_and_failed_ones_as_nothing() -> None:
    """Draws .8, .2 (pruned), .5 and a failure (0), seeds pooled: E[max of 1] = 1.5/4, of 2 (.2·3 + .5·5 + .8·7)/16.

    Credited with its COMPLETE trials alone, this pruner would read .65 after one trial.
    """
    results = frame(trials("t", "asha", 0, [(0, "COMPLETE", 0.8, 0.2, 2), (1, "PRUNED", 0.2, NAN, 1)]),
                    trials("t", "asha", 1, [(0, "COMPLETE", 0.5, 0.2, 2), (1, "FAIL", NAN, NAN, 1)]))
    curve = expected_max_frame(results)
    assert curve["n_trials"].tolist() == [1, 2]
    assert curve["expected_max"].tolist() == pytest.approx([1.5 / 4, 8.7 / 16])


def test_expected_max_band_stays_within_zero_and_one() -> None:
    """.99 three times and .1 once: E[max of 1] = .7675 with std .89·√3/4 = .385, so mean + std is past 1."""
    results = frame(trials("t", "random", 0, [(i, "COMPLETE", v, 0.5, 1) for i, v in enumerate([0.99] * 3 + [0.1])]))
    first = expected_max_frame(results).iloc[0]
    assert first["std"] == pytest.approx(0.89 * math.sqrt(3) / 4)
    assert first["high"] == 1.0 and first["low"] == pytest.approx(first["expected_max"] - first["std"])


def test_anytime_is_by_budget_spent_not_trial_index() -> None:
    """Cumulative epochs 1, 3, 4, 7, 9; best so far: none, .5, .5, .5, .7 (listed out of trial order)."""
    cell = trials("t", "tpe", 0, [(3, "COMPLETE", 0.40, 0.9, 3), (0, "FAIL", NAN, NAN, 1),
                                  (4, "COMPLETE", 0.70, 0.6, 2), (1, "COMPLETE", 0.50, 0.5, 2),
                                  (2, "PRUNED", NAN, NAN, 1)])
    longer = trials("t", "tpe", 1, [(0, "COMPLETE", 0.60, 0.6, 12)])
    curve = anytime_frame(frame(cell, longer))
    seed0 = curve[curve["seed"] == 0].set_index("epochs_spent")["best_val_accuracy"]
    expected = {3: 0.5, 4: 0.5, 5: 0.5, 6: 0.5, 7: 0.5, 8: 0.5, 9: 0.7, 10: 0.7, 11: 0.7, 12: 0.7}
    assert seed0.to_dict() == pytest.approx(expected)
    by_seconds = anytime_frame(frame(cell), by="seconds")  # 0.5 s an epoch: 4.5 s in all
    assert by_seconds["seconds_spent"].max() == pytest.approx(4.5)
    assert by_seconds.set_index("seconds_spent")["best_val_accuracy"].loc[4.5] == pytest.approx(0.7)
    assert by_seconds["seconds_spent"].min() == pytest.approx(1.53)  # the first grid point at or after 1.5 s


def test_best_so_far_by_epochs_ends_at_a_fractional_last_epoch() -> None:
    """A range test's half-epoch sweep before each one-epoch trial: 1.5, 3 and 4.5 epochs spent. The .9 found
    last ends the curve, as it ends the accuracy table; whole epochs alone would stop at 4 and .6."""
    results = frame(trials("t", "lr_range", 0, [(i, "COMPLETE", v, 0.5, 1.5) for i, v in enumerate([0.5, 0.6, 0.9])]))
    curve = anytime_frame(results).set_index("epochs_spent")["best_val_accuracy"]
    assert curve.to_dict() == pytest.approx({2: 0.5, 3: 0.6, 4: 0.6, 4.5: 0.9})


def test_best_so_far_mean_starts_once_every_seed_has_a_value_and_never_falls() -> None:
    """Seed 0 finds .95 after 2 epochs; seed 1 fails an epoch, then finds .85 (3 epochs spent) and .90 (5).

    Averaging only the seeds with a value so far would read .95 at 2 epochs and fall to .90 at 3.
    """
    results = frame(trials("t", "random", 0, [(0, "COMPLETE", 0.95, 0.5, 2)]),
                    trials("t", "random", 1, [(0, "FAIL", NAN, NAN, 1), (1, "COMPLETE", 0.85, 0.5, 2),
                                              (2, "COMPLETE", 0.90, 0.5, 2)]),
                    trials("t", "random", 2, [(0, "FAIL", NAN, NAN, 1)]),  # no result: left out, as in the tables
                    trials("t", "grid", 0, [(0, "COMPLETE", 0.70, 0.5, 5)]))
    bands = anytime_bands(anytime_frame(results), "epochs_spent")
    random = bands[bands["strategy"] == "random"].set_index("epochs_spent")
    assert random["mean"].to_dict() == pytest.approx({3: 0.90, 4: 0.90, 5: 0.925})
    assert random["high"].max() == 1.0 and random["low"].min() >= 0.0
    grid = bands[bands["strategy"] == "grid"]
    assert grid["mean"].tolist() == [0.70] and grid[["low", "high"]].isna().all(axis=None)  # one seed: no band


def performance_problem() -> pd.DataFrame:
    """a reaches .9 in 4 epochs; b reaches it after 8; c never gets past .5 (target .99 x .9)."""
    return frame(trials("t", "a", 0, [(0, "COMPLETE", 0.90, 0.5, 4)]),
                 trials("t", "b", 0, [(0, "COMPLETE", 0.50, 0.5, 4), (1, "COMPLETE", 0.90, 0.5, 4)]),
                 trials("t", "c", 0, [(0, "COMPLETE", 0.50, 0.5, 4), (1, "COMPLETE", 0.50, 0.5, 4)]))


def test_performance_profile_ratios_and_area() -> None:
    results = performance_problem()
    spent = spent_to_reach(results, pd.Series({("t", 0): 0.891}))
    assert spent.to_dict() == {("t", "a", 0): 4, ("t", "b", 0): 8, ("t", "c", 0): math.inf}
    ratios = cost_ratios(results)
    assert ratios.iloc[0].to_dict() == {"a": 1.0, "b": 2.0, "c": math.inf}
    assert area_under_profile(ratios).to_dict() == pytest.approx({"a": 1.0, "b": 2 / 3, "c": 0.0})
    rho = profile(ratios, np.array([1.0, 1.5, 2.0]))
    assert rho["b"].tolist() == [0.0, 0.0, 1.0] and rho["a"].tolist() == [1.0, 1.0, 1.0]


def noise_run() -> pd.DataFrame:
    """Two strategies .02 apart on t; the default re-trained 3 times: val .80, .83, .86 (std .03, range .06)."""
    return frame(*[trials("t", s, seed, [(0, "COMPLETE", v + 0.001 * seed, 0.5, 1)])
                   for s, v in (("tpe", 0.85), ("random", 0.83)) for seed in range(3)],
                 trials("t", "noise-floor", 0, [(i, "COMPLETE", v, 0.5, 1) for i, v in enumerate([0.8, 0.83, 0.86])]))


def test_noise_floor_is_split_off_and_measured() -> None:
    contest, noise = split_noise_floor(noise_run())
    assert set(contest["strategy"]) == {"tpe", "random"} and len(noise) == 3
    floor = noise_floor(noise).iloc[0]
    assert floor["trainings"] == 3 and floor["failed"] == 0
    assert floor["val_std"] == pytest.approx(0.03) and floor["val_range"] == pytest.approx(0.06)


def test_differences_inside_the_noise_are_never_wins() -> None:
    analysis = Analysis(noise_run())
    gaps = analysis.gaps.set_index("strategy")
    assert gaps.loc["random", "gap_to_best"] == pytest.approx(0.02) and gaps.loc["random", "within_noise"]
    accuracy = analysis.summary.set_index("strategy")
    assert accuracy.loc["tpe", "val_mean"] > accuracy.loc["random", "val_mean"]
    assert analysis.ranks.mean_ranks.to_dict() == {"tpe": 1.0, "random": 2.0}
    table = accuracy_table(analysis)
    assert table.cells["Δ best"].tolist() == ["best", "−2.0 ≈"]
    assert table.bold_mask()[:, 3].tolist() == [True, True]  # both shown as best: the gap is noise


def test_pairwise_verdict_inside_noise() -> None:
    """Ranks 1, 2, 3 on each of 3 seeds: Friedman's χ² = 6, p = e⁻³ = .0498, rejects; the mean-rank gap of 2
    between tpe and grid exceeds the critical difference of 1.91 (Nemenyi's p = .038), the gaps of 1 do not."""
    results = pd.concat([noise_run(), frame(*[trials("t", "grid", seed, [(0, "COMPLETE", 0.5, 0.5, 1)])
                                              for seed in range(3)])], ignore_index=True)
    analysis = Analysis(results)
    assert analysis.ranks.rejected and analysis.ranks.p_value == pytest.approx(math.exp(-3))
    table = pairwise_table(analysis).data.set_index(["a", "b"])
    assert table["verdict"].to_dict() == {("tpe", "random"): "within seed noise", ("tpe", "grid"): "tpe better",
                                          ("random", "grid"): "no significant difference"}
    assert table.loc[("tpe", "grid"), "p_value"] < 0.05 < table.loc[("random", "grid"), "p_value"]


def test_pairwise_verdicts_on_test_accuracy_weigh_the_test_accuracy_noise() -> None:
    """The frame above with validation and test exchanged: every validation accuracy is .5 (nothing to test), and
    on test the verdicts are those above, tpe and random within the noise floor's test accuracy std of .03."""
    grid = frame(*[trials("t", "grid", seed, [(0, "COMPLETE", 0.5, 0.5, 1)]) for seed in range(3)])
    results = swap_val_and_test(pd.concat([noise_run(), grid], ignore_index=True))
    assert pairwise_table(Analysis(results)) is None
    table = pairwise_table(Analysis(results, metric=TEST))
    assert table.data.set_index(["a", "b"])["verdict"].to_dict() == {
        ("tpe", "random"): "within seed noise", ("tpe", "grid"): "tpe better",
        ("random", "grid"): "no significant difference"}
    assert table.caption == "Pairwise post-hoc tests (Nemenyi) of test accuracy"
    assert "mean test accuracies differ by at most the noise floor's std of test accuracy" in table.note
    ranks = rank_table(Analysis(results, metric=TEST))
    assert ranks.caption == "Mean rank of test accuracy over (task, seed) problems"
    assert "Rank 1 is the best test accuracy (of the trial validation selected) on a problem" in ranks.note


def test_fanova_importance_from_the_frame() -> None:
    rng = np.random.default_rng(0)
    lr = 10 ** rng.uniform(-4, -1, 24)
    rows = [{"task": "t", "strategy": "random", "seed": 0, "trial": i, "state": "COMPLETE",
             "val_accuracy": 1 - abs(np.log10(lr[i]) + 2.5) / 3, "param_lr": lr[i],
             "param_width": int(rng.choice([8, 16])), "param_fixed": 0.1} for i in range(24)]
    importance = importance_frame(pd.DataFrame(rows)).set_index("parameter")["importance"]
    assert set(importance.index) == {"lr", "width"}  # a parameter that never varied has no importance
    assert importance["lr"] > 0.8 and importance.sum() == pytest.approx(1.0)


def test_a_rate_whose_range_follows_the_optimizer_is_weighed_by_its_position_in_that_range() -> None:
    """SGD searches 1e-2..0.3 and Adam 1e-3..1e-2; accuracy follows the optimizer alone. Read as values, the rate
    told the optimizers apart as well as `optimizer` did and took 37% of the importance."""
    rng = np.random.default_rng(0)
    ranges = {"sgd": (-2.0, np.log10(0.3)), "adam": (-3.0, -2.0)}
    rows = []
    for i in range(32):
        optimizer, position = ("sgd", "adam")[i % 2], rng.uniform()
        low, high = ranges[optimizer]
        rows.append({"task": "t", "strategy": "random", "seed": 0, "trial": i, "state": "COMPLETE",
                     "val_accuracy": {"sgd": 0.9, "adam": 0.5}[optimizer] + 0.01 * rng.uniform(),
                     "param_optimizer": optimizer, "param_lr": 10 ** (low + position * (high - low)),
                     "position_lr": position})
    importance = importance_frame(pd.DataFrame(rows)).set_index("parameter")["importance"]
    assert importance["optimizer"] > 0.99 and importance["lr"] < 0.01


def test_importance_of_a_boolean_parameter_without_optuna_warnings() -> None:
    rows = [{"task": "t", "strategy": "random", "seed": 0, "trial": i, "state": "COMPLETE",
             "val_accuracy": 0.5 + 0.4 * (i % 2) + 0.01 * (i % 3), "param_bidirectional": bool(i % 2),
             "param_width": 8 * (1 + i % 3)} for i in range(12)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy booleans as choices made Optuna warn in every report
        importance = importance_frame(pd.DataFrame(rows)).set_index("parameter")["importance"]
    assert importance["bidirectional"] > importance["width"]


def test_no_importance_when_every_trial_reached_the_same_accuracy() -> None:
    rows = [{"task": "t", "strategy": "random", "seed": 0, "trial": i, "state": "COMPLETE", "val_accuracy": 0.25,
             "param_lr": 10.0 ** -i} for i in range(1, 4)]  # chance level whatever the learning rate
    assert importance_frame(pd.DataFrame(rows)).empty


def test_distributions_inferred_from_values() -> None:
    assert infer_distribution(pd.Series([1e-4, 1e-2, 1e-1])).log
    assert not infer_distribution(pd.Series([0.1, 0.5, 0.9])).log
    assert infer_distribution(pd.Series([8, 16, 32])).__class__.__name__ == "IntDistribution"
    assert infer_distribution(pd.Series(["sgd", "adam"])).choices == ("adam", "sgd")
    assert infer_distribution(pd.Series([0.9, 0.9, NAN])) is None
