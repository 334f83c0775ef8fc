"""Contract over every registered strategy, on a synthetic objective: no training at all."""

from __future__ import annotations

import math
import time
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from pydantic import ValidationError
from conftest import tiny_spec
from synthetic import SPACE, run_strategy

from harness.budget import Budget
from harness.errors import SpecError
from harness.executor import AsSearched, enqueue_planned
from harness.plan import build_plan
from harness.spec import parse_spec
from harness.optim import optimizers, schedules, training_space
from harness.plugins import load_builtins
from harness.positions import INTERRUPTED_KEY
from harness.space import Choice, Space, config_key
from harness.strategy import strategies
from harness.task import tasks
from strategies.coarse_to_fine import region, shrink
from strategies.fixed import RECIPES, nearest_allowed, recipe

BUDGET = Budget(trials=12, epochs=2)  # two epochs, so a pruner has an epoch to stop a trial after
FIXED_CONFIGS = ("manual", "lr_range_test")  # their configurations do not depend on the seed


@pytest.mark.parametrize("name", strategies.names())
def test_strategy_spends_exactly_the_budget_inside_the_space(name):
    trials = run_strategy(name, seed=0, budget=BUDGET)
    assert len(trials) == BUDGET.trials
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}
    for trial in trials:
        assert SPACE.complete(trial.params) == trial.params  # every value allowed, every active parameter set, no other


@pytest.mark.parametrize("name", strategies.names())
def test_strategy_is_deterministic_under_its_seed(name):
    assert [t.params for t in run_strategy(name, 1, BUDGET)] == [t.params for t in run_strategy(name, 1, BUDGET)]


@pytest.mark.parametrize("name", [n for n in strategies.names() if n not in FIXED_CONFIGS])
def test_strategy_draws_differently_under_another_seed(name):
    assert [t.params for t in run_strategy(name, 1, BUDGET)] != [t.params for t in run_strategy(name, 2, BUDGET)]


@pytest.mark.parametrize("name", strategies.names())
def test_strategy_has_help_and_a_label(name):
    entry = strategies.entry(name)
    assert entry.help and entry.obj().label == name


def test_grid_subset_is_random_not_a_prefix_and_never_repeats():
    full = SPACE.grid(3)
    chosen = [t.params for t in run_strategy("grid", seed=0, budget=BUDGET)]
    assert len(full) > BUDGET.trials and len({tuple(sorted(c.items())) for c in chosen}) == BUDGET.trials
    assert chosen != full[:BUDGET.trials]


def test_grid_search_on_a_text_task_picks_its_points_without_building_the_full_factorial():
    load_builtins()
    space = tasks.get("listops")().space()
    plan = strategies.get("grid")(resolution=4).plan(space, BUDGET, 0)  # the full factorial once took 7 minutes
    assert "grid of 29859840 points" in plan.note and len({str(sorted(c.items())) for c in plan.configs}) == 12
    for config in plan.configs:
        space.complete(config)  # raises for a point outside the space


def test_grid_covers_every_point_and_says_so_when_smaller_than_the_budget():
    full = SPACE.grid(2)
    budget = Budget(trials=len(full) + 3, epochs=1)
    plan = strategies.get("grid")(resolution=2).plan(SPACE, budget, 0)
    assert f"grid of {len(full)} points" in plan.note and "smaller than the budget" in plan.note
    ran = [t.params for t in run_strategy("grid", 0, budget, resolution=2)]
    assert sorted(map(str, ran[:len(full)])) == sorted(map(str, full))  # each point once, then repeats
    assert ran[len(full):] == ran[:3]


def test_grid_has_no_meaningless_points_for_conditional_schedule_arguments():
    grid = SPACE.grid(2)
    assert all(("step_gamma" in c) == (c["schedule"] == "step") for c in grid)
    assert all(("momentum" in c) == (c["optimizer"] == "sgd") for c in grid)
    assert len(grid) == len({str(sorted(c.items())) for c in grid})


