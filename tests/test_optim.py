"""Every registered optimizer (schedules: test_schedules.py)."""

from __future__ import annotations

import pytest
import torch

from harness.optim import FUSED_ON_CUDA, fused_on_gpu, optimizers, taking
from harness.plugins import load_builtins
from harness.task import tasks
from harness.trainer import TrainConfig, make_optimizer


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
