"""Seconds per epoch of a CIFAR ResNet-18: torchvision's DataLoader pipeline vs the harness's device-resident one.

Both train the same model (same initialisation, batch size, optimizer, bf16 autocast and
channels_last on CUDA) on the same synthetic CIFAR-10-shaped uint8 images with the same
augmentation (random crop with 4 pixels of padding, horizontal flip, normalisation):

(a) the standard recipe: a Dataset of PIL images, torchvision transforms, a DataLoader with worker
    processes (pinned memory and persistent workers on CUDA), the batches copied to the device;
(b) the harness: `ImageSplit` holding the uint8 images on the device, trained by `harness.trainer.fit`.

The first epoch of each is a warm-up and is not counted. Run with `python -m benchmarks.image_pipeline`
(a small slice at a tiny width, under a minute on a 2-core CPU) or `--full` (50,000 images, width 1,
batch 512, on the GPU; also torch.compile).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from harness.task import Data
from harness.trainer import fit, resolve_device
from tasks.image_models import resnet
from tasks.image_split import ImageSplit, channel_stats


@dataclass(frozen=True)
class Setting:
    images: int
    width: float
    batch_size: int
    epochs: int  # timed epochs, after one warm-up epoch
    workers: tuple[int, ...]  # DataLoader worker counts tried; the best one is compared
    compile: bool


SMALL = Setting(images=256, width=0.125, batch_size=64, epochs=1, workers=(2,), compile=False)
FULL = Setting(images=50_000, width=1.0, batch_size=512, epochs=3, workers=(4, 8, 16), compile=True)
TRAINING = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
            "schedule": "constant"}


class PILImages(Dataset):
    """CIFAR-shaped HWC uint8 images served one PIL image at a time, as torchvision.datasets.CIFAR10 does."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: transforms.Compose) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def synthetic(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random uint8 images (N, 3, 32, 32) and labels of 10 classes."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator),
            torch.randint(0, 10, (count,), generator=generator))


def fresh_model(width: float, device: torch.device) -> nn.Module:
    torch.manual_seed(0)
    model = resnet(18, in_channels=3, num_classes=10, width=width).to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def dataloader_epochs(images: torch.Tensor, labels: torch.Tensor, setting: Setting, workers: int,
                      device: torch.device) -> list[float]:
    """Seconds of each epoch (warm-up first) of the standard DataLoader + transforms recipe."""
    mean, std = channel_stats(images)
    transform = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor(), transforms.Normalize(mean.tolist(), std.tolist())])
    dataset = PILImages(images.permute(0, 2, 3, 1).numpy(), labels.numpy(), transform)
    cuda = device.type == "cuda"
    loader = DataLoader(dataset, batch_size=setting.batch_size, shuffle=True, num_workers=workers, pin_memory=cuda,
                        persistent_workers=workers > 0, drop_last=False)
    model = fresh_model(setting.width, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=TRAINING["lr"], momentum=TRAINING["momentum"],
                                nesterov=True, weight_decay=TRAINING["weight_decay"])
    seconds = []
    for _ in range(1 + setting.epochs):
        start = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        for inputs, targets in loader:
            inputs = inputs.to(device, non_blocking=True)  # pinned: the copy overlaps the previous step
            if cuda:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            targets = targets.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
                loss = F.cross_entropy(model(inputs).float(), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
        loss_sum.item()  # one read-back per epoch, as the harness does
        seconds.append(time.perf_counter() - start)
    return seconds


def harness_epochs(images: torch.Tensor, labels: torch.Tensor, setting: Setting, device: torch.device,
                   compiled: bool = False) -> list[float]:
    """Seconds of each epoch (warm-up first) of `fit` on an `ImageSplit` on the device (validation included)."""
    mean, std = channel_stats(images)
    held_out = ImageSplit(images[:256], labels[:256], mean, std)  # a small validation/test split: timing is training
    data = Data(ImageSplit(images, labels, mean, std, pad=4, flip=True), held_out, held_out, 10).to(device)
    model = fresh_model(setting.width, device)
    config = {**TRAINING, "batch_size": setting.batch_size}
    if compiled:  # with torch.compile's own CUDA graphs (the executor's `compile` option is its default mode)
        model = torch.compile(model, mode="reduce-overhead")
    sync(device)
    result = fit(model, data, config, epochs=1 + setting.epochs, seed=0)
    return [record.seconds for record in result.curve]


def per_epoch(seconds: list[float]) -> float:
    """The median epoch after the warm-up one (which pays for worker start-up, autotuning, compilation)."""
    return statistics.median(seconds[1:])


def run(full: bool = False) -> dict:
    """Both pipelines in one process; the figures, and a one-line summary with their ratio."""
    setting = FULL if full else SMALL
    device = resolve_device("auto")
    images, labels = synthetic(setting.images)
    loader = {workers: per_epoch(dataloader_epochs(images, labels, setting, workers, device))
              for workers in setting.workers}
    best_workers = min(loader, key=loader.get)
    eager = per_epoch(harness_epochs(images, labels, setting, device))
    figures = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "cpu_cores": os.cpu_count(), "torch": torch.__version__, "images": setting.images, "width": setting.width,
        "batch_size": setting.batch_size, "timed_epochs": setting.epochs,
        "dataloader_s_per_epoch": {str(w): round(s, 3) for w, s in loader.items()},
        "dataloader_best_workers": best_workers,
        "dataloader_images_per_s": round(setting.images / loader[best_workers]),
        "harness_s_per_epoch": round(eager, 3),
        "harness_images_per_s": round(setting.images / eager),
        "ratio": round(loader[best_workers] / eager, 2),
    }
    figures["compiled_s_per_epoch"] = None  # torch.compile is measured with --full on a GPU only
    if setting.compile and device.type == "cuda":
        try:
            compiled = harness_epochs(images, labels, setting, device, compiled=True)
        except Exception as error:  # a compiler failure is a finding to record, not a reason to lose the rest
            figures["compiled_error"] = f"{type(error).__name__}: {error}"[:500]
        else:
            figures["compiled_s_per_epoch"] = round(per_epoch(compiled), 3)
            figures["compiled_first_epoch_s"] = round(compiled[0], 1)  # includes compilation
            figures["compiled_ratio"] = round(loader[best_workers] / per_epoch(compiled), 2)
            figures["compiled_by"] = "torch.compile(mode='reduce-overhead')"
    figures["summary"] = (
        f"image pipeline, ResNet-18 x{setting.width} on {setting.images} images, batch {setting.batch_size}, "
        f"{figures['device']}: DataLoader ({best_workers} workers) {loader[best_workers]:.2f} s/epoch, "
        f"harness {eager:.2f} s/epoch"
        + (f", compiled {figures['compiled_s_per_epoch']:.2f} s/epoch" if figures["compiled_s_per_epoch"] else "")
        + f"; harness {figures['ratio']}x the DataLoader's speed"
        + (f" ({figures['compiled_ratio']}x compiled)" if figures["compiled_s_per_epoch"] else ""))
    return figures



if __name__ == "__main__":  # the suite's entry point, so this run is recorded like any other
    from benchmarks import main

    raise SystemExit(main(["image_pipeline", *sys.argv[1:]]))
