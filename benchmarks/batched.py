"""Batched trials: K configurations trained together vs the same K one at a time.

The K configurations are drawn at random from the synthetic task's space with the architecture and
batch size fixed (what a stack needs), and dropout off (trained together, its masks come from another
random stream, which would hide the agreement of the sides' accuracies). Every side trains the same
trials with the same seeds: one at a time through the harness's trainer (`fit`), as one stacked model
(`fit_batched`) and, on a GPU, taking turns on CUDA streams (`fit_interleaved`). The figure is trials
per hour of the way `executor: batched` takes on this device (turns on a GPU, a stack elsewhere)
against one at a time; every side's validation accuracies are recorded to show they agree.
Targets: K=16 small conv nets >= 5x on one H100, ResNet-18 >= 2x; tiny models on a 2-core CPU >= 1.3x.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import torch

from benchmarks._common import SyntheticImages, timed
from harness.interleaved import fit_interleaved
from harness.seeding import training_seed
from harness.stacked import Outcome, fit_batched
from harness.trainer import device_bytes, fit, release_memory, resolve_device


TrainTogether = Callable[..., list[Outcome]]  # fit_batched or fit_interleaved


def random_configs(task: SyntheticImages, fixed: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """K seeded random configurations of the task's space with `fixed` held."""
    space = task.space().override(fixed)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return [space.suggest(study.ask()) for _ in range(k)]


def compare(task: SyntheticImages, fixed: dict[str, Any], k: int, epochs: int,
            device: torch.device) -> dict[str, Any]:
    """Seconds for K trials one at a time and for the same K batched, and both sides' accuracies."""
    data = task.data().to(device)
    configs = random_configs(task, fixed, k)
    seeds = [training_seed(0, i) for i in range(k)]

    def model(i: int) -> torch.nn.Module:
        torch.manual_seed(seeds[i])
        return task.model(configs[i], data).to(device)

    def one_at_a_time() -> list[float]:
        return [fit(model(i), data, configs[i], epochs, seeds[i]).val_accuracy for i in range(k)]

    def together(train: TrainTogether) -> Callable[[], list[float]]:
        def trials() -> list[float]:
            results = train([model(i) for i in range(k)], data, configs, epochs, seeds)
            return [o.result.val_accuracy if o.result else float("nan") for o in results]
        return trials

    sides = {"sequential": one_at_a_time, "stacked": together(fit_batched)}
    if device.type == "cuda":
        sides["interleaved"] = together(fit_interleaved)
    fit(model(0), data, configs[0], 1, seeds[0])  # warm-up: allocator, cuDNN autotuning
    fit_batched([model(0), model(1)], data, configs[:2], 1, seeds[:2])
    seconds, accuracy = {}, {}
    before = device_bytes(device)
    for side, trials in sides.items():
        seconds[side], accuracy[side] = timed(trials, device)
        release_memory(device, before)
    batched = "interleaved" if device.type == "cuda" else "stacked"  # what `executor: batched` does here
    return {"k": k, "epochs": epochs, "task": task.model_dump(), "fixed": fixed, "batched_by": batched,
            "sequential_seconds": seconds["sequential"], "batched_seconds": seconds[batched],
            "speedup": seconds["sequential"] / seconds[batched],
            "speedups": {side: seconds["sequential"] / seconds[side] for side in sides if side != "sequential"},
            "seconds": seconds, "val_accuracy": accuracy}


def run(full: bool) -> dict[str, Any]:
    device = resolve_device("auto")
    if full:
        cases = {"cnn": compare(SyntheticImages(train_size=50_000, eval_size=5_000),
                                {"width": 32, "batch_size": 256, "dropout": 0.0}, 16, 2, device),
                 "resnet18": compare(SyntheticImages(model_family="resnet18", train_size=10_000, eval_size=2_000),
                                     {"width": 64, "batch_size": 128, "dropout": 0.0}, 16, 1, device)}
    else:
        cases = {"cnn": compare(SyntheticImages(train_size=512, eval_size=128, image_size=8),
                                {"width": 8, "batch_size": 32, "dropout": 0.0}, 8, 1, device)}
    parts = [f"{name} K={c['k']}: {c['speedup']:.2f}x ({c['sequential_seconds']:.1f} s one at a time, "
             + ", ".join(f"{c['seconds'][side]:.1f} s {side} ({c['speedups'][side]:.2f}x)" for side in c["speedups"])
             + ")" for name, c in cases.items()]
    return {"summary": "batched vs one at a time, trials/hour: " + "; ".join(parts)
                       + (" (targets: cnn >= 5x, resnet18 >= 2x on one H100)" if full else " (target >= 1.3x)"),
            "ratio": cases["cnn"]["speedup"], **cases}
