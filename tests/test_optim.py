"""Every registered optimizer (schedules: test_schedules.py), and the names their tunable arguments may take."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_LISTOPS, tiny_spec

from harness.errors import HarnessError, SpecError
from harness.optim import FUSED_ON_CUDA, fused_on_gpu, optimizers, schedules, taking
from harness.plan import build_plan
from harness.plugins import load_builtins
from harness.spec import parse_spec
from harness.task import tasks
from harness.trainer import TrainConfig, make_optimizer
from harness.tunable import Tunable


@pytest.mark.parametrize("name", optimizers.names())
def test_every_optimizer_steps_towards_a_minimum(name):
    """At the top of its own learning-rate range, each rule covers a real part of the way from 3 to 0 in 200 steps
    (the slowest, Adadelta, reaches 2.17; a rule whose step did nothing would stay at 3)."""
    weight = torch.nn.Parameter(torch.tensor([3.0]))
    optimizer = optimizers.get(name)([weight], lr=optimizers.entry(name).meta["lr"][1])
    for _ in range(200):
        optimizer.zero_grad()
        (weight ** 2).sum().backward()
        optimizer.step()
    assert abs(weight.item()) < 2.5


@pytest.mark.parametrize("name", optimizers.names())
def test_optimizers_stay_unfused_off_the_gpu(name):
    optimizer = fused_on_gpu(optimizers.get(name)([torch.nn.Parameter(torch.ones(2))], lr=0.1))
    assert not any(group.get("fused") for group in optimizer.param_groups)


def test_adamw_takes_its_decay_as_decoupled_decay_and_torch_s_group_holds_it():
    """A zero gradient leaves Adam's step at 0, so one step shrinks the weight by lr x decay and nothing else."""
    weight = torch.nn.Parameter(torch.ones(3))
    adamw = optimizers.get("adamw")([weight], lr=0.1, decoupled_decay=0.05)
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["weight_decay"] == 0.05
    weight.grad = torch.zeros(3)
    adamw.step()
    torch.testing.assert_close(weight.detach(), torch.full((3,), 1 - 0.1 * 0.05))
    assert optimizers.get("adamw")([weight], lr=0.1).param_groups[0]["weight_decay"] == 1e-2  # PyTorch's default
    assert "adamw" not in taking("weight_decay") and {"sgd", "adam", "rmsprop"} <= set(taking("weight_decay"))


def test_the_trainer_hands_adamw_the_configured_decoupled_decay():
    load_builtins()
    task = tasks.get("digits")()
    config = task.space().complete({"optimizer": "adamw", "decoupled_decay": 0.05, "width": 8})
    group = make_optimizer(task.model(config, task.data()), TrainConfig.from_config(config), config).param_groups[0]
    assert group["weight_decay"] == 0.05 and "weight_decay" not in config


def test_only_rules_whose_fused_step_runs_on_cuda_are_switched_to_it():
    """Adagrad also takes `fused`, but a fused Adagrad rejects CUDA parameters in most torch releases we support."""
    weight = torch.nn.Parameter(torch.ones(2))
    switched = [name for name in optimizers.names() if isinstance(optimizers.get(name)([weight], lr=0.1), FUSED_ON_CUDA)]
    assert "fused" in optimizers.get("adagrad")([weight], lr=0.1).defaults
    assert switched == ["adam", "adamw", "sgd"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_a_fused_step_on_the_gpu_equals_the_multi_tensor_step(name):
    weights = [torch.nn.Parameter(torch.linspace(-1, 1, 64, device="cuda")) for _ in range(2)]
    decay = {"decoupled_decay" if name == "adamw" else "weight_decay": 0.01}
    optimizers_ = [optimizers.get(name)([w], lr=0.1, **decay) for w in weights]
    fused_on_gpu(optimizers_[1])
    assert optimizers_[1].param_groups[0]["fused"]
    for _ in range(5):
        for weight, optimizer in zip(weights, optimizers_):
            optimizer.zero_grad()
            (weight ** 2).sum().backward()
            optimizer.step()
    torch.testing.assert_close(weights[0], weights[1])



@pytest.fixture
def plugin_registries(monkeypatch):
    """The optimizer and schedule registries as they are, restored after the test: a plugin's entries registered
    in it go with it."""
    for registry in (optimizers, schedules):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))