def test_manual_gives_one_recipe_per_optimizer_family_moved_into_the_space():
    space = Space(training_space(lr=(1e-4, 1e-2, 2e-3), optimizer_choices=("sgd", "adam", "adamw"),
                                 schedule_choices=("constant", "cosine")))
    configs = strategies.get("manual")().plan(space, BUDGET, 0).configs
    assert [c["optimizer"] for c in configs] == ["adam", "sgd", "adamw"]  # the space's default first
    adam, sgd, adamw = configs
    assert sgd["lr"] == 1e-2 and sgd["momentum"] == RECIPES["sgd"]["momentum"] and sgd["schedule"] == "cosine"
    assert adam["lr"] == RECIPES["adam"]["lr"] and adam["weight_decay"] == 1e-6  # L2 off: the lowest allowed
    assert adamw["schedule"] == space["schedule"].default  # warmup_cosine is not offered by this task
    assert adamw["decoupled_decay"] == RECIPES["adamw"]["decoupled_decay"] == 1e-2 and "weight_decay" not in adamw
    assert all("momentum" not in c for c in (adam, adamw)) and all("decoupled_decay" not in c for c in (adam, sgd))


def test_the_range_test_note_says_a_budget_in_trials_does_not_cap_its_sweeps():
    load_builtins()
    range_test, space = strategies.get("lr_range_test")(), tasks.get("digits")().space()
    uncapped = "a budget in trials does not cap the sweeps (a budget in total_epochs does)"
    assert uncapped in range_test.plan(space, Budget(trials=4, epochs=2), 0).note
    assert uncapped not in range_test.plan(space, Budget(total_epochs=8, epochs=2), 0).note


def test_manual_says_in_its_note_each_recipe_value_the_space_does_not_allow():
    """AdamW's warm-up once trained as cosine under a note naming the recipes. (Its decoupled weight decay 1e-2 also
    trained as 1e-3, the top of the L2 decay's range, until it became a parameter of its own.)"""
    load_builtins()
    manual, range_test = strategies.get("manual")(), strategies.get("lr_range_test")()
    note = manual.plan(tasks.get("digits")().space(), BUDGET, 0).note
    assert "adamw schedule 'warmup_cosine' -> 'cosine' (allowed: 'constant', 'cosine')" in note
    assert "adamw weight_decay" not in note and "adamw decoupled_decay" not in note  # AdamW's recipe decay trains
    assert "sgd " not in note.split("does not allow")[1]  # SGD's recipe fits this space
    transformer = tasks.get("listops")(model_family="transformer").space()
    assert "sgd lr" not in manual.plan(transformer, BUDGET, 0).note  # SGD's own range holds its recipe's 0.1
    narrowed = transformer.override({"lr": {"sgd": {"high": 3e-2}}})  # a spec's range for SGD
    assert "sgd lr 0.1 -> 0.03 (allowed: 0.001..0.03 with optimizer sgd)" in manual.plan(narrowed, BUDGET, 0).note
    assert "lr 0.1" not in range_test.plan(transformer, BUDGET, 0).note  # the range test picks every lr
    fixed = manual.plan(transformer.override({"lr": 1e-3}), BUDGET, 0).note  # a spec's override
    assert "sgd lr 0.1 -> 0.001 (allowed: 0.001 (fixed))" in fixed


def test_manual_takes_the_nearest_choice_for_a_recipe_value_a_spec_s_choices_lack_and_says_what_trained():
    """A recipe value missing from a spec's choices once trained as the space's default: SGD's momentum 0.9 among
    0.5 and 0.95 as 0.5."""
    load_builtins()
    space = tasks.get("digits")().space().override({"lr": [0.01, 0.03], "momentum": [0.5, 0.95],
                                                     "weight_decay": [1e-5, 1e-3]})
    plan = strategies.get("manual")().plan(space, BUDGET, 0)
    sgd = next(c for c in plan.configs if c["optimizer"] == "sgd")
    assert (sgd["lr"], sgd["momentum"], sgd["weight_decay"]) == (0.03, 0.95, 1e-3)  # 0.1, 0.9, 5e-4 by ratio
    adam = next(c for c in plan.configs if c["optimizer"] == "adam")
    assert adam["weight_decay"] == 1e-5  # L2 off (0): the smallest, by difference
    assert "sgd lr 0.1 -> 0.03 (allowed: 0.01, 0.03); sgd momentum 0.9 -> 0.95 (allowed: 0.5, 0.95)" in plan.note
    assert "adam weight_decay 0.0 -> 1e-05 (allowed: 1e-05, 0.001)" in plan.note
    batch_sizes = Choice(default=32, choices=(32, 256))
    assert nearest_allowed(batch_sizes, 128) == 256 and nearest_allowed(batch_sizes, 60.0) == 32
    assert nearest_allowed(Choice(default="cosine", choices=("constant", "cosine")), "warmup_cosine") is None


