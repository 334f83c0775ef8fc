"""Training steps captured in CUDA graphs and replayed: one launch instead of hundreds.

A small model on a large GPU is bound by the host: a CIFAR ResNet-18 at batch 128 takes longer to
launch its thousand-odd kernels per step than the GPU takes to run them, and so does a BERT-style
encoder on short texts. Captured whole (forward, backward, clipping and the fused optimizer step), a
step costs the host a copy of the batch into the graph's input buffers and one launch. The learning
rate is a device tensor the graphs read, so schedules still set it step by step.

Each batch shape gets its own graph, after a few ordinary steps of that shape (up to MAX_GRAPHS of
them; text batches come in a handful of widths, multiples of 8); once a step cannot be captured (it
reads a value back), shapes not yet captured step as usual. Plain tensor batches are keyed by
shape; any other batch type replays only for a model that vouches for it with a `graph_key(batch)`
method (the Transformer's token batches: ids and a padding flag, nothing the host reads). Capture
needs the rule's fused kernel (SGD, Adam, AdamW on a GPU: harness.optim.fused_on_gpu); `graphed_step`
returns None otherwise, and for a model torch.compile wrapped, and the trainer steps as usual.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from harness.step import TrainConfig, set_lr, step_on

WARMUP_STEPS = 3  # ordinary steps of a shape before its capture: cuDNN picks its kernels, the optimizer makes its state
MAX_GRAPHS = 32  # distinct batch shapes captured per trial; further shapes step as usual

log = logging.getLogger(__name__)


def batch_key(model: nn.Module, inputs: Any, labels: torch.Tensor) -> Hashable | None:
    """What must match for one captured step to replay a batch: its shapes (and what the model says
    of its own batch types), or None for a batch that can only step as usual."""
    if isinstance(inputs, torch.Tensor):
        key: Hashable | None = (inputs.shape, inputs.dtype)
    else:
        vouch = getattr(model, "graph_key", None)
        key = vouch(inputs) if vouch is not None else None
    return None if key is None else (key, labels.shape)


def buffers_like(batch: Any) -> Any:
    """Copies of a batch (a tensor, or a NamedTuple of tensors and plain values) for a graph to read from."""
    if isinstance(batch, torch.Tensor):
        return batch.clone()
    if isinstance(batch, tuple):
        return type(batch)(*(buffers_like(field) for field in batch))
    return batch


def copy_into(buffers: Any, batch: Any) -> None:
    """Write a batch into buffers made by `buffers_like` from one of the same key."""
    if isinstance(buffers, torch.Tensor):
        buffers.copy_(batch)
    elif isinstance(buffers, tuple):
        for buffer, field in zip(buffers, batch):
            copy_into(buffer, field)


@dataclass
class Capture:
    """One batch key's input buffers, ordinary steps taken so far, and its graph once recorded."""

    inputs: Any
    labels: torch.Tensor
    warm: int = 0
    graph: torch.cuda.CUDAGraph | None = None
    loss: torch.Tensor | None = None


