"""One training loop for every task: readable top to bottom, no strategy in sight.

Data stay on the device as tensors and each split hands out its own batches (no DataLoader);
the loss is read back once per epoch, not per step, so the GPU is never stalled.
"""

from __future__ import annotations

import gc
import inspect
import math
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from harness.graphs import graphed_step
from harness.seeding import dropout_seed
from harness.optim import fused_on_gpu, optimizers
from harness.schedules import schedules
from harness.step import TrainConfig, autocast, train_step
from harness.task import Data, Split


T = TypeVar("T")


class Diverged(Exception):
    """Training produced a non-finite loss; the trial fails and records why, and the epochs it lost."""

    def __init__(self, message: str, epochs: float = 1.0) -> None:
        super().__init__(message)
        self.epochs = epochs  # trained but not on the learning curve: by default the epoch that diverged


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class FitResult:
    curve: list[EpochRecord]
    test_loss: float
    test_accuracy: float
    seconds: float
    compile_seconds: float = 0.0  # of `seconds`, those up to the end of the first step, which compiles the model

    @property
    def val_accuracy(self) -> float:
        return self.curve[-1].val_accuracy


def known_kwargs(fn: Callable, config: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `config` that `fn` takes as keyword arguments (its optional hyperparameters)."""
    accepted = inspect.signature(fn).parameters
    return {k: v for k, v in config.items() if k in accepted and accepted[k].default is not inspect.Parameter.empty}


def make_optimizer(model: nn.Module, train: TrainConfig, config: Mapping[str, Any]) -> torch.optim.Optimizer:
    """The configured optimizer over the model's parameters, with its own hyperparameters from `config`,
    fused on a GPU where PyTorch has the kernel."""
    build = optimizers.get(train.optimizer)
    return fused_on_gpu(build(model.parameters(), lr=train.lr, **known_kwargs(build, config)))


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, batch_size: int = 1024) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a split."""
    model.eval()
    loss, accuracy = scores(model, split, batch_size)
    return loss.item(), accuracy.item()


@torch.no_grad()
def scores(forward: Callable[[torch.Tensor], torch.Tensor], split: Split,
           batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy as device tensors, for logits shaped (..., batch, classes):
    one model gives scalars, a stack of K models (harness.batched) gives K of each, read back together."""
    loss_sum = correct = torch.zeros((), device=split.labels.device)
    for x, y in split.batches(batch_size):
        with autocast(y.device):
            logits = forward(x).float()
        labels = y.expand(logits.shape[:-1])
        losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none")
        loss_sum = loss_sum + losses.view(labels.shape).sum(-1)
        correct = correct + (logits.argmax(-1) == labels).sum(-1)
    return loss_sum / len(split), correct / len(split)


def tune_backends(device: torch.device) -> None:
    """Let cuDNN time its algorithms for each shape (fast, not bitwise repeatable) unless determinism was asked for."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not torch.are_deterministic_algorithms_enabled()


def prepare(model: nn.Module, device: torch.device, compile: bool = False) -> nn.Module:
    """GPU hygiene before training: cuDNN autotuning, channels_last convolutions, and torch.compile
    when asked (the first step then compiles; see FitResult)."""
    tune_backends(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return torch.compile(model) if compile else model


def device_bytes(device: torch.device) -> int:
    """Device memory held by live tensors now (0 off CUDA)."""
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else 0


def release_memory(device: torch.device, before: int) -> None:
    """Hand back what a finished trial left, so memory does not grow over hundreds of trials.

    Reference counting frees a trial's tensors as it ends; only when device memory is still above
    `before` (its level when the trial began) does a reference cycle, e.g. a caught exception's frames,
    hold them, and only then is the slow full garbage collection (~0.2 s) run.
    """
    if device.type == "cuda":
        if device_bytes(device) > before:
            gc.collect()
        torch.cuda.empty_cache()


def seconds_since(start: float, device: torch.device) -> float:
    """Wall seconds since `start` with the device's queued work included (one sync: not for every step)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def fit(model: nn.Module, data: Data, config: Mapping[str, Any], epochs: int, seed: int,
        on_epoch: Callable[[EpochRecord], None] | None = None, compile: bool = False) -> FitResult:
    """Train `model` on `data` (already on the model's device) and return its curve and test score.

    `on_epoch` sees each epoch's record after validation; a pruner raises from it to stop the trial.
    """
    return run_to_end(training(model, data, config, epochs, seed, on_epoch, compile))


def run_to_end(steps: Generator[None, None, T]) -> T:
    """What a generator returns, once it has run to its end."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def training(model: nn.Module, data: Data, config: Mapping[str, Any], epochs: int, seed: int,
             on_epoch: Callable[[EpochRecord], None] | None = None,
             compile: bool = False) -> Generator[None, None, FitResult]:
    """`fit` a step at a time: yields once set up and after every step, and returns the FitResult, so
    several trials can take turns on one device (harness.interleaved)."""
    started = time.perf_counter()  # before torch.compile, whose first call in a process loads the compiler
    train = TrainConfig.from_config(config)
    device = data.train.labels.device
    model = prepare(model, device, compile)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(dropout_seed(seed))  # a trial's masks depend on its seed alone, also when trials take turns
    optimizer = make_optimizer(model, train, config)
    graphed = graphed_step(model, optimizer, train, device)
    schedule = schedules.get(train.schedule)
    val_losses: list[float] = []  # grows each epoch; schedules that take `val_losses` (plateau) read it
    schedule_kwargs = known_kwargs(schedule, {**config, "val_losses": val_losses})
    per_epoch = data.train.num_batches(train.batch_size)
    total = epochs * per_epoch
    curve: list[EpochRecord] = []
    compile_seconds = 0.0
    yield

    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        for batch, (inputs, labels) in enumerate(data.train.batches(train.batch_size, generator)):
            # 1. learning rate for this step, from the schedule's pure function
            lr = train.lr * schedule(epoch * per_epoch + batch, total, per_epoch, **schedule_kwargs)
            # 2. forward, backward, optional clipping and the step, on one batch of device-resident tensors
            step = graphed(inputs, labels, lr) if graphed is not None else train_step(
                model, optimizer, inputs, labels, lr, train)
            loss_sum.add_(step, alpha=len(labels))  # weighted by its examples: the last batch may be short
            if compile and epoch == batch == 0:
                compile_seconds = seconds_since(started, device)  # the first step compiles the model
            yield
        # 3. one read-back per epoch: divergence check, validation, report
        train_loss = (loss_sum / len(data.train)).item()  # the mean over the epoch's examples
        val_loss, val_accuracy = evaluate(model, data.val)
        val_losses.append(val_loss)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise Diverged(f"loss became non-finite in epoch {epoch + 1} (train {train_loss}, validation {val_loss})")
        record = EpochRecord(epoch + 1, train_loss, val_loss, val_accuracy, lr, time.perf_counter() - epoch_start)
        curve.append(record)
        if on_epoch is not None:
            on_epoch(record)

    test_loss, test_accuracy = evaluate(model, data.test)
    return FitResult(curve, test_loss, test_accuracy, time.perf_counter() - started, compile_seconds)


@dataclass(frozen=True)
class RangeTest:
    """Smith's learning-rate range test (2017): a short run whose rate grows exponentially every step.

    The pick is the rate where the smoothed loss was lowest, divided by `divide` (Smith's and
    fastai's conservative rule: the minimum itself is already at the edge of stability), clipped to
    `bounds` when given: the sweep may see past a search space whose rates every strategy shares.
    """

    min_lr: float
    max_lr: float
    bounds: tuple[float, float] | None = None
    epochs: float = 1.0  # length of the sweep in epochs of training data, and at least `min_steps` steps
    min_steps: int = 20
    divide: float = 10.0
    smoothing: float = 0.9  # exponential moving average of the loss, bias-corrected
    stop_factor: float = 4.0  # stop once the smoothed loss exceeds this multiple of its best: it diverged

    def around(self, low: float, high: float) -> RangeTest:
        """The same test for the bounds `low..high` (one optimizer's own range): its sweep starts and ends as far
        outside them as this one's does outside its bounds."""
        if self.bounds is None:
            return self
        below, above = self.bounds[0] / self.min_lr, self.max_lr / self.bounds[1]
        return replace(self, min_lr=low / below, max_lr=high * above, bounds=(low, high))


@dataclass(frozen=True)
class RangeTestResult:
    lr: float
    lrs: list[float]
    losses: list[float]  # smoothed, one per step taken
    epochs: float  # what the sweep cost, in epochs, so budgets can count it


def endless_batches(split: Split, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Training batches epoch after epoch, each epoch shuffled anew."""
    while True:
        yield from split.batches(batch_size, generator)


def sweep_length(test: RangeTest, data: Data, config: Mapping[str, Any]) -> tuple[int, int]:
    """The range test's steps unless its loss diverges first (`test.epochs` of training data, and at least
    `test.min_steps`), and the batches an epoch of `config`'s batch size has, which turn steps into epochs."""
    per_epoch = data.train.num_batches(TrainConfig.from_config(config).batch_size)
    return max(test.min_steps, round(test.epochs * per_epoch)), per_epoch


def planned_sweep_epochs(test: RangeTest, data: Data, config: Mapping[str, Any]) -> float:
    """What the range test will cost, in epochs, unless it stops early: far more than `test.epochs` where an epoch
    has fewer batches than `test.min_steps`."""
    steps, per_epoch = sweep_length(test, data, config)
    return steps / per_epoch


def lr_range_test(model: nn.Module, data: Data, config: Mapping[str, Any], test: RangeTest, seed: int) -> RangeTestResult:
    """Sweep the learning rate from `test.min_lr` to `test.max_lr` on `model` and pick one; the model is spent."""
    train = TrainConfig.from_config(config)
    steps, per_epoch = sweep_length(test, data, config)
    optimizer = make_optimizer(model, train, config)
    generator = torch.Generator().manual_seed(seed)
    lrs: list[float] = []
    losses: list[float] = []
    average, taken = 0.0, 0
    model.train()
    for taken, (inputs, labels) in zip(range(1, steps + 1), endless_batches(data.train, train.batch_size, generator)):
        lr = test.min_lr * (test.max_lr / test.min_lr) ** ((taken - 1) / max(1, steps - 1))
        loss = train_step(model, optimizer, inputs, labels, lr, train)
        average = test.smoothing * average + (1 - test.smoothing) * loss.item()  # a short run: one read-back a step
        smoothed = average / (1 - test.smoothing ** taken)
        if not math.isfinite(smoothed) or (losses and smoothed > test.stop_factor * min(losses)):
            break
        lrs.append(lr)
        losses.append(smoothed)
    best = min(range(len(losses)), key=losses.__getitem__, default=0)
    if best == 0:
        raise Diverged(f"the learning-rate range test found no rate in {test.min_lr:g}..{test.max_lr:g} "
                       f"that lowered the loss", epochs=taken / per_epoch)
    low, high = test.bounds or (0.0, math.inf)
    return RangeTestResult(min(max(lrs[best] / test.divide, low), high), lrs, losses, taken / per_epoch)