def test_an_optimizer_without_a_recipe_trains_at_its_registered_lr_and_the_note_says_so():
    """Adadelta once took the task's default lr, 0.01, a hundredth of its rate, and stayed at chance."""
    load_builtins()
    plan = strategies.get("manual")().plan(tasks.get("cifar10")().space(), BUDGET, 0)  # offers every optimizer
    lrs = {c["optimizer"]: c["lr"] for c in plan.configs}
    assert {name: lrs[name] for name in optimizers.names() if name not in RECIPES} == {
        "adadelta": 1.0, "adagrad": 1e-2, "adamax": 2e-3, "nadam": 2e-3}  # each one's registered default
    assert "no published recipe for adadelta, adagrad, adamax, nadam: the optimizer's registered lr" in plan.note
    digits = tasks.get("digits")().space().override({"optimizer": ["adadelta", "sgdd"],  # the spec check names sgdd
                                                      "lr": {"adadelta": {"high": 0.3}}})
    note = strategies.get("manual")().plan(digits, BUDGET, 0).note
    assert "adadelta lr 1.0 -> 0.3 (allowed: 0.1..0.3 with optimizer adadelta)" in note


def test_manual_runs_the_default_optimizer_first_and_says_when_the_budget_runs_only_some_recipes():
    """Four trials on an image task, whose choices are every optimizer in alphabetical order, once ran Adadelta,
    Adagrad, Adam and Adamax and never SGD, under a note that promised every recipe, repeated."""
    load_builtins()
    space, budget = tasks.get("cifar10")().space(), Budget(trials=4, epochs=1)
    ran = run_strategy("manual", 0, budget, space=space)
    assert [(t.user_attrs["config"]["optimizer"], t.user_attrs["config"]["lr"]) for t in ran] == [
        ("sgd", 0.1), ("adam", 1e-3), ("adamw", 1e-3), ("rmsprop", 1e-3)]  # then those without a recipe
    note = strategies.get("manual")().plan(space, budget, 0).note
    assert note.startswith("8 configuration(s), practitioner settings (sgd, adam, adamw, rmsprop, adadelta, ")
    assert "nadam), only the first 4 run;" in note
    assert "only the first 4 run if every trial runs in full;" in strategies.get("manual")().plan(
        space, Budget(total_epochs=8, epochs=2), 0).note


def test_every_recipe_setting_is_a_parameter_of_a_space_offering_every_optimizer():
    """A setting the space lacks never reaches the trainer (RMSprop's alpha 0.9 once trained at 0.99)."""
    space = Space(training_space(optimizer_choices=tuple(optimizers.names()),
                                 schedule_choices=tuple(schedules.names())))
    for optimizer, settings in RECIPES.items():
        assert set(settings) <= set(space.complete(recipe(space, optimizer))), optimizer


def test_manual_repeats_the_spec_configurations_to_fill_the_budget():
    plan = strategies.get("manual")(configs=[{"optimizer": "sgd", "lr": 0.1}, {}]).plan(SPACE, BUDGET, 0)
    assert plan.configs == ({"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "schedule": "constant", "width": 16},
                            {"optimizer": "adam", "lr": 1e-2, "schedule": "constant", "width": 16})
    ran = run_strategy("manual", 0, Budget(trials=4, epochs=1), configs=[{"optimizer": "sgd", "lr": 0.1}, {}])
    assert [t.params["optimizer"] for t in ran] == ["sgd", "adam", "sgd", "adam"]


def test_fixed_configurations_keep_cycling_under_a_budget_in_seconds():
    budget = Budget(seconds=0.1, epochs=2)
    ran = run_strategy("manual", 0, budget, seconds_per_epoch=0.005)
    planned = strategies.get("manual")().plan(SPACE, budget, 0).configs
    assert len(ran) > 2 * len(planned)
    assert [t.params for t in ran] == [planned[i % len(planned)] for i in range(len(ran))]


def test_fixed_configurations_are_queued_while_other_workers_run_the_whole_cycle():
    budget = Budget(total_epochs=12, epochs=2)
    plan = strategies.get("manual")().plan(SPACE, budget, 0)
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), sampler=plan.sampler)
    for _ in range(len(plan.configs) + 1):  # workers claim in turn; none of their trials has ended yet
        enqueue_planned(study, AsSearched(plan.configs, SPACE), budget)
        SPACE.suggest(study.ask())
    assert [t.params for t in study.trials] == [*plan.configs, plan.configs[0]]


