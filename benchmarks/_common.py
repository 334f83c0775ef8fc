"""What the benchmarks share: a CIFAR-shaped synthetic task (no download), a clock, and running a spec.

The synthetic task is registered as `synthetic-images` when this module is imported; specs name it
with `plugins: [benchmarks._common]`.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import optuna
import torch
from torch import nn

from harness.executor import Hooks
from harness.optim import training_space
from harness.plan import build_plan
from harness.space import Choice, Float, Space
from harness.spec import parse_spec
from harness.store import RunStore, open_storage, recorded_storage
from harness.task import Data, Split, Task, tasks
from harness.trainer import resolve_device
from tasks.image_models import compact_vgg, resnet

PLUGIN = __name__


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Wall seconds of `fn()` with the device's queued work included, and what it returned."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - start, result


def synthetic_split(n: int, size: int, num_classes: int, generator: torch.Generator) -> Split:
    """Noise images whose class shifts the mean of one colour channel: learnable, but no download."""
    labels = torch.randint(0, num_classes, (n,), generator=generator)
    images = torch.randn(n, 3, size, size, generator=generator)
    images[torch.arange(n), labels % 3] += (labels / num_classes)[:, None, None]
    return Split(images, labels)


@tasks.register("synthetic-images")
class SyntheticImages(Task):
    """CIFAR-shaped noise images in 10 classes, for benchmarks: a `cnn` (3 conv layers) or a CIFAR ResNet-18."""

    model_family: Literal["cnn", "resnet18"] = "cnn"
    train_size: int = 2048
    eval_size: int = 512  # each of validation and test
    image_size: int = 32

    @property
    def label(self) -> str:
        return f"synthetic-{self.model_family}"

    def space(self) -> Space:
        return Space({**training_space(lr=(1e-3, 3e-1, 5e-2), default_optimizer="sgd", default_batch_size=128,
                                       batch_sizes=(128, 256, 512)),
                      "width": Choice(default=16, choices=(8, 16, 32, 64)),
                      "dropout": Float(default=0.0, low=0.0, high=0.5)})

    def data(self) -> Data:
        generator = torch.Generator().manual_seed(0)
        splits = [synthetic_split(n, self.image_size, 10, generator)
                  for n in (self.train_size, self.eval_size, self.eval_size)]
        return Data(*splits, num_classes=10)

    def model(self, config: Mapping[str, Any], data: Data) -> nn.Module:
        return self.network(config, data.num_classes)

    def network(self, config: Mapping[str, Any], num_classes: int = 10) -> nn.Module:
        """The model without its data, for baselines that load their own."""
        dropout = config.get("dropout", 0.0)
        if self.model_family == "resnet18":
            return resnet(18, 3, num_classes, width=config.get("width", 64) / 64, dropout=dropout)
        return compact_vgg(3, num_classes, width=config.get("width", 16), depth=1, dropout=dropout)


def run_spec(spec: Mapping[str, Any], runs_dir: Path | None = None) -> Path:
    """Run a spec through plan, store and executor (no report files), as `harness run` does; returns the run dir."""
    plan = build_plan(parse_spec({"plugins": [PLUGIN], **spec}))
    device = resolve_device(plan.spec.device)
    store = RunStore(plan, runs_dir or Path(tempfile.mkdtemp(prefix="bench-")))
    store.check_same_spec()
    store.record_session(device)
    plan.executor.run(plan, store, device, Hooks())
    return store.dir


def trials_of(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    """The trials of a one-cell run, read back from the storage its manifest records."""
    storage = open_storage(recorded_storage(run_dir, json.loads((run_dir / "manifest.json").read_text())))
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).trials