class GraphedStep:
    """`step(inputs, labels, lr)`: the loss as a device tensor, valid until the next call (add it up at once)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, train: TrainConfig,
                 device: torch.device) -> None:
        self.model, self.optimizer, self.train = model, optimizer, train
        self.lr = torch.zeros((), device=device)
        set_lr(optimizer, self.lr)  # the fused kernels read it from the device, in and out of the graphs
        # One memory pool for all the graphs: they replay one at a time, each step's temporaries die within it.
        self.pool = torch.cuda.graph_pool_handle()
        self.captures: dict[Hashable, Capture | None] = {}  # None: a key that steps as usual
        self.recording = True  # until a capture fails

    @property
    def graphs(self) -> int:
        return sum(1 for capture in self.captures.values() if capture is not None and capture.graph is not None)

    def __call__(self, inputs: Any, labels: torch.Tensor, lr: float) -> torch.Tensor:
        self.lr.fill_(lr)
        key = batch_key(self.model, inputs, labels)
        capture = self.capture_for(key, inputs, labels)
        if capture is None:
            return step_on(self.model, self.optimizer, inputs, labels, self.train)
        copy_into(capture.inputs, inputs)
        capture.labels.copy_(labels)
        if capture.graph is None:
            if capture.warm < WARMUP_STEPS:
                capture.warm += 1
                return self.side_stream_step(capture)
            if not self.record(capture):
                return step_on(self.model, self.optimizer, inputs, labels, self.train)
        capture.graph.replay()
        return capture.loss

    def capture_for(self, key: Hashable | None, inputs: Any, labels: torch.Tensor) -> Capture | None:
        """The key's capture, begun on its first batch while there is room for another graph."""
        if key is None:
            return None
        if self.recording and key not in self.captures and len(self.captures) < MAX_GRAPHS:
            self.captures[key] = Capture(buffers_like(inputs), labels.clone())
        return self.captures.get(key)

    def side_stream_step(self, capture: Capture) -> torch.Tensor:
        """An ordinary step on a side stream, as capture requires of the steps before it."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            loss = step_on(self.model, self.optimizer, capture.inputs, capture.labels, self.train)
        torch.cuda.current_stream().wait_stream(side)
        # The caller adds the loss up on its stream; the allocator only knows the side stream, a pooled one that
        # may be another trial's (harness.interleaved), which must not reuse the loss's memory before that add.
        loss.record_stream(torch.cuda.current_stream())
        return loss

    def record(self, capture: Capture) -> bool:
        """Record one step on the capture's buffers (recording runs nothing: the caller replays it).

        A step that cannot be captured (a library reading a value back mid-step) leaves this key, and
        every key not yet recorded, to ordinary steps from then on: slower, never wrong. A failed capture
        leaves torch.cuda.graph's own stream current, which is undone here, and the graphs' memory pool
        marked as being recorded into, so no later capture into it could succeed."""
        groups = self.optimizer.param_groups
        adam_like = [group for group in groups if "capturable" in group]
        for group in adam_like:  # Adam checks the flag under capture; the fused kernel is the same either way
            group["capturable"] = True
        self.optimizer.zero_grad(set_to_none=True)  # gradients are then allocated inside the graphs' memory
        graph = torch.cuda.CUDAGraph()
        caller = torch.cuda.current_stream()
        # On the trial's own stream where it has one (harness.interleaved): PyTorch gives cuBLAS one workspace per
        # stream and the graph keeps its address, so the graphs of trials recorded on one shared stream would write
        # one workspace while they replay side by side (and, in recent torch, destroying a finished trial's graphs
        # frees it under the others: pytorch/pytorch#193402).
        own = None if caller == torch.cuda.default_stream() else caller
        try:
            with torch.cuda.graph(graph, pool=self.pool, stream=own):
                capture.loss = step_on(self.model, self.optimizer, capture.inputs, capture.labels, self.train)
            capture.graph = graph
        except RuntimeError as error:
            log.warning("a training step could not be captured in a CUDA graph; shapes not yet captured step as "
                        "usual: %s", error)
            self.recording = False
            self.captures = {k: c if c is not None and c.graph is not None else None for k, c in self.captures.items()}
        finally:
            torch.cuda.set_stream(caller)
            for group in adam_like:
                group["capturable"] = False
        return capture.graph is not None


def graphed_step(model: nn.Module, optimizer: torch.optim.Optimizer, train: TrainConfig,
                 device: torch.device) -> GraphedStep | None:
    """Graph-replayed steps where they can be captured: on CUDA with a fused optimizer, for a model that
    torch.compile has not wrapped (its "reduce-overhead" mode records graphs of its own, which are not
    made to be recorded again inside another capture), else None."""
    fused = all(group.get("fused") for group in optimizer.param_groups)
    if device.type != "cuda" or not fused or compiled(model):
        return None
    return GraphedStep(model, optimizer, train, device)


def compiled(model: nn.Module) -> bool:
    """Whether torch.compile wrapped the model (torch._dynamo is loaded by then; it is not imported here, which
    takes a second)."""
    dynamo = sys.modules.get("torch._dynamo")
    return dynamo is not None and isinstance(model, dynamo.OptimizedModule)
