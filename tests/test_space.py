"""The search space: conditional grids, overrides, defaults and checks."""

from __future__ import annotations

import optuna
import pytest

from harness.space import Choice, Fixed, Float, FloatBy, Int, Space, when


def space() -> Space:
    return Space({
        "optimizer": Choice(default="adam", choices=("sgd", "adam")),
        "lr": Float(default=1e-2, low=1e-3, high=1e-1, log=True),
        "momentum": Float(default=0.9, low=0.8, high=0.99, when=when(optimizer="sgd")),
        "depth": Int(default=2, low=1, high=3),
    })


def test_grid_has_no_meaningless_points():
    grid = space().grid(resolution=3)
    sgd = [c for c in grid if c["optimizer"] == "sgd"]
    adam = [c for c in grid if c["optimizer"] == "adam"]
    assert len(sgd) == 3 * 3 * 3 and len(adam) == 3 * 3  # momentum varies only under SGD
    assert all("momentum" not in c for c in adam)
    assert len({tuple(sorted(c.items())) for c in grid}) == len(grid)


def test_a_grid_point_is_found_by_its_index_in_the_order_the_grid_runs():
    grid = space().grid(resolution=3)
    assert [grid[i] for i in range(len(grid))] == list(grid) == grid[:]
    assert grid[-1] == {"optimizer": "adam", "lr": pytest.approx(0.1), "depth": 3} and grid[1:3] == list(grid)[1:3]
    with pytest.raises(IndexError, match="outside a grid of 36 points"):
        grid[36]


def test_a_grid_of_a_trillion_points_is_counted_and_sampled_without_being_built():
    """A text task's full factorial has millions of points; each plan of a grid search once built them all
    (4 GB and a minute and a half for ListOps at resolution 3), at the spec check and at every trial."""
    huge = Space({f"x{i}": Float(default=0.5, low=0.0, high=1.0) for i in range(40)})
    grid = huge.grid(resolution=2)
    assert len(grid) == 2 ** 40 and grid[2 ** 40 - 1] == {f"x{i}": 1.0 for i in range(40)}
    assert grid[1] == {**{f"x{i}": 0.0 for i in range(39)}, "x39": 1.0}


def test_grid_spacing_is_log_for_log_ranges():
    lrs = sorted({c["lr"] for c in space().grid(3)})
    assert lrs == pytest.approx([1e-3, 1e-2, 1e-1])
    assert sorted({c["depth"] for c in space().grid(3)}) == [1, 2, 3]


def test_defaults_respect_conditions():
    assert space().defaults() == {"optimizer": "adam", "lr": 1e-2, "depth": 2}
    assert space().complete({"optimizer": "sgd"})["momentum"] == 0.9


def test_complete_rejects_values_outside_the_space():
    with pytest.raises(ValueError, match=r"lr=5 is outside the space; allowed: 0.001..0.1"):
        space().complete({"lr": 5})
    with pytest.raises(ValueError, match="unknown parameter 'lrr'"):
        space().complete({"lrr": 0.1})


def test_complete_rejects_a_value_for_a_parameter_the_configuration_does_not_use():
    with pytest.raises(ValueError, match="momentum=0.95 does not apply to this configuration: momentum is used only "
                                         "when optimizer is sgd"):
        space().complete({"optimizer": "adam", "momentum": 0.95})
    assert space().complete({"optimizer": "sgd", "momentum": 0.95})["momentum"] == 0.95


def test_never_active_names_the_parameters_no_offered_choice_turns_on_and_says_why():
    nested = Space({**space().override({"optimizer": ["adam"]}),
                    "dampening": Float(default=0.0, low=0.0, high=0.5, when=when(momentum=0.9))})
    assert nested.never_active() == {
        "momentum": "momentum is used only when optimizer is sgd, but this space offers optimizer adam only",
        "dampening": "dampening is used only when momentum is 0.9, but momentum is never used itself"}
    assert space().never_active() == {} and space().override({"optimizer": "sgd"}).never_active() == {}


def test_override_forms():
    narrowed = space().override({"lr": {"low": 1e-2}, "optimizer": ["sgd"], "depth": 1})
    assert narrowed["lr"].low == 1e-2 and narrowed["lr"].default == 1e-2
    assert narrowed["optimizer"].choices == ("sgd",) and narrowed["optimizer"].default == "sgd"
    assert isinstance(narrowed["depth"], Fixed)
    assert len(narrowed.grid(2)) == 2 * 2  # lr x momentum; depth fixed, one optimizer


