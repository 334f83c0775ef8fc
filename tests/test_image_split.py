"""The device-resident image split: normalisation, and crop/flip augmentation that is real and seeded."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tasks.image_split import ImageSplit, channel_stats

N, C, H, W = 40, 3, 6, 5  # non-square, so a transposed index would show


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randint(0, 256, (N, C, H, W), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def split(images: torch.Tensor, **augmentation) -> ImageSplit:
    """Labels are the image numbers, so each batch says which originals it holds."""
    return ImageSplit(images, torch.arange(len(images)), *channel_stats(images), **augmentation)


def epoch(data: ImageSplit, seed: int, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(data.batches(batch_size, torch.Generator().manual_seed(seed)))
    return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])


@pytest.mark.parametrize("chunk", [N * H * W, 7 * H * W, H * W], ids=["one chunk", "7 images each", "one image each"])
def test_channel_stats_are_exact(images, chunk):
    """Counted all at once or a few images at a time (7 does not divide the 40), the statistics are float64's."""
    mean, std = channel_stats(images, chunk=chunk)
    scaled = images.double() / 255
    assert torch.allclose(mean.double(), scaled.mean((0, 2, 3)), atol=1e-6)
    assert torch.allclose(std.double(), scaled.std((0, 2, 3), unbiased=False), atol=1e-6)


def test_evaluation_batches_are_normalised_in_order(images):
    data = split(images, pad=4, flip=True)
    inputs, labels = zip(*data.batches(16))
    assert [len(x) for x in inputs] == [16, 16, 8] and torch.equal(torch.cat(labels), torch.arange(N))
    expected = (images.float() / 255 - data.mean.view(1, -1, 1, 1)) / data.std.view(1, -1, 1, 1)
    normalised = torch.cat(inputs)
    assert normalised.dtype == torch.float32 and torch.allclose(normalised, expected, atol=1e-5)
    assert normalised.mean((0, 2, 3)).abs().max() < 1e-5  # the stats are this set's own
    assert torch.allclose(normalised.std((0, 2, 3), unbiased=False), torch.ones(C), atol=1e-4)


def test_training_epochs_shuffle_every_image_once_and_are_seeded(images):
    data = split(images, pad=2, flip=True)
    first, order = epoch(data, seed=1)
    again, same_order = epoch(data, seed=1)
    other, other_order = epoch(data, seed=2)
    assert first.shape == (N, C, H, W)
    assert sorted(order.tolist()) == list(range(N)) and not torch.equal(order, torch.arange(N))
    assert torch.equal(first, again) and torch.equal(order, same_order)
    assert not torch.equal(order, other_order)


def test_flip_mirrors_about_half_of_the_images(images):
    data = split(images, flip=True)
    augmented, order = epoch(data, seed=3)
    plain = data.normalise(images[order])
    flipped = [torch.equal(a, p.flip(-1)) for a, p in zip(augmented, plain)]
    kept = [torch.equal(a, p) for a, p in zip(augmented, plain)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 <= sum(flipped) <= 30


def test_crop_is_a_shifted_window_of_the_zero_padded_image(images):
    pad = 2
    data = split(images, pad=pad)
    augmented, order = epoch(data, seed=4)
    pixels = (augmented * data.std.view(1, -1, 1, 1) + data.mean.view(1, -1, 1, 1)).mul(255).round().to(torch.uint8)
    padded = F.pad(images[order], (pad,) * 4)
    shifts = []
    for crop, source in zip(pixels, padded):
        found = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                 if torch.equal(crop, source[:, dy:dy + H, dx:dx + W])]
        assert found, "every crop is a window of the padded image"
        shifts.append(found[0])
    assert len(set(shifts)) > 5  # the windows really move


def test_crop_and_flip_together_match_a_crop_then_a_mirror(images):
    data = split(images, pad=1, flip=True)
    offsets = torch.tensor([[0, 2], [1, 1]])
    out = data.augment(images[:2], offsets, torch.tensor([True, False]))
    padded = F.pad(images[:2], (1,) * 4)
    assert torch.equal(out[0], padded[0, :, 0:H, 2:2 + W].flip(-1))
    assert torch.equal(out[1], images[1])


def test_without_augmentation_training_batches_are_only_shuffled(images):
    data = split(images)
    augmented, order = epoch(data, seed=5)
    assert torch.equal(augmented, data.normalise(images[order]))


def test_moving_keeps_the_type_and_moves_the_statistics(images):
    moved = split(images, pad=4, flip=True).to(torch.device("cpu"))
    assert isinstance(moved, ImageSplit) and moved.pad == 4 and moved.flip
    assert moved.mean.device == moved.inputs.device


def test_images_must_be_uint8_nchw(images):
    with pytest.raises(ValueError, match="uint8"):
        ImageSplit(images.float(), torch.arange(N), *channel_stats(images))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_batches_are_channels_last_and_match_the_cpu(images):
    data = split(images, pad=2, flip=True)
    on_cpu, cpu_order = epoch(data, seed=6)
    on_cuda, cuda_order = epoch(data.to(torch.device("cuda")), seed=6)
    assert on_cuda.is_cuda and on_cuda.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(cuda_order.cpu(), cpu_order)  # the draws are made on the CPU, so the epoch is the same
    assert torch.allclose(on_cuda.cpu(), on_cpu, atol=1e-5)
