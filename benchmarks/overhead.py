"""Harness overhead: one fixed-configuration trial through the whole harness vs a bare PyTorch loop.

The harness side is what `harness run` does for one trial: spec, plan, an Optuna study in SQLite,
per-epoch reports and curve recording. The bare side trains the same model on the same data with the
same seed, optimizer and epochs in a hand-written loop with nothing around it. Both load their data
and alternate, after one warm-up each; the best of the repeats counts (others share the machine),
and on a shared CPU the ratio of this process's CPU time is recorded too. Target: ratio <= 1.05.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks._common import SyntheticImages, run_spec, timed, trials_of
from harness.seeding import training_seed
from harness.trainer import resolve_device

CONFIG = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4,
          "schedule": "constant", "batch_size": 128, "width": 16, "dropout": 0.0}


def bare_loop(task: SyntheticImages, epochs: int, seed: int, device: torch.device) -> float:
    """The trial written the usual way with nothing around it; returns its last validation accuracy."""
    data = task.data().to(device)
    torch.manual_seed(seed)
    model = task.model(CONFIG, data).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=CONFIG["lr"], momentum=CONFIG["momentum"],
                                weight_decay=CONFIG["weight_decay"])
    generator = torch.Generator().manual_seed(seed)
    train, batch = data.train, CONFIG["batch_size"]
    autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train), generator=generator).to(device)
        for start in range(0, len(train), batch):
            index = order[start:start + batch]
            with torch.autocast(**autocast):
                logits = model(train.inputs[index])
            loss = F.cross_entropy(logits.float(), train.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad(), torch.autocast(**autocast):
            correct = sum((model(x).argmax(-1) == y).sum() for x, y in data.val.batches(1024))
        val_accuracy = (correct / len(data.val)).item()
    with torch.no_grad(), torch.autocast(**autocast):
        sum((model(x).argmax(-1) == y).sum() for x, y in data.test.batches(1024)).item()
    return val_accuracy


def harness_trial(task_options: Mapping[str, Any], epochs: int, device: torch.device, name: str) -> Path:
    """The same trial as one cell of a spec (manual strategy, everything fixed); returns its run directory."""
    spec = {"name": name, "tasks": [{"name": "synthetic-images", **task_options}], "strategies": ["manual"],
            "seeds": [0], "budget": {"trials": 1, "epochs": epochs}, "space": CONFIG, "device": str(device)}
    return run_spec(spec)


def measure(options: Mapping[str, Any], epochs: int, repeats: int) -> dict[str, Any]:
    """Alternate the harness trial and the bare loop `repeats` times after a warm-up of each."""
    device = resolve_device("auto")
    task = SyntheticImages(**options)
    seed = training_seed(0, 0)  # what the harness gives trial 0 of seed 0
    bare_loop(task, 1, seed, device)  # warm-up: imports, allocator, cuDNN autotuning
    harness_trial(options, 1, device, "warmup")
    wall: dict[str, list[float]] = {"harness": [], "bare": []}
    cpu: dict[str, list[float]] = {"harness": [], "bare": []}  # this process's CPU time: less disturbed by others
    for i in range(repeats):
        for side, trial in (("harness", lambda: harness_trial(options, epochs, device, f"overhead-{i}")),
                            ("bare", lambda: bare_loop(task, epochs, seed, device))):
            cpu_start = time.process_time()
            seconds, result = timed(trial, device)
            wall[side].append(seconds)
            cpu[side].append(time.process_time() - cpu_start)
            if side == "harness":
                harness_accuracy = trials_of(result)[0].value
            else:
                bare_accuracy = result
    best = {side: min(times) for side, times in wall.items()}  # the least disturbed by other processes
    ratio, cpu_ratio = best["harness"] / best["bare"], min(cpu["harness"]) / min(cpu["bare"])
    return {"summary": f"harness trial {best['harness']:.2f} s vs bare loop {best['bare']:.2f} s: ratio {ratio:.3f} "
                       f"(CPU-time ratio {cpu_ratio:.3f}; target <= 1.05; {epochs} epochs x {task.train_size} images, "
                       f"best of {repeats})",
            "ratio": ratio, "cpu_time_ratio": cpu_ratio, "wall_seconds": wall, "cpu_seconds": cpu,
            "epochs": epochs, "repeats": repeats, **options, "config": CONFIG,
            "harness_val_accuracy": harness_accuracy, "bare_val_accuracy": bare_accuracy}


def run(full: bool) -> dict[str, Any]:
    if full:
        return measure({"train_size": 50_000, "eval_size": 5_000}, epochs=5, repeats=3)
    return measure({"train_size": 4096, "eval_size": 512}, epochs=3, repeats=2)