def test_override_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"lr: `low <= high` must hold, but got \(low=1, high=0.1\)"):
        space().override({"lr": {"low": 1}})
    with pytest.raises(ValueError, match="lr: cannot set \\['choices'\\]"):
        space().override({"lr": {"choices": [1]}})


@pytest.mark.parametrize(("override", "message"), [
    ({"lr": "1e-3"}, "lr: a fixed value must be a number, but got '1e-3'; YAML reads 1e-3 as a string: write 1.0e-3"),
    ({"lr": True}, "lr: a fixed value must be a number, but got True"),
    ({"lr": {"low": "0.01"}}, "lr: low must be a number, but got '0.01'"),
    ({"lr": {"log": "yes"}}, "lr: log must be true or false, but got 'yes'"),
    ({"depth": 1.5}, "depth: a fixed value must be an integer, but got 1.5"),
    ({"depth": [1, 2.0]}, "depth: each choice must be an integer, but got 2.0"),
    ({"optimizer": 1}, "optimizer: a fixed value must be of the type of its choices ('sgd', 'adam'), but got 1"),
])
def test_override_values_of_another_type_are_refused(override, message):
    """A value the trainer cannot use would fail every trial; the spec is refused instead."""
    with pytest.raises(ValueError) as raised:
        space().override(override)
    assert str(raised.value) == message


def test_an_integer_overrides_a_float_and_any_value_a_fixed_parameter():
    overridden = space().override({"lr": {"low": 0, "high": 1, "log": False}, "momentum": 1})
    assert overridden["lr"].low == 0 and overridden["momentum"].default == 1
    assert overridden.override({"momentum": "anything"})["momentum"].default == "anything"


def test_suggest_asks_only_active_and_unfixed_parameters():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    fixed = space().override({"depth": 3, "optimizer": ["adam"]})
    trial = study.ask()
    config = fixed.suggest(trial)
    assert config["depth"] == 3 and "momentum" not in config
    assert set(trial.params) == {"optimizer", "lr"}


def test_conditional_parameter_must_follow_its_parent():
    with pytest.raises(ValueError, match="must come before"):
        Space({"momentum": Float(default=0.9, when=when(optimizer="sgd")),
               "optimizer": Choice(default="sgd", choices=("sgd",))})


def per_optimizer() -> Space:
    """An lr range for each optimizer, as the image tasks search it."""
    return Space({
        "optimizer": Choice(default="adam", choices=("sgd", "adam")),
        "lr": FloatBy(default=1e-3, low=1e-3, high=1e-1, log=True, by="optimizer",
                      ranges=(("sgd", 1e-2, 1e-1, 3e-2), ("adam", 1e-3, 1e-2, 1e-3), ("nadam", 5e-4, 1e-2, 2e-3))),
        "momentum": Float(default=0.9, low=0.8, high=0.99, when=when(optimizer="sgd")),
    })


def test_a_range_that_follows_a_choice_draws_each_value_in_the_chosen_ones_range():
    """One range over every optimizer's had random search train Adam at 0.05."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = [per_optimizer().suggest(study.ask()) for _ in range(60)]
    sgd, adam = ([c["lr"] for c in drawn if c["optimizer"] == name] for name in ("sgd", "adam"))
    assert sgd and adam and all(1e-2 <= lr <= 1e-1 for lr in sgd) and all(1e-3 <= lr <= 1e-2 for lr in adam)
    assert max(adam) > 5e-3 and min(sgd) < 2e-2  # each range is searched to its ends, on a log scale


def test_a_model_based_sampler_keeps_a_range_that_follows_a_choice_in_its_model():
    """GP and CMA-ES model only the parameters every trial holds with one distribution: an lr whose bounds
    changed with the optimizer would be drawn at random, the most important parameter left out of the model."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(8):
        trial = study.ask()
        study.tell(trial, per_optimizer().suggest(trial)["lr"])
    assert {c.params["optimizer"] for c in study.trials} == {"sgd", "adam"}
    model = optuna.samplers.GPSampler(seed=0).infer_relative_search_space(study, study.trials[-1])
    assert set(model) == {"optimizer", "lr_position"}  # momentum exists only with SGD
    assert model["lr_position"] == optuna.distributions.FloatDistribution(0.0, 1.0)


