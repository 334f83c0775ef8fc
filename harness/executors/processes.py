"""Worker processes on this machine, all pulling trials from one shared storage.

Each worker is `harness worker RUN_DIR --storage URL`, exactly what another machine would run; with
GPUs each is pinned to one with CUDA_VISIBLE_DEVICES (`workers_per_gpu` of them per GPU; workers that
share a GPU record no energy, see harness/cost.py). Workers run in their own process group, so a
Ctrl-C reaches them once, forwarded by this process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, ClassVar

import torch
from pydantic import Field

from harness import stopping
from harness.cost import SHARED_GPU
from harness.executor import Executor, Hooks, executors
from harness.executors.watching import TrialWatcher, settle_failed_workers
from harness.plan import Plan
from harness.store import RunStore

POLL_SECONDS = 0.5


def visible_gpus() -> list[str]:
    """The GPU ids this process may use, as CUDA_VISIBLE_DEVICES names them."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu for gpu in listed.split(",") if gpu.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def worker_envs(pins: list[str | None]) -> list[dict[str, str]]:
    """Each worker's environment: its GPU, its share of the cores, and SHARED_GPU where other workers are
    pinned to its GPU too (NVML's energy counter is the whole GPU's, so such a worker records no energy)."""
    envs = []
    for gpu in pins:
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // len(pins))))  # no oversubscribed cores
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        if gpu is not None and pins.count(gpu) > 1:
            env[SHARED_GPU] = "1"
        envs.append(env)
    return envs


@executors.register("processes")
class Processes(Executor):
    """N worker processes on this machine sharing one storage; on GPUs, workers_per_gpu per GPU, pinned."""

    shares_storage: ClassVar[bool] = True
    workers: Annotated[int | None, Field(gt=0)] = None  # default: GPUs x workers_per_gpu, else one per CPU core
    workers_per_gpu: Annotated[int, Field(gt=0)] = 1

    def run(self, plan: Plan, store: RunStore, device: torch.device, hooks: Hooks) -> None:
        pins = self.pinning(visible_gpus() if device.type == "cuda" else [])
        logs = store.dir / "workers"
        logs.mkdir(parents=True, exist_ok=True)
        children = [self.start(store, device, gpu, logs / f"worker-{i}.log", env)
                    for i, (gpu, env) in enumerate(zip(pins, worker_envs(pins)))]
        try:
            watch(children, TrialWatcher(plan, store, hooks))
        except KeyboardInterrupt:  # a second Ctrl-C: pass it on, so workers stop at once too
            for child in children:
                child.send_signal(signal.SIGINT)
            raise
        if stopping.requested():
            raise stopping.Stopped("stopped by Ctrl-C")
        failures = [failure(logs, i, child.returncode) for i, child in enumerate(children) if child.returncode != 0]
        settle_failed_workers(failures, len(children), hooks)

    def pinning(self, gpus: list[str]) -> list[str | None]:
        """Each worker's GPU: `workers_per_gpu` in turn on each (None: no GPU, train on the CPU)."""
        if not gpus:
            return [None] * (self.workers or os.cpu_count() or 1)
        count = self.workers or len(gpus) * self.workers_per_gpu
        return [gpus[i // self.workers_per_gpu % len(gpus)] for i in range(count)]

    @staticmethod
    def start(store: RunStore, device: torch.device, gpu: str | None, log: Path, env: dict[str, str]
              ) -> subprocess.Popen:
        command = [sys.executable, "-m", "harness.cli", "worker", str(store.dir), "--storage", store.url,
                   "--device", "cuda" if gpu is not None else str(device)]
        with log.open("ab") as out:
            return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def failure(logs: Path, i: int, code: int) -> str:
    """What worker i's exit and the last line of its log say."""
    log = logs / f"worker-{i}.log"
    lines = log.read_text(errors="replace").strip().splitlines() or ["(no output)"]
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}: {lines[-1]}"
    return f"worker {i} {how} (its log: {log})"


def watch(children: list[subprocess.Popen], watcher: TrialWatcher) -> None:
    """Wait for the workers, reporting their trials, and forward each Ctrl-C to them once."""
    forwarded = 0
    while None in [child.poll() for child in children]:  # each polled, so a dead one is reaped at once
        while forwarded < stopping.signals_received():
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            forwarded += 1
        watcher.poll()
        time.sleep(POLL_SECONDS)
    watcher.poll()