def test_an_epoch_budget_that_is_no_multiple_of_a_trial_runs_distinct_grid_points():
    budget = Budget(total_epochs=14, epochs=4)  # four trials start: the fourth with 2 epochs left
    plan = strategies.get("grid")().plan(SPACE, budget, 0)
    assert budget.planned_trials == len({config_key(plan.configs[i]) for i in range(4)}) == 4
    assert plan.note.endswith("run in a seeded order, 4 of them if every trial runs in full")


def test_grid_under_an_epoch_budget_gives_each_trial_that_ends_early_a_point_not_yet_run():
    """Trials that diverge in their first epoch leave epochs for more trials; they once repeated points already run
    while most of the grid never ran."""
    budget = Budget(total_epochs=20, epochs=3)
    ran = [config_key(t.params) for t in run_strategy("grid", 0, budget, resolution=3)]
    assert len(SPACE.grid(3)) > len(ran) > budget.planned_trials  # the diverging corner paid for extra trials
    assert len(set(ran)) == len(ran)


def test_grid_under_a_budget_in_seconds_draws_its_points_without_building_the_full_factorial():
    """A text task's grid of millions of points once took a minute and 5 GB to plan, and as long again before each
    trial."""
    load_builtins()
    space = tasks.get("listops")().space()
    started = time.perf_counter()
    ran = run_strategy("grid", 0, Budget(seconds=0.05, epochs=1), seconds_per_epoch=0.02, space=space)
    assert time.perf_counter() - started < 10
    assert "grid of 4723920 points at resolution 3, run in a seeded order" in strategies.get("grid")().plan(
        space, Budget(seconds=0.05, epochs=1), 0).note
    assert len(ran) >= 3 and len({config_key(t.params) for t in ran}) == len(ran)


def test_shrink_keeps_the_span_of_the_best_padded_on_the_log_scale():
    lr = shrink(FloatDistribution(1e-4, 1.0, log=True), [1e-3, 1e-2])
    assert lr.log and lr.low == pytest.approx(10 ** -3.5) and lr.high == pytest.approx(10 ** -1.5)
    linear = shrink(FloatDistribution(0.0, 1.0), [0.5, 0.5])
    assert (linear.low, linear.high) == pytest.approx((0.4, 0.6))  # no span: a tenth of the range each side
    assert shrink(IntDistribution(8, 64, log=True), [16, 16]) == IntDistribution(12, 20, log=True)
    assert shrink(CategoricalDistribution(["sgd", "adam", "adamw"]), ["adamw", "sgd"]).choices == ("sgd", "adamw")


def test_coarse_to_fine_searches_inside_the_region_of_the_best_coarse_trials():
    budget = Budget(trials=20, epochs=1)
    trials = run_strategy("coarse_to_fine", 0, budget, coarse_fraction=0.4, top_k=3)
    coarse, fine = trials[:8], trials[8:]
    space = region(coarse, 3, optuna.study.StudyDirection.MAXIMIZE)
    assert space["lr"].high - space["lr"].low < 1.0 - 1e-4  # it did shrink
    for trial in fine:
        for name, value in trial.params.items():
            dist = space.get(name)
            if isinstance(dist, CategoricalDistribution):
                assert value in dist.choices
            elif dist is not None:
                assert dist.low <= value <= dist.high


@pytest.mark.parametrize("name", ["median", "asha", "hyperband"])
def test_multi_fidelity_stops_trials_early_and_frees_epochs(name):
    budget = Budget(total_epochs=60, epochs=9)
    trials = run_strategy(name, 0, budget, sampler="tpe")
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and all(len(t.user_attrs["curve"]) < budget.epochs for t in pruned)
    assert len(trials) > budget.planned_trials  # the saved epochs paid for more trials


@pytest.mark.parametrize("name", ["asha", "hyperband"])
def test_successive_halving_leaves_out_the_rungs_of_a_trial_an_interruption_failed(name):
    """The interrupted trial runs again at its position and reaches its rungs itself: counted too, it competed
    twice, and here it would stop a trial that the finished one alone lets go on. (Hyperband from 2 to 3 epochs
    has one bracket, so every trial competes in it.)"""
    rung = 2  # the first rung's epoch
    halving = strategies.get(name)(reduction_factor=2, min_epochs=rung)
    study = optuna.create_study(direction="maximize", pruner=halving.plan(SPACE, Budget(trials=4, epochs=3), 0).pruner)
    study.add_trial(optuna.trial.create_trial(value=0.5, intermediate_values={rung: 0.5},
                                              system_attrs={"completed_rung_0": 0.5}))
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, intermediate_values={rung: 0.9},
                                              system_attrs={"completed_rung_0": 0.9},
                                              user_attrs={INTERRUPTED_KEY: "KeyboardInterrupt"}))
    running = study.ask()
    running.report(0.7, rung)
    assert not running.should_prune()


