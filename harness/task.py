"""What a task is to the harness: data splits, a fresh model, and its default search space.

Tasks know nothing of Optuna or of strategies; they hand over tensors that fit in memory (so the
trainer moves them to the device once) and build models from a configuration dict.
"""

from __future__ import annotations

from abc import abstractmethod
import math
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import torch
from torch import nn

from harness.options import Options
from harness.registry import Registry
from harness.space import Space

tasks: Registry = Registry("task")


@dataclass(frozen=True)
class Split:
    """One split as tensors: `inputs[i]` is example i, `labels[i]` its class.

    The trainer only ever asks a split for batches; subclasses augment (images) or group by
    length (text) there, on the device, so the training loop stays the same for every task.
    """

    inputs: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.labels):
            raise ValueError(f"inputs and labels must have one length, but got {len(self.inputs)} and {len(self.labels)}")

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> Split:
        """The same split with every tensor field on `device`."""
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}
        return replace(self, **moved)

    def num_batches(self, batch_size: int) -> int:
        return math.ceil(len(self) / batch_size)

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(inputs, labels) batches: in order for evaluation, or shuffled by `generator` for a training epoch."""
        if generator is None:
            for start in range(0, len(self), batch_size):
                yield self.inputs[start:start + batch_size], self.labels[start:start + batch_size]
            return
        order = torch.randperm(len(self), generator=generator).to(self.labels.device)
        for start in range(0, len(self), batch_size):
            index = order[start:start + batch_size]
            yield self.inputs[index], self.labels[index]


@dataclass(frozen=True)
class Data:
    """Train, validation and test splits; selection uses validation, test is only ever reported."""

    train: Split
    val: Split
    test: Split
    num_classes: int

    def to(self, device: torch.device) -> Data:
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))


class Task(Options):
    """A data set with a model family; its fields are the spec options of the task."""

    metric: ClassVar[str] = "accuracy"

    @property
    def label(self) -> str:
        """The task's name in studies and reports; tasks with several model families add the family."""
        return tasks.name_of(type(self))

    @abstractmethod
    def space(self) -> Space:
        """The ranges practitioners recommend for this task; specs may override them."""

    @abstractmethod
    def data(self) -> Data:
        """All three splits, on the CPU; the same every call (the split is seeded by the task's options)."""

    def space_problems(self, space: Space) -> list[str]:
        """Values of a (possibly overridden) space that the task's models cannot take together, found when the
        spec is checked rather than trial by trial; by default none."""
        return []

    def data_key(self, config: Mapping[str, Any]) -> Hashable:
        """What of a configuration the data depend on (a tokenizer's vocabulary size, say); trials with equal
        keys share one copy of the data. By default nothing: every trial gets `data()`."""
        return None

    def data_for(self, config: Mapping[str, Any]) -> Data:
        """The splits a configuration trains on; tasks that override `data_key` override this too."""
        return self.data()

    @abstractmethod
    def model(self, config: Mapping[str, Any], data: Data) -> nn.Module:
        """A freshly initialised model for the configuration (the caller seeds torch beforehand)."""
