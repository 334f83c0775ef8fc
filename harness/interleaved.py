"""K trials trained in turns in one process, each on its own CUDA stream (`executor: batched` on a GPU).

Once a trial replays its training step from a CUDA graph (harness.graphs), a step costs the host one
launch and the GPU a fraction of its width for a small model. Taking turns, the host launches the
next trial's step while the last one's kernels still run, and the GPU runs the trials' kernels side
by side on their streams. Nothing is stacked: each member is its trial exactly as trained alone, by
the trainer's own loop (`harness.trainer.training`), with its own model, optimizer, graphs, schedule,
data order, dropout masks and validation, so its numbers are the lone trial's. A member that diverges
or is pruned stops taking turns.

The global random generators are shared, so each member keeps its own state and has it put in place
for its turns (`RandomState`). On a GPU that state is a graph-safe generator state of its own: a CUDA
graph reads its random offsets from the state that was in place when it was recorded, so graphs of
members replaying side by side never draw from, or move, each other's offsets.

Every piece of a member's GPU work runs on its own stream, so no tensor crosses streams; members set
up (channels_last copies of their weights) before any takes a step.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from harness.stacked import MemberHook, Outcome
from harness.task import Data
from harness.trainer import FitResult, training


def on_stream(stream: torch.cuda.Stream | None) -> contextlib.AbstractContextManager:
    """Run on `stream`; off CUDA there are no streams and turns simply alternate."""
    return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()


class RandomState:
    """A member's own state of the global random generators (the CPU's and, on a GPU, the device's)."""

    def __init__(self, device: torch.device) -> None:
        self.cpu = torch.get_rng_state()
        self.generator = cuda_generator(device)
        self.own = None if self.generator is None else self.generator.clone_state()

    @contextlib.contextmanager
    def in_place(self) -> Iterator[None]:
        """The member's state in place for the block, and kept for its next turn."""
        torch.set_rng_state(self.cpu)
        if self.generator is not None:
            self.generator.graphsafe_set_state(self.own)
        try:
            yield
        finally:
            self.cpu = torch.get_rng_state()


def cuda_generator(device: torch.device) -> torch.Generator | None:
    """The device's default generator, None off CUDA."""
    if device.type != "cuda":
        return None
    return torch.cuda.default_generators[device.index if device.index is not None else torch.cuda.current_device()]


@contextlib.contextmanager
def callers_random_state(device: torch.device) -> Iterator[None]:
    """Give the caller back its generators' states, as they were, after the members have had theirs in place."""
    cpu, generator = torch.get_rng_state(), cuda_generator(device)
    callers = None if generator is None else generator.graphsafe_get_state()
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if generator is not None:
            generator.graphsafe_set_state(callers)


def fit_interleaved(models: Sequence[nn.Module], data: Data, configs: Sequence[Mapping[str, Any]], epochs: int,
                    seeds: Sequence[int], on_epoch: MemberHook | None = None) -> list[Outcome]:
    """Train the models in turns, a step each; outcomes as `fit_batched` gives them.

    A member's seconds are its share of the group's wall time, in proportion to its own.
    """
    device = data.train.labels.device
    streams = [torch.cuda.Stream(device) if device.type == "cuda" else None for _ in models]
    for stream in streams:
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream(device))  # the models and data were made on this one
    runs: dict[int, Generator[None, None, FitResult]] = {
        index: training(model, data, config, epochs, seed,
                        on_epoch=None if on_epoch is None else functools.partial(on_epoch, index))
        for index, (model, config, seed) in enumerate(zip(models, configs, seeds))}
    randoms = [RandomState(device) for _ in models]
    ended: dict[int, FitResult | Exception] = {}
    own_seconds: dict[int, float] = {}
    start = time.perf_counter()
    with callers_random_state(device):
        turn(runs, streams, randoms, ended, own_seconds, start)  # each member's set-up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        while runs:
            turn(runs, streams, randoms, ended, own_seconds, start)
    return shares(ended, own_seconds, time.perf_counter() - start)


def turn(runs: dict[int, Generator[None, None, FitResult]], streams: Sequence[torch.cuda.Stream | None],
         randoms: Sequence[RandomState], ended: dict[int, FitResult | Exception], own_seconds: dict[int, float],
         start: float) -> None:
    """One step of every member still training, each on its stream with its random state; members that end
    leave `runs`."""
    for index in list(runs):
        with on_stream(streams[index]), randoms[index].in_place():
            try:
                next(runs[index])
                continue
            except StopIteration as end:
                ended[index] = end.value
            except Exception as error:  # divergence, the hook's reason (pruning), or a bad trial's own error
                ended[index] = error
        own_seconds[index] = time.perf_counter() - start
        del runs[index]


def shares(ended: Mapping[int, FitResult | Exception], own_seconds: Mapping[int, float],
           wall: float) -> list[Outcome]:
    """Outcomes whose seconds (and each epoch's) are scaled so that the members' add up to the group's wall time."""
    scale = wall / (sum(own_seconds.values()) or 1.0)
    outcomes = []
    for index in sorted(ended):
        result = ended[index]
        if isinstance(result, Exception):
            outcomes.append(Outcome(None, result, own_seconds[index] * scale))
            continue
        curve = [replace(record, seconds=record.seconds * scale) for record in result.curve]
        outcomes.append(Outcome(replace(result, curve=curve, seconds=own_seconds[index] * scale), None,
                                own_seconds[index] * scale))
    return outcomes
