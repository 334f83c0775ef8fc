"""A training step replayed from a CUDA graph does what the ordinary step does (needs a GPU: skipped elsewhere)."""

from __future__ import annotations

import pytest
import torch

from harness.graphs import WARMUP_STEPS, graphed_step
from harness.optim import optimizers
from harness.step import TrainConfig, train_step
from harness.trainer import make_optimizer, prepare
from tasks.image_models import compact_resnet

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_no_graph_off_the_gpu():
    model = torch.nn.Linear(4, 2)
    optimizer = make_optimizer(model, TrainConfig(optimizer="sgd"), {})
    assert graphed_step(model, optimizer, TrainConfig(optimizer="sgd"), torch.device("cpu")) is None


def twin(config: dict, device: torch.device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = prepare(compact_resnet(3, 10, width=8).to(device), device)
    return model, make_optimizer(model, TrainConfig.from_config(config), config)


@needs_cuda
@pytest.mark.parametrize("config", [{"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
                                    {"optimizer": "adamw", "lr": 3e-3, "grad_clip": 1.0}], ids=["sgd", "adamw"])
def test_replayed_steps_equal_ordinary_steps(config):
    device = torch.device("cuda")
    train = TrainConfig.from_config(config)
    generator = torch.Generator(device="cuda").manual_seed(1)
    batches = [(torch.randn(n, 3, 16, 16, device=device, generator=generator).contiguous(
        memory_format=torch.channels_last), torch.randint(0, 10, (n,), device=device, generator=generator))
        for n in [32] * (WARMUP_STEPS + 4) + [20, 32, 32]]  # a shorter batch steps in between, uncaptured
    lrs = [config["lr"] * (1 - i / len(batches)) for i in range(len(batches))]  # a schedule the graph must follow
    plain_model, plain_optimizer = twin(config, device)
    graph_model, graph_optimizer = twin(config, device)
    graphed = graphed_step(graph_model, graph_optimizer, train, device)
    assert graphed is not None
    for (x, y), lr in zip(batches, lrs):
        expected = train_step(plain_model, plain_optimizer, x, y, lr, train)
        torch.testing.assert_close(graphed(x, y, lr), expected, rtol=1e-3, atol=1e-3)
    assert graphed.graph is not None  # the full batches after the warm-up replayed a captured step
    for (name, mine), theirs in zip(graph_model.state_dict().items(), plain_model.state_dict().values()):
        torch.testing.assert_close(mine.float(), theirs.float(), rtol=1e-3, atol=1e-3, msg=name)


@needs_cuda
def test_rules_without_a_fused_kernel_step_as_usual():
    device = torch.device("cuda")
    model = torch.nn.Linear(4, 2).to(device)
    optimizer = optimizers.get("rmsprop")(model.parameters(), lr=0.01)
    assert graphed_step(model, optimizer, TrainConfig(optimizer="rmsprop"), device) is None
