"""The 8x8 handwritten digits that ship inside scikit-learn: a real image task that needs no download."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from harness.optim import taking, training_space
from harness.space import Choice, Float, Int, Space
from harness.task import Data, Split, Task, tasks
from tasks.image_models import COMPACT_FAMILIES

IMAGES = 1797  # in scikit-learn's digits, so options are checked without loading them


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """Examples in train, validation and test: each held-out fraction of `n`, rounded, and the rest."""
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    return n - n_val - n_test, n_val, n_test


def seeded_split(inputs: torch.Tensor, labels: torch.Tensor, num_classes: int, seed: int,
                 val_fraction: float, test_fraction: float) -> Data:
    """Shuffle once with `seed`, then cut test, validation and train (in that order) off the front."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    _, n_val, n_test = split_sizes(len(labels), val_fraction, test_fraction)
    parts = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    test, val, train = (Split(inputs[p], labels[p]) for p in parts)
    return Data(train, val, test, num_classes)


@tasks.register("digits")
class Digits(Task):
    """scikit-learn's 1,797 8x8 digits, 10 classes; CIFAR-style ResNet or VGG (offline default image task)."""

    model_family: Literal["resnet", "vgg"] = "resnet"
    split_seed: int = 0  # fixed, so every trial and strategy sees the same three splits
    val_fraction: float = Field(default=0.15, gt=0.0, lt=1.0)
    test_fraction: float = Field(default=0.15, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def leaves_training_images(self) -> Digits:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(f"val_fraction + test_fraction must be below 1 to leave training images "
                             f"(got {self.val_fraction} + {self.test_fraction})")
        train, val, test = split_sizes(IMAGES, self.val_fraction, self.test_fraction)
        if min(train, val, test) < 1:  # an empty validation split scores NaN, and the trial fails as diverged
            raise ValueError(f"val_fraction and test_fraction must leave each split at least one of the {IMAGES} "
                             f"images, but got {train} train, {val} validation and {test} test images")
        return self

    @property
    def label(self) -> str:
        return f"digits-{self.model_family}"

    def space(self) -> Space:
        return Space({
            # measured on this task (4 epochs, 3 seeds): Adam best at 3e-3..3e-2, SGD below 3e-2 far behind
            **training_space(lr={**dict.fromkeys(taking("beta1"), (1e-3, 1e-1, 1e-2)), "sgd": (1e-2, 3e-1, 1e-1)}),
            "width": Choice(default=16, choices=(8, 16, 32)),
            "depth": Int(default=1, low=1, high=2),
            "dropout": Float(default=0.0, low=0.0, high=0.5),
        })

    def data(self) -> Data:
        # a second's import, which only loading these data needs
        from sklearn.datasets import load_digits

        digits = load_digits()
        pixels = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0  # 0..16 -> -1..1
        labels = torch.tensor(digits.target, dtype=torch.long)
        return seeded_split(pixels, labels, 10, self.split_seed, self.val_fraction, self.test_fraction)

    def model(self, config: Mapping[str, Any], data: Data) -> nn.Module:
        build = COMPACT_FAMILIES[self.model_family]
        return build(in_channels=1, num_classes=data.num_classes, width=config.get("width", 16),
                     depth=config.get("depth", 1), dropout=config.get("dropout", 0.0))