def test_a_configuration_enqueued_for_a_range_that_follows_a_choice_trains_as_given():
    space = per_optimizer()
    study = optuna.create_study()
    for config in ({"optimizer": "sgd", "lr": 0.05}, {"optimizer": "adam", "lr": 1e-3}, {"optimizer": "adam"}):
        study.enqueue_trial(space.as_searched(config))
        assert space.suggest(study.ask()) == space.complete(config)
    assert space.as_searched({"optimizer": "adam", "lr": 1e-2}) == {"optimizer": "adam", "lr_position": 1.0}
    assert space.override({"optimizer": "sgd"}).as_searched({"lr": 1e-2}) == {"lr_position": 0.0, "momentum": 0.9}


def test_a_range_that_follows_a_choice_has_each_ones_grid_default_and_bounds():
    grid = per_optimizer().grid(3)
    assert sorted(c["lr"] for c in grid if c["optimizer"] == "adam") == pytest.approx([1e-3, 10 ** -2.5, 1e-2])
    assert sorted({c["lr"] for c in grid if c["optimizer"] == "sgd"}) == pytest.approx([1e-2, 10 ** -1.5, 1e-1])
    assert len(grid) == 3 * 3 + 3 and len(list(grid)) == len(grid) and grid[len(grid) - 1] == list(grid)[-1]
    assert per_optimizer().defaults()["lr"] == 1e-3 and per_optimizer().complete({"optimizer": "sgd"})["lr"] == 3e-2
    assert per_optimizer().override({"optimizer": ["nadam"]}).defaults() == {"optimizer": "nadam", "lr": 2e-3}
    with pytest.raises(ValueError, match=r"lr=0.05 is outside the space; allowed: 0.001..0.01 with optimizer adam$"):
        per_optimizer().complete({"lr": 0.05})


def test_bounds_given_for_a_range_that_follows_a_choice_make_it_one_range():
    widened = per_optimizer().override({"lr": {"low": 1e-4}})["lr"]
    assert type(widened) is Float and (widened.low, widened.high, widened.default) == (1e-4, 1e-1, 1e-3)
    assert isinstance(per_optimizer().override({"lr": 0.01})["lr"], Fixed)


def test_the_table_of_a_range_that_follows_a_choice_has_a_row_for_each_offered_choice():
    assert [row for row in per_optimizer().rows() if row[0] == "lr"] == [
        ["lr", "0.01..0.1, log scale", "0.03", "optimizer is sgd"],
        ["lr", "0.001..0.01, log scale", "0.001", "optimizer is adam"]]


def test_a_spec_may_give_each_optimizer_its_own_range():
    """A paper states "SGD in 0.02..0.1, Adam in 1e-3..1e-2": one range for all could not say it."""
    space = per_optimizer().override({"lr": {"sgd": {"low": 0.02, "default": 0.05}, "adam": {"high": 5e-3}}})
    assert space.complete({"optimizer": "sgd"})["lr"] == 0.05 and space.complete({"optimizer": "adam"})["lr"] == 1e-3
    assert [row[1] for row in space.rows() if row[0] == "lr"] == ["0.02..0.1, log scale", "0.001..0.005, log scale"]
    assert space.override({"lr": {"nadam": {"low": 1e-4}}})["lr"].within({"optimizer": "nadam"}).low == 1e-4


@pytest.mark.parametrize(("override", "message"), [
    ({"sgd": {"low": "0.01"}}, "lr: sgd: low must be a number, but got '0.01'"),
    ({"sgd": {"low": 1.0}}, "lr: sgd: `low <= high` must hold, but got (low=1.0, high=0.1)"),
    ({"sgd": [0.01, 0.1]}, "lr: sgd: give its range as a mapping of low, high and default (the scale is every "
                           "optimizer's), but got [0.01, 0.1]"),
    ({"sgd": {"high": 0.3}, "low": 1e-4}, "lr: cannot set ['low']: give either low, high, default or log, one range "
                                          "for every optimizer, or a mapping for each optimizer of its own range: "
                                          "sgd, adam, nadam"),
])
def test_a_range_given_to_one_optimizer_is_checked_as_any_range(override, message):
    with pytest.raises(ValueError) as raised:
        per_optimizer().override({"lr": override})
    assert str(raised.value) == message


def test_one_range_for_every_offered_choice_is_one_row_of_the_table():
    space = per_optimizer().override({"lr": {"adam": {"low": 1e-2, "high": 1e-1, "default": 3e-2}}})
    assert [row for row in space.rows() if row[0] == "lr"] == [["lr", "0.01..0.1, log scale", "0.03", "always"]]