@pytest.mark.parametrize("name, options", [("asha", {"min_epochs": 3}), ("hyperband", {"min_epochs": 3}),
                                           ("median", {"warmup_epochs": 3}), ("asha", {})])
def test_a_pruner_that_could_stop_no_trial_within_the_budget_epochs_is_refused(name, options):
    """The last epoch always finishes, so with no earlier rung the strategy would be its sampler under another name."""
    epochs = options.get("min_epochs", options.get("warmup_epochs", 1))
    with pytest.raises(ValueError, match=rf"{name} stops a trial after epoch {epochs} at the earliest, so the budget's "
                                         rf"`epochs` must be above {epochs} .* but got epochs={epochs}"):
        strategies.get(name)(**options).plan(SPACE, Budget(total_epochs=30, epochs=epochs), 0)
    assert strategies.get(name)(**options).plan(SPACE, Budget(total_epochs=30, epochs=epochs + 1), 0).pruner


def test_coarse_to_fine_whose_coarse_stage_takes_every_planned_trial_is_refused():
    with pytest.raises(SpecError, match=r"strategies\[0\] on task .*: coarse_to_fine needs a fine stage, but its "
                                        r"coarse stage of 3 random trials .* takes them all"):
        build_plan(parse_spec(tiny_spec(tasks=["digits"], strategies=["coarse_to_fine"])))  # 2 trials, top_k 3
    assert strategies.get("coarse_to_fine")().plan(SPACE, Budget(trials=4, epochs=1), 0).note.startswith(
        "3 random trials, then TPE")


@pytest.mark.parametrize("name", ["tpe", "gp", "cmaes"])
def test_a_model_based_strategy_whose_start_up_takes_every_planned_trial_is_refused(name):
    with pytest.raises(ValueError, match=rf"{name} would draw all its 12 planned trials at random: startup_trials "
                                         r"must be below them, but got startup_trials=12"):
        strategies.get(name)(startup_trials=12).plan(SPACE, BUDGET, 0)
    assert strategies.get(name)(startup_trials=11).plan(SPACE, BUDGET, 0).note.startswith("11 random start-up")


def test_median_whose_start_up_takes_every_planned_trial_is_refused():
    """The first `startup_trials` always finish: with no trial after them it would be random search under its name."""
    with pytest.raises(ValueError, match=r"median would let all its 12 planned trials finish before it stops any: "
                                         r"startup_trials must be below them, but got startup_trials=12"):
        strategies.get("median")(startup_trials=12).plan(SPACE, BUDGET, 0)
    plan = strategies.get("median")(startup_trials=11).plan(SPACE, BUDGET, 0)
    assert plan.note == "median stopping after epoch 1, once 11 trials have finished"
    assert strategies.get("median")(warmup_epochs=0).plan(SPACE, BUDGET, 0).note.startswith("median stopping after "
                                                                                             "epoch 1,")


@pytest.mark.parametrize("trials, startup", [(4, 1), (12, 4), (30, 5)])
def test_median_starts_up_with_a_third_of_the_planned_trials_by_default_at_most_optunas_five(trials, startup):
    """A fixed default of 5 refused every budget of 5 trials or fewer, where tpe's default adapts."""
    plan = strategies.get("median")().plan(SPACE, Budget(trials=trials, epochs=3), 0)
    assert plan.note.endswith(f"once {startup} trials have finished") and plan.pruner._n_startup_trials == startup


def test_multi_fidelity_label_names_its_sampler_and_unknown_samplers_are_refused():
    assert strategies.get("hyperband")(sampler="tpe").label == "tpe+hyperband"
    assert strategies.get("asha")().label == "asha"
    with pytest.raises(ValidationError, match="must name a sampler strategy"):
        strategies.get("asha")(sampler="grid")


def test_lr_range_test_sweeps_a_decade_beyond_the_space_and_refuses_a_fixed_lr():
    plan = strategies.get("lr_range_test")().plan(SPACE, BUDGET, 0)
    assert plan.lr_range_test is not None
    assert (plan.lr_range_test.min_lr, plan.lr_range_test.max_lr) == pytest.approx((1e-5, 10.0))
    with pytest.raises(ValueError, match="needs `lr` as a range"):
        strategies.get("lr_range_test")().plan(SPACE.override({"lr": 0.1}), BUDGET, 0)


