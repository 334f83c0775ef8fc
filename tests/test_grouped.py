"""The grouped form of a stack: which models take it, and that it gives each member exactly its own step."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.func import stack_module_state

from benchmarks._common import SyntheticImages
from harness.grouped import Grouped, grouped, grouped_module
from harness.member_dropout import MemberDropout, dropout_scale, with_member_dropout
from harness.stacked import Vmapped, stack_forward
from tasks.image_models import DEPTHS, FAMILIES, compact_resnet, compact_vgg

Build = Callable[[], nn.Module]
PROBE = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def members(build: Build, k: int = 3) -> list[nn.Module]:
    """K float64 models of one architecture, each from its own seed, as fit_batched receives them."""
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(with_member_dropout(build()).double())
    return models


def forward_of(models: list[nn.Module]) -> Grouped | Vmapped:
    return stack_forward(models, *stack_module_state(models), PROBE.double())


IMAGE_MODELS: dict[str, Build] = {
    **{f"{family}{depth}": (lambda f=family, d=depth: FAMILIES[f](d, 3, 10, width=1 / 16, dropout=0.2))
       for family in FAMILIES for depth in DEPTHS[family]},
    "compact-resnet": lambda: compact_resnet(3, 10, width=4, depth=2, dropout=0.2),
    "compact-vgg": lambda: compact_vgg(3, 10, width=4, depth=2, dropout=0.2),
    "synthetic-cnn": lambda: SyntheticImages().network({"width": 4, "dropout": 0.2}),
    "synthetic-resnet18": lambda: SyntheticImages(model_family="resnet18").network({"width": 4}),
}


@pytest.mark.parametrize("build", IMAGE_MODELS.values(), ids=IMAGE_MODELS.keys())
def test_every_image_model_takes_the_grouped_form(build):
    assert isinstance(forward_of(members(build)), Grouped)


def test_a_grouped_training_step_gives_each_member_its_own_logits_gradients_and_running_statistics():
    models = members(lambda: compact_resnet(3, 10, width=4))
    twins = copy.deepcopy(models)  # each trained alone
    params = {name: torch.stack([dict(m.named_parameters())[name] for m in models])
              for name, _ in models[0].named_parameters()}
    _, buffers = stack_module_state(models)
    stack = grouped(models, channels_last=False)
    stack.module.train()
    inputs = torch.randn(3, 16, 3, 8, 8, dtype=torch.float64)
    logits = stack.logits(params, buffers, inputs)
    logits.square().sum().backward()
    for k, (model, twin) in enumerate(zip(models, twins)):
        alone = twin.train()(inputs[k])
        alone.square().sum().backward()
        torch.testing.assert_close(logits[k], alone)
        for (name, leaf), (_, own) in zip(model.named_parameters(), twin.named_parameters()):
            torch.testing.assert_close(leaf.grad, own.grad, msg=name)
        for name, own in twin.named_buffers():
            torch.testing.assert_close(buffers[name][k], own, msg=name)


def test_member_dropout_applies_each_members_rate_to_its_own_channels():
    dropout = MemberDropout(0.0)
    dropout.p = torch.tensor([0.0, 0.5])  # two members of three features each
    kept = dropout(torch.ones(1000, 6))
    assert (kept[:, :3] == 1).all()
    assert set(kept[:, 3:].unique().tolist()) == {0.0, 2.0}


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_a_rate_given_as_a_tensor_scales_as_dropout_does(rate):
    """The form a GPU's stack uses, so that no rate is read back to the host in a step."""
    scale = dropout_scale(torch.ones(4000), torch.tensor(rate, dtype=torch.float64), torch.Generator().manual_seed(0))
    kept = scale[scale != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - rate))) if rate < 1 else kept.numel() == 0
    assert scale.eq(0).float().mean().item() == pytest.approx(rate, abs=0.03)


class Mixing(nn.Sequential):
    """A container whose forward mixes channels in a functional call, which no walk over modules sees."""

    def __init__(self, mix: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.mix = mix

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(x)


@pytest.mark.parametrize("mix", [lambda x: x.softmax(1), lambda x: x.flip(1)], ids=["softmax", "flip"])
def test_the_probe_refuses_a_forward_that_mixes_the_members_channels(mix):
    def build() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Mixing(mix), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(4, 10))

    assert grouped_module(build()) is not None  # the walk lets it through ...
    assert isinstance(forward_of(members(build)), Vmapped)  # ... the probe does not


NOT_GROUPED: dict[str, Build] = {
    "layer norm": lambda: nn.Sequential(nn.Flatten(), nn.Linear(192, 8), nn.LayerNorm(8), nn.Linear(8, 10)),
    "cumulative batch norm": lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=None),
                                                   nn.Flatten(), nn.Linear(144, 10)),
    "reflect padding": lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
                                             nn.Flatten(), nn.Linear(256, 10)),
    "flatten from dim 0": lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(0)),
}


@pytest.mark.parametrize("build", NOT_GROUPED.values(), ids=NOT_GROUPED.keys())
def test_a_module_not_known_to_keep_members_apart_leaves_the_stack_to_vmap(build):
    assert grouped_module(build()) is None
    assert isinstance(forward_of(members(build)), Vmapped)
