"""Images held on the device as uint8, normalised and augmented there in batch.

A CIFAR-sized training set is 150 MB as uint8, so it lives on the GPU for the whole study; each
batch is gathered, randomly cropped and flipped with one indexing operation, then normalised, with
no DataLoader, no worker processes and no per-sample Python. The random draws of an epoch are made
once on the CPU from the trainer's generator, so an epoch's augmentation is fixed by its seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.task import Split


def channel_stats(images: torch.Tensor, chunk: int = 1 << 22) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-channel mean and standard deviation of uint8 images (N, C, H, W), on the 0..1 scale.

    Counted from a 256-bin histogram per channel, built from whole images about `chunk` pixel values (4 MB of uint8)
    at a time, so no float or int64 copy of the set is made (one channel of CIFAR-10's training set is 350 MB as int64).
    """
    rows = max(1, chunk // math.prod(images.shape[2:]))
    counts = torch.zeros(images.shape[1], 256, dtype=torch.int64, device=images.device)
    for start in range(0, len(images), rows):
        for channel, part in enumerate(images[start:start + rows].transpose(0, 1)):
            counts[channel] += torch.bincount(part.flatten(), minlength=256)  # bincount reads uint8 as it is
    counts, values = counts.double(), torch.arange(256, dtype=torch.float64, device=images.device) / 255
    mean = (counts * values).sum(1) / counts.sum(1)
    std = ((counts * (values - mean[:, None]) ** 2).sum(1) / counts.sum(1)).sqrt().clamp_min(1e-6)
    return mean.float(), std.float()


@dataclass(frozen=True)
class ImageSplit(Split):
    """uint8 images (N, C, H, W) with per-channel `mean`/`std` (0..1 scale) for normalisation.

    Training epochs (a generator given) crop at random from the image padded by `pad` zero pixels
    and flip half the images left-right when `flip` is set (the standard CIFAR augmentation).
    """

    mean: torch.Tensor
    std: torch.Tensor
    pad: int = 0
    flip: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.inputs.dtype != torch.uint8 or self.inputs.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), "
                             f"but got {self.inputs.dtype} {tuple(self.inputs.shape)}")

    @property
    def augments(self) -> bool:
        return self.pad > 0 or self.flip

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 to float, (x / 255 - mean) / std per channel; channels_last on CUDA for the convolutions."""
        scale = (1 / (255 * self.std)).view(1, -1, 1, 1)
        shift = (self.mean / self.std).view(1, -1, 1, 1)
        layout = torch.channels_last if images.is_cuda else torch.contiguous_format
        return (images.float() * scale - shift).contiguous(memory_format=layout)

    def augment(self, images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        """Crop each image at its (row, column) offset into the zero-padded image, mirrored where `flips`.

        One gather does both: output column j reads padded column offset + j, or offset + W - 1 - j
        for a flipped image, so the cost does not depend on how many images are flipped.
        """
        n, _, height, width = images.shape
        padded = F.pad(images, (self.pad,) * 4)
        rows = offsets[:, :1] + torch.arange(height, device=images.device)
        columns = torch.arange(width, device=images.device).expand(n, width)
        columns = offsets[:, 1:] + torch.where(flips[:, None], width - 1 - columns, columns)
        batch = torch.arange(n, device=images.device)[:, None, None]
        return padded[batch, :, rows[:, :, None], columns[:, None, :]].permute(0, 3, 1, 2)  # (N, H, W, C) -> NCHW

    def batches(self, batch_size: int, generator: torch.Generator | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised batches; a training epoch is shuffled and, where the split augments, augmented."""
        if generator is None or not self.augments:
            for images, labels in super().batches(batch_size, generator):
                yield self.normalise(images), labels
            return
        n, device = len(self), self.labels.device
        order = torch.randperm(n, generator=generator).to(device)
        offsets = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=generator).to(device)
        flips = (torch.rand(n, generator=generator) < (0.5 if self.flip else 0.0)).to(device)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size]
            yield self.normalise(self.augment(self.inputs[index], offsets[index], flips[index])), self.labels[index]
