"""The search space: conditional grids, overrides, defaults and checks."""

from __future__ import annotations

import optuna
import pytest

from harness.space import Choice, Fixed, Float, Int, Space, when


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