# A plugin's optimizers and schedules, each with a tunable argument named as a parameter the space has already
def self_tuned(params, lr: float = 1e-2) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr)


def heavy_ball(params, lr: float, momentum: float = 0.5) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum)


def stepped_sgd(params, lr: float, step_gamma: float = 0.5) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr * step_gamma)


def batch_ramp(step: int, total: int, per_epoch: int, batch_size: float = 0.2) -> float:
    return 1.0


def decay_ramp(step: int, total: int, per_epoch: int, weight_decay: float = 0.2) -> float:
    return 1.0


def dropout_ramp(step: int, total: int, per_epoch: int, dropout: float = 0.2) -> float:
    return 1.0


def kicked_sgd(params, lr: float, kick: float = 0.2) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr * kick)


DIGITS = tiny_spec(tasks=["digits"], strategies=["random"], space={"width": 8})


@pytest.mark.parametrize("registry, plugin, argument", [
    (optimizers, self_tuned, "lr"), (optimizers, heavy_ball, "momentum"), (optimizers, stepped_sgd, "step_gamma"),
    (schedules, batch_ramp, "batch_size"), (schedules, decay_ramp, "weight_decay")],
    ids=["lr", "momentum", "step_gamma", "batch_size", "weight_decay"])
def test_a_tunable_argument_named_as_a_training_parameter_is_refused(plugin_registries, registry, plugin, argument):
    registry.register(plugin.__name__, help="a plugin's", tunable={argument: Tunable(0.1, 0.5)})(plugin)
    with pytest.raises(HarnessError, match=f"^{registry.kind} '{plugin.__name__}' registers the tunable argument "
                                           f"'{argument}', but the training space already has a parameter of that "
                                           "name; give the argument another name$"):
        build_plan(parse_spec(DIGITS))


def test_a_tunable_argument_named_as_a_task_s_own_parameter_is_refused(plugin_registries):
    schedules.register("dropout_ramp", help="a plugin's", tunable={"dropout": Tunable(0.1, 0.5)})(dropout_ramp)
    with pytest.raises(SpecError) as raised:
        build_plan(parse_spec(DIGITS))
    assert raised.value.problems == [("tasks[0]: schedule 'dropout_ramp' registers the tunable argument 'dropout', "
                                      "but the task's space already has a parameter of that name; give the argument "
                                      "another name")]


def test_a_tunable_argument_under_a_name_of_its_own_is_searched_and_a_task_may_narrow_one(plugin_registries):
    optimizers.register("kicked_sgd", help="a plugin's", tunable={"kick": Tunable(0.1, 0.5)})(kicked_sgd)
    space = build_plan(parse_spec(DIGITS)).tasks[0].space
    assert space["kick"].when == (("optimizer", ("kicked_sgd",)),) and space["kick"].default == 0.2
    text = build_plan(parse_spec(tiny_spec(tasks=[TINY_LISTOPS], strategies=["random"], space={}))).tasks[0].space
    assert text["warmup"].when == (("schedule", ("warmup_cosine",)),)  # its own range of the schedule's argument


def kicked_adam(params, lr: float, kick: float = 0.3) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr * kick)


def test_two_entries_giving_one_tunable_argument_two_defaults_are_one_clear_error(plugin_registries):
    optimizers.register("kicked_sgd", help="a plugin's", tunable={"kick": Tunable(0.1, 0.5)})(kicked_sgd)
    optimizers.register("kicked_adam", help="a plugin's", tunable={"kick": Tunable(0.1, 0.5)})(kicked_adam)
    with pytest.raises(HarnessError, match="optimizer argument 'kick' must have one range and default in every "
                                           r"optimizer, but 'kicked_(sgd|adam)' gives .* with default 0\.[23]$"):
        build_plan(parse_spec(DIGITS))
