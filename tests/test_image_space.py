"""The image tasks' search space: every optimizer with its practical learning rates, betas and each kind of weight
decay only where they exist."""

from __future__ import annotations

import pytest

from harness.errors import SpecError
from harness.optim import optimizers, practical_lr, training_space
from harness.plan import build_plan
from harness.space import Space
from harness.spec import parse_spec
from harness.task import tasks

import tasks as _builtins  # noqa: F401 - registers the tasks

ISSUE_OPTIMIZERS = {"sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam"}
ADAM_FAMILY = {"adam", "adamw", "adamax", "nadam"}


@pytest.mark.parametrize("name", optimizers.names())
def test_every_optimizer_states_a_practical_range_around_its_default(name):
    low, high, default = practical_lr(name)
    assert 0 < low < high and low <= default <= high


def test_practical_ranges_follow_practice():
    assert practical_lr("sgd")[:2] == (1e-3, 1e-1)  # 1e-2..1e-1 plain, 1e-3..1e-2 with momentum 0.9
    assert practical_lr("adam")[:2] == (1e-3, 1e-2)
    assert practical_lr("adadelta")[2] == 1.0


@pytest.fixture(scope="module")
def cifar_space() -> Space:
    return tasks.get("cifar10")().space()


def test_cifar_space_offers_every_optimizer_in_the_hull_of_their_ranges(cifar_space):
    assert ISSUE_OPTIMIZERS <= set(cifar_space["optimizer"].choices)
    lr = cifar_space["lr"]
    assert (lr.low, lr.high, lr.log) == (1e-4, 1.0, True)
    assert lr.default == practical_lr("sgd")[2] and cifar_space["optimizer"].default == "sgd"
    assert cifar_space["batch_size"].choices == (16, 32, 64, 128, 256, 512, 1024)
    assert (cifar_space["weight_decay"].low, cifar_space["weight_decay"].high) == (1e-6, 1e-3)
    assert (cifar_space["dropout"].low, cifar_space["dropout"].high) == (0.0, 0.5)
    assert cifar_space["depth"].choices == (18, 34, 50) and tasks.get("cifar10")(model_family="vgg").space()[
        "depth"].choices == (11, 13, 16, 19)


@pytest.mark.parametrize("optimizer", sorted(ISSUE_OPTIMIZERS))
def test_momentum_only_for_sgd_and_betas_only_for_the_adam_family(cifar_space, optimizer):
    config = cifar_space.complete({"optimizer": optimizer})
    assert ("momentum" in config) == ("nesterov" in config) == (optimizer == "sgd")
    assert ("beta1" in config) == ("beta2" in config) == (optimizer in ADAM_FAMILY)


@pytest.mark.parametrize("optimizer", sorted(ISSUE_OPTIMIZERS))
def test_l2_weight_decay_for_the_rules_that_add_it_and_decoupled_decay_only_for_adamw(cifar_space, optimizer):
    """AdamW's decay once shared L2's 1e-6..1e-3 range and was searched almost without decay."""
    config = cifar_space.complete({"optimizer": optimizer})
    assert ("weight_decay" in config) == (optimizer != "adamw")
    assert ("decoupled_decay" in config) == (optimizer == "adamw")
    decoupled = cifar_space["decoupled_decay"]
    assert (decoupled.low, decoupled.high, decoupled.default, decoupled.log) == (1e-4, 1e-1, 1e-2, True)


def test_grid_has_no_meaningless_beta_points(cifar_space):
    small = cifar_space.override({"optimizer": ["sgd", "adam"], "batch_size": 128, "schedule": "cosine",
                                  "depth": 18, "width": 0.25, "dropout": 0.0, "label_smoothing": 0.0})
    grid = small.grid(2)
    sgd = [c for c in grid if c["optimizer"] == "sgd"]
    adam = [c for c in grid if c["optimizer"] == "adam"]
    assert all("beta1" not in c for c in sgd) and len(sgd) == 2 * 2 * 2 * 2  # lr, momentum, nesterov, weight decay
    assert len(adam) == 2 * 2 * 2 * 2  # lr, beta1, beta2, weight decay


def test_a_grid_over_sgd_and_adamw_gives_each_its_own_decay():
    small = tasks.get("cifar10")().space().override({
        "optimizer": ["sgd", "adamw"], "batch_size": 128, "schedule": "cosine", "depth": 18, "width": 0.25,
        "dropout": 0.0, "label_smoothing": 0.0})
    grid = small.grid(2)
    sgd = [c for c in grid if c["optimizer"] == "sgd"]
    adamw = [c for c in grid if c["optimizer"] == "adamw"]
    assert len(grid) == len(sgd) + len(adamw) == 16 + 16  # lr, momentum, nesterov, L2 decay; lr, betas, decoupled
    assert {c["weight_decay"] for c in sgd} == {1e-6, 1e-3} and all("decoupled_decay" not in c for c in sgd)
    assert {c["decoupled_decay"] for c in adamw} == {1e-4, 1e-1} and all("weight_decay" not in c for c in adamw)


def test_a_space_without_adam_family_never_uses_betas_and_an_explicit_lr_is_kept():
    space = Space(training_space(lr=(1e-3, 3e-1, 1e-2), optimizer_choices=("sgd", "rmsprop"), default_optimizer="sgd"))
    assert {"beta1", "beta2"} <= set(space.never_active())
    assert (space["lr"].low, space["lr"].high, space["lr"].default) == (1e-3, 3e-1, 1e-2)


def test_a_task_may_give_the_optimizers_it_names_a_range_of_its_own_and_the_others_keep_theirs():
    """The text tasks give the Adam family their own range and leave SGD its registered one: in the Adam range, SGD
    could not reach its rates that learn. One table row for the choices that share a range."""
    space = Space(training_space(lr=dict.fromkeys(("adam", "adamw"), (1e-4, 1e-2, 2e-3)),
                                 optimizer_choices=("adam", "adamw", "sgd")))
    assert [space.complete({"optimizer": name})["lr"] for name in ("adam", "adamw", "sgd")] == [2e-3, 2e-3, 1e-2]
    assert [row[1:] for row in space.rows() if row[0] == "lr"] == [
        ["0.0001..0.01, log scale", "0.002", "optimizer is adam or adamw"],
        ["0.001..0.1, log scale", "0.01", "optimizer is sgd"]]


def test_betas_are_searched_for_an_adam_family_rule_a_spec_chooses_where_the_task_offers_another():
    """The betas existed only for the task's own Adam-family choices: NAdam chosen by a spec trained without them."""
    space = Space(training_space(optimizer_choices=("adam", "sgd"))).override({"optimizer": ["nadam", "sgd"]})
    assert "beta1" not in space.never_active()
    assert {"beta1", "beta2"} <= set(space.complete({"optimizer": "nadam"}))


def test_a_depth_the_model_family_lacks_is_refused_when_the_spec_is_checked():
    """VGG has no depth 18: a space offering it failed every trial that drew it with a bare `KeyError: 18`."""
    spec = parse_spec({"name": "depths", "seeds": [0], "strategies": ["random"], "budget": {"trials": 2, "epochs": 1},
                       "tasks": [{"name": "mnist", "model_family": "vgg", "space": {"depth": [11, 18]}},
                                 {"name": "cifar10", "space": {"depth": 16}}]})
    with pytest.raises(SpecError) as raised:
        build_plan(spec)
    assert raised.value.problems == [
        "tasks[0].space: depth must be one of 11, 13, 16, 19 for the vgg family, but got 18",
        "tasks[1].space: depth must be one of 18, 34, 50 for the resnet family, but got 16"]