def test_model_based_samplers_concentrate_where_random_does_not():
    """After their start-up, model-based proposals score better on average than random search's (sanity, 3 seeds)."""
    budget = Budget(trials=30, epochs=1)

    def later_mean(name: str, seed: int) -> float:
        values = [t.value for t in run_strategy(name, seed, budget)[budget.trials // 2:] if t.value is not None]
        return sum(values) / len(values)

    for name in ("tpe", "cmaes", "coarse_to_fine"):
        assert sum(later_mean(name, s) for s in range(3)) > sum(later_mean("random", s) for s in range(3)), name


@pytest.mark.parametrize("seed", range(3))
def test_qmc_covers_each_sixteenth_of_the_lr_range_once_in_sixteen_trials(seed):
    """After the first trial (drawn at random: it tells Optuna the space), scrambled Sobol points are a net: 16
    trials put one learning rate in each sixteenth of its log range, which random search almost never does."""
    trials = run_strategy("qmc", seed, Budget(trials=17, epochs=1))[1:]
    sixteenths = sorted(int((math.log10(t.params["lr"]) + 4) / 4 * 16) for t in trials)  # lr: 1e-4..1, log
    assert sixteenths == list(range(16))


@pytest.mark.parametrize("name, options", [
    ("grid", {"resolution": 0}), ("grid", {"resolution": 1}),
    ("asha", {"reduction_factor": 1}), ("asha", {"min_epochs": 0}), ("hyperband", {"reduction_factor": 1}),
    ("hyperband", {"min_epochs": 0}), ("tpe", {"startup_trials": -1}), ("gp", {"startup_trials": -1}),
    ("median", {"startup_trials": -1}), ("median", {"warmup_epochs": -1}),
    ("coarse_to_fine", {"coarse_fraction": 0}), ("coarse_to_fine", {"coarse_fraction": 1.5}),
    ("coarse_to_fine", {"top_k": 0}), ("lr_range_test", {"sweep_epochs": 0}), ("lr_range_test", {"widen": 0}),
    ("lr_range_test", {"divide": 0}),
])
def test_options_that_would_hang_crash_or_fail_every_trial_are_refused_with_their_bounds(name, options):
    """Such values once hung the spec check (asha's rungs never grew), or failed every trial (hyperband)."""
    with pytest.raises(ValidationError, match=rf"{next(iter(options))}\n  Input should be (greater|less) than"):
        strategies.get(name)(**options)


@pytest.mark.parametrize("option", ["sweep_epochs", "widen", "divide"])
def test_lr_range_test_refuses_an_infinite_option(option):
    """`.inf` in YAML once passed: an endless sweep failed every trial (OverflowError), so did an endless widening
    (ZeroDivisionError), and an endless divisor trained every trial at a learning rate of 0."""
    with pytest.raises(SpecError, match=rf"strategies\[0\]\.{option}: input should be a finite number \(got inf\)"):
        build_plan(parse_spec(tiny_spec(tasks=["digits"], strategies=[{"name": "lr_range_test", option: math.inf}])))


def test_a_refused_option_is_reported_with_its_field_path_and_value():
    with pytest.raises(SpecError, match=r"strategies\[0\]\.resolution: input should be greater than or equal to 2 "
                                        r"\(got 0\)"):
        build_plan(parse_spec(tiny_spec(tasks=["digits"], strategies=[{"name": "grid", "resolution": 0}])))


def test_spec_entries_of_multi_fidelity_strategies_are_labelled_by_their_sampler():
    plan = build_plan(parse_spec(tiny_spec(strategies=[{"name": "hyperband", "sampler": "tpe"}, "hyperband"],
                                           budget={"trials": 2, "epochs": 2})))
    assert [s.label for s in plan.strategies] == ["tpe+hyperband", "hyperband"]
    with pytest.raises(SpecError, match=r"strategies\[0\]\.sampler: .*must name a sampler strategy"):
        build_plan(parse_spec(tiny_spec(strategies=[{"name": "asha", "sampler": "grid"}])))


def test_readme_lists_every_built_in_strategy():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Strategies and budgets\n")[1].split("\n## ")[0]
    built_in = [entry.name for entry in strategies if entry.obj.__module__.startswith("strategies.")]
    assert len(built_in) >= 12 and all(f"`{name}`" in section for name in built_in)
