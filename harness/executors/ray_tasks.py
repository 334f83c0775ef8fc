"""The same workers as Ray tasks on a Ray cluster; the study stays in the shared storage.

Ray only places the workers (and gives each its GPUs); each task joins the run as `harness
worker` would, so a run can move between `local`, `processes`, `ray` and `harness worker` and
still resume. The storage must be one every node reaches: a journal file for a one-machine Ray
instance, PostgreSQL for a cluster. Workers given a fraction of a GPU share it, so they record no
energy (see harness/cost.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field

from harness import stopping
from harness.cost import SHARED_GPU
from harness.errors import HarnessError
from harness.executor import Executor, Hooks, executors
from harness.executors.watching import TrialWatcher, settle_failed_workers
from harness.plan import Plan
from harness.store import RunStore

POLL_SECONDS = 0.5


def join_and_work(run_dir: str, storage: str, device: str) -> None:
    """One worker, inside a Ray task; a cancel stops it as a first Ctrl-C would."""
    stopping.stop_at_every_interrupt()
    from harness.trainer import resolve_device
    from harness.worker import open_run, work

    work(open_run(Path(run_dir), storage), resolve_device(device))


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HarnessError("executor ray needs Ray: pip install -e '.[ray]'") from None
    return ray


@executors.register("ray")
class RayTasks(Executor):
    """Workers as Ray tasks on a Ray cluster (ray_address), each with gpus_per_worker GPUs."""

    shares_storage: ClassVar[bool] = True
    ray_address: str | None = None  # None: this process's Ray instance, else a new local one; "auto": the cluster's
    workers: Annotated[int, Field(gt=0)] = 2
    gpus_per_worker: Annotated[float, Field(ge=0)] = 0  # 0: workers train on CPU
    cpus_per_worker: Annotated[float, Field(gt=0)] = 1
    worker_restarts: Annotated[int, Field(ge=-1)] = 3  # Ray's max_retries: a dead worker's restarts; -1 no limit

    @property
    def shares_gpus(self) -> bool:
        """Whether a worker's GPU is a fraction of one, the rest of it another worker's."""
        return 0 < self.gpus_per_worker < 1

    def run(self, plan: Plan, store: RunStore, device: torch.device, hooks: Hooks) -> None:
        ray = import_ray()
        if not ray.is_initialized():
            with stopping.handlers_kept():
                ray.init(address=self.ray_address, log_to_driver=False, logging_level=logging.WARNING)
        tasks = self.start(ray, store)
        failures = watch(ray, tasks, TrialWatcher(plan, store, hooks))
        if stopping.requested():
            raise stopping.Stopped("stopped by Ctrl-C")
        settle_failed_workers(failures, len(tasks), hooks)

    def start(self, ray: Any, store: RunStore) -> list[Any]:
        """One Ray task per worker, each joining the run; their object refs."""
        shared = {"env_vars": {SHARED_GPU: "1"}} if self.shares_gpus else None  # then it records no energy
        task = ray.remote(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker, runtime_env=shared,
                          max_retries=self.worker_restarts)(join_and_work)
        device_name = "cuda" if self.gpus_per_worker > 0 else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES per task
        return [task.remote(str(store.dir.resolve()), store.url, device_name) for _ in range(self.workers)]


def watch(ray: Any, tasks: list[Any], watcher: TrialWatcher) -> list[str]:
    """Wait for every task, reporting their trials; what each failed one raised, in the order they ended.

    A failed task does not stop the others: they may still spend every budget. Tasks a Ctrl-C cancelled
    are not failures."""
    numbers = {ref: i for i, ref in enumerate(tasks)}
    pending, failures = list(tasks), []
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_SECONDS)
            watcher.poll()
            if stopping.requested():
                for ref in pending:  # at every poll: Ray loses a cancel that reaches a task still starting
                    ray.cancel(ref)  # a first Ctrl-C inside the task: its trial is marked, not counted
            else:
                failures += [f"worker {numbers[ref]} failed: {error}" for ref in done if (error := raised(ray, ref))]
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return failures


def raised(ray: Any, ref: Any) -> str | None:
    """The last line of the error an ended task raised (where Ray's text names the exception), None if none.

    Any RayError: the worker's own exception comes as a RayTaskError, but a worker process that died more often
    than Ray starts it again comes as a WorkerCrashedError."""
    try:
        ray.get(ref)
    except ray.exceptions.RayError as error:
        return (str(error).strip().splitlines() or [type(error).__name__])[-1].strip()
    return None
