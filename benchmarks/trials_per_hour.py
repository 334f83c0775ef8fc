"""Trials per hour: the harness with its defaults vs a tuning script written the usual way.

The naive baseline is what most tuning scripts look like: sequential Optuna on SQLite, fp32, a
torchvision data set behind a DataLoader with worker processes, `loss.item()` after every step.
Both sides search the same space with the same sampler and seed, so they train the same trials on
CIFAR-shaped synthetic images (torchvision's FakeData for the baseline, device-resident tensors of the
same shape for the harness). The harness runs with the local executor (one trial at a time), with
the batched one (all trials as one stack) and, on a GPU, with `processes` running WORKERS_PER_GPU
workers on the one GPU (concurrent trials fill what one small trial leaves idle; on a CPU they would
only share its cores). Target on one H100 with ResNet-18-class trials: >= 4x.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import FakeData

from benchmarks._common import SyntheticImages, run_spec, timed, trials_of
from harness.optim import optimizers, schedules
from harness.plugins import load_builtins
from harness.seeding import sampler_seed
from harness.budget import Budget
from harness.strategy import strategies
from harness.trainer import known_kwargs, resolve_device

STRATEGY = "random"
WORKERS_PER_GPU = 4
NORMALIZE = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.25,) * 3)])


def loader(size: int, image_size: int, shuffle: bool, offset: int, device: torch.device) -> DataLoader:
    data = FakeData(size, (3, image_size, image_size), 10, transform=NORMALIZE, random_offset=offset)
    return DataLoader(data, batch_size=128, shuffle=shuffle, num_workers=min(4, os.cpu_count() or 1),
                      pin_memory=device.type == "cuda")


def naive_study(task: SyntheticImages, space_overrides: dict[str, Any], trials: int, epochs: int,
                device: torch.device, storage: str) -> list[float]:
    """The baseline: one study.optimize over the same space and sampler, each trial a plain fp32 loop."""
    space = task.space().override(space_overrides)
    budget = Budget(epochs=epochs, trials=trials)
    sampler = strategies.get(STRATEGY)().plan(space, budget, sampler_seed(0, 0)).sampler
    train = loader(task.train_size, task.image_size, True, 0, device)
    val = loader(task.eval_size, task.image_size, False, task.train_size, device)

    def objective(trial: optuna.Trial) -> float:
        config = space.suggest(trial)
        model = task.network(config).to(device)
        make = optimizers.get(config["optimizer"])
        optimizer = make(model.parameters(), lr=config["lr"], **known_kwargs(make, config))
        schedule = schedules.get(config["schedule"])
        total = epochs * len(train)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: schedule(step, total, len(train)))
        for epoch in range(epochs):
            model.train()
            losses = []
            for x, y in train:
                x, y = x.to(device), y.to(device)
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
            model.eval()
            correct = 0
            with torch.no_grad():
                for x, y in val:
                    correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
            trial.report(correct / len(val.dataset), epoch)
        return correct / len(val.dataset)

    study = optuna.create_study(storage=storage, direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=trials)
    return [t.value for t in study.trials]


def run(full: bool) -> dict[str, Any]:
    load_builtins()
    device = resolve_device("auto")
    if full:
        task = SyntheticImages(model_family="resnet18", train_size=10_000, eval_size=2_000)
        fixed, trials, epochs = {"width": 64, "batch_size": 128}, 8, 2
    else:
        task = SyntheticImages(train_size=512, eval_size=256)
        fixed, trials, epochs = {"width": 8, "batch_size": 128}, 4, 2
    spec = {"name": "trials-per-hour", "tasks": [{"name": "synthetic-images", **task.model_dump()}],
            "strategies": [STRATEGY], "seeds": [0], "budget": {"trials": trials, "epochs": epochs}, "space": fixed,
            "device": str(device)}
    executors = {"harness": "local", "harness_batched": {"name": "batched", "batch_trials": trials}}
    if device.type == "cuda":
        executors["harness_processes"] = {"name": "processes", "workers_per_gpu": WORKERS_PER_GPU}
    seconds, states = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        seconds["naive"], _ = timed(lambda: naive_study(task, fixed, trials, epochs, device,
                                                        f"sqlite:///{Path(scratch) / 'naive.db'}"), device)
        for side, executor in executors.items():
            seconds[side], run_dir = timed(lambda: run_spec({**spec, "executor": executor}, Path(scratch) / side),
                                           device)
            recorded = trials_of(run_dir)
            states[side] = [t.state.name for t in recorded]
            if side == "harness":  # one trial at a time: spans and device seconds do not overlap
                local_trial = trial_seconds(recorded)
    per_hour = {side: trials * 3600 / s for side, s in seconds.items()}
    ratios = {side: per_hour[side] / per_hour["naive"] for side in executors}
    sides = ", ".join(f"{side.replace('harness_', '')} {per_hour[side]:.0f} trials/h ({ratios[side]:.2f}x)"
                      for side in executors)
    return {"summary": f"naive {per_hour['naive']:.0f} trials/h; harness: {sides} ({trials} {task.model_family} "
                       f"trials x {epochs} epochs x {task.train_size} images; target >= 4x for ResNet-18 on one H100); "
                       f"a local trial {local_trial['span']:.2f} s (the first {local_trial['first_span']:.2f} s, "
                       f"later ones {local_trial['later_span']:.2f} s), of which {local_trial['around'] * 1e3:.0f} ms "
                       f"around building and training its model, {local_trial['outside_epochs'] * 1e3:.0f} ms "
                       f"building it, setting up and testing; its first epoch {local_trial['first_epoch']:.2f} s, "
                       f"later ones {local_trial['later_epochs']:.2f} s",
            "ratio": max(ratios.values()), "ratios": ratios, "trials_per_hour": per_hour, "seconds": seconds,
            "trials": trials, "epochs": epochs, "task": task.model_dump(), "fixed": fixed, "states": states,
            "local_trial_seconds": local_trial}


def trial_seconds(recorded: list[optuna.trial.FrozenTrial]) -> dict[str, float]:
    """Where a local trial's time goes, from what the storage recorded (means over trials).

    `span` splits into `model_and_training` (its device seconds) and `around` it (sampling, storage
    writes); `model_and_training` into its epochs (training and validation) and `outside_epochs` (building
    the model, setting up, the test pass). The first trial's span is also given apart from the later ones' (it pays the process's
    one-time costs, cuDNN choosing its kernels say), and the first epoch apart from the later ones (it
    also warms up and records the graphed step)."""
    done = [t for t in recorded if t.datetime_complete is not None and "device_seconds" in t.user_attrs]
    spans = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    epochs = [[record["seconds"] for record in t.user_attrs["curve"]] for t in done]
    figures = {"span": mean(spans), "first_span": mean(spans[:1]), "later_span": mean(spans[1:]),
               "model_and_training": mean(t.user_attrs["device_seconds"] for t in done),
               "first_epoch": mean(seconds[0] for seconds in epochs if seconds),
               "later_epochs": mean(s for seconds in epochs for s in seconds[1:])}
    in_epochs = mean(sum(seconds) for seconds in epochs)
    return {**figures, "around": figures["span"] - figures["model_and_training"],
            "outside_epochs": figures["model_and_training"] - in_epochs}


def mean(values: Iterable[float]) -> float:
    """The mean, and NaN where there is nothing to average (one trial has no later trials)."""
    values = list(values)
    return sum(values) / len(values) if values else math.nan
