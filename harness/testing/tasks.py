"""Tasks for tests and benchmarks, loaded as a spec's plugin (`plugins: [harness.testing.tasks]`): tiny
blobs that train in milliseconds, with training steps as slow as asked, and a task whose data or model fails
on purpose."""

from __future__ import annotations

import time

import torch
from torch import nn

from harness.optim import training_space
from harness.space import Choice, Space
from harness.task import Data, Split, Task, tasks


def blobs(size: int) -> Data:
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (size,), generator=generator)
    points = torch.randn(size, 2, generator=generator) + 3 * labels[:, None]
    cut = [size * 6 // 10, size * 8 // 10]
    return Data(*[Split(points[a:b], labels[a:b]) for a, b in zip([0, *cut], [*cut, size])], num_classes=2)


class Sleepy(nn.Linear):
    """A linear layer that sleeps in every training step, as a GPU-bound step leaves the CPU idle."""

    def __init__(self, pause: float) -> None:
        super().__init__(2, 2)
        self.pause = pause

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.pause if self.training else 0.0)
        return super().forward(x)


@tasks.register("slow")
class Slow(Task):
    """Blobs, three batches an epoch, each training step taking `pause` seconds."""

    pause: float = 0.0

    def space(self) -> Space:
        return Space(training_space(lr=(1e-3, 1e-1, 1e-2), batch_sizes=(8,), default_batch_size=8))

    def data(self) -> Data:
        return blobs(40)

    def model(self, config, data: Data) -> nn.Module:
        return Sleepy(self.pause)


@tasks.register("blobs_by_optimizer")
class BlobsByOptimizer(Slow):
    """Blobs searched as the image tasks are: SGD or Adam, each in its own practical lr range. The model starts at
    chance, so that a range test's loss falls from its first step, whatever the seed."""

    def space(self) -> Space:
        return Space(training_space(optimizer_choices=("sgd", "adam"), batch_sizes=(8,), default_batch_size=8))

    def model(self, config, data: Data) -> nn.Module:
        model = super().model(config, data)
        for weights in model.parameters():
            nn.init.zeros_(weights)
        return model


class Crashing(Sleepy):
    """A linear layer that fails in every training step, as a model with a bug in its forward does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            raise RuntimeError("the task's model failed in a training step")
        return super().forward(x)


@tasks.register("fragile")
class Fragile(Slow):
    """Blobs whose data or model fails as `mode` says: data that cannot be made for the configuration,
    out of GPU memory, a bug in the task, or a model that fails in its training steps."""

    def space(self) -> Space:
        base = super().space()
        modes = ("ok", "data", "oom", "bug", "step")
        return Space({**{name: base[name] for name in base}, "mode": Choice(default="ok", choices=modes)})

    def data_key(self, config) -> str:
        return config["mode"]

    def data_for(self, config) -> Data:
        if config["mode"] == "data":
            raise ValueError("no data can be made for this configuration")
        return self.data()

    def model(self, config, data: Data) -> nn.Module:
        if config["mode"] == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        if config["mode"] == "bug":
            raise IndexError("the task's model indexed past its last layer")
        if config["mode"] == "step":
            return Crashing(self.pause)
        return super().model(config, data)
