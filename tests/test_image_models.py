"""The CIFAR VGG and ResNet families: published parameter counts, shapes, width, and learning on digits."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.task import tasks
from harness.trainer import fit
from tasks.image_models import DEPTHS, FAMILIES

import tasks as _builtins  # noqa: F401 - registers digits

# Parameter counts of the CIFAR-10 variants as published with kuangliu/pytorch-cifar, the usual reference.
PUBLISHED_MILLIONS = {("resnet", 18): 11.17, ("resnet", 34): 21.28, ("resnet", 50): 23.52,
                      ("vgg", 11): 9.23, ("vgg", 13): 9.42, ("vgg", 16): 14.73, ("vgg", 19): 20.04}


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("family, depth", PUBLISHED_MILLIONS)
def test_standard_members_have_the_published_parameter_counts(family, depth):
    model = FAMILIES[family](depth, in_channels=3, num_classes=10)
    assert parameters(model) / 1e6 == pytest.approx(PUBLISHED_MILLIONS[family, depth], abs=0.01)


def test_every_depth_of_each_family_is_covered():
    assert set(PUBLISHED_MILLIONS) == {(family, depth) for family in FAMILIES for depth in DEPTHS[family]}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32), (1, 8)])
def test_tiny_members_take_mnist_cifar_and_digits_sizes(family, channels, size):
    model = FAMILIES[family](DEPTHS[family][-1], in_channels=channels, num_classes=7, width=1 / 16)
    assert model(torch.randn(2, channels, size, size)).shape == (2, 7)
    assert parameters(model) < 100_000  # ~1/256 of the full member: cheap enough for any test


@pytest.mark.parametrize("family", FAMILIES)
def test_width_scales_channels_and_dropout_sits_before_the_classifier(family):
    model = FAMILIES[family](DEPTHS[family][0], in_channels=3, num_classes=10, width=0.5, dropout=0.3)
    widths = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert widths[0] == 32 and max(widths) == 256 * (4 if family == "resnet" and DEPTHS[family][0] == 50 else 1)
    *_, dropout, linear = model[-1]
    assert isinstance(dropout, nn.Dropout) and dropout.p == 0.3 and isinstance(linear, nn.Linear)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_tiny_member_of_each_family_learns_digits(family):
    """Chance is 10%; one epoch of a 1/16-width ResNet-18 or VGG-11 reaches far above it."""
    data = tasks.get("digits")().data()
    torch.manual_seed(0)
    model = FAMILIES[family](DEPTHS[family][0], in_channels=1, num_classes=10, width=1 / 16)
    config = {"optimizer": "adam", "lr": 1e-2, "batch_size": 64, "schedule": "constant"}
    result = fit(model, data, config, epochs=1, seed=0)
    assert result.test_accuracy > 0.3
