"""A training step captured once in a CUDA graph and replayed: one launch instead of hundreds.

A small model on a large GPU is bound by the host: a CIFAR ResNet-18 at batch 128 takes longer to
launch its thousand-odd kernels per step than the GPU takes to run them. Captured whole (forward,
backward, clipping and the fused optimizer step), a step costs the host a copy of the batch into
the graph's input buffers and one launch. The learning rate is a device tensor the graph reads, so
schedules still set it step by step.

Only batches of one shape (the first full batch's) replay; any other batch, such as an epoch's
shorter last one, takes the ordinary step on the same parameters and optimizer state. Capture needs
the rule's fused kernel (SGD, Adam, AdamW on a GPU: harness.optim.fused_on_gpu) and plain tensor
inputs; `graphed_step` returns None otherwise and the trainer steps as usual.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.step import TrainConfig, set_lr, step_on

WARMUP_STEPS = 3  # ordinary steps before capture: cuDNN picks its kernels and the optimizer creates its state


class GraphedStep:
    """`step(inputs, labels, lr)`: the loss as a device tensor, valid until the next call (add it up at once)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, train: TrainConfig,
                 device: torch.device) -> None:
        self.model, self.optimizer, self.train = model, optimizer, train
        self.lr = torch.zeros((), device=device)
        set_lr(optimizer, self.lr)  # the fused kernels read it from the device, in and out of the graph
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs = self.labels = self.loss = None
        self.warm = 0

    def __call__(self, inputs: torch.Tensor, labels: torch.Tensor, lr: float) -> torch.Tensor:
        self.lr.fill_(lr)
        if self.inputs is None:
            self.inputs, self.labels = inputs.clone(), labels.clone()  # the graph's buffers, in the batch's layout
        if inputs.shape != self.inputs.shape or labels.shape != self.labels.shape:
            return step_on(self.model, self.optimizer, inputs, labels, self.train)
        self.inputs.copy_(inputs)
        self.labels.copy_(labels)
        if self.graph is None:
            if self.warm < WARMUP_STEPS:
                self.warm += 1
                return self.side_stream_step()
            self.capture()
        self.graph.replay()
        return self.loss

    def side_stream_step(self) -> torch.Tensor:
        """An ordinary step on a side stream, as capture requires of the steps before it."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            loss = step_on(self.model, self.optimizer, self.inputs, self.labels, self.train)
        torch.cuda.current_stream().wait_stream(side)
        return loss

    def capture(self) -> None:
        """Record one step on the input buffers (recording runs nothing: the caller replays it)."""
        groups = self.optimizer.param_groups
        adam_like = [group for group in groups if "capturable" in group]
        for group in adam_like:  # Adam checks the flag under capture; the fused kernel is the same either way
            group["capturable"] = True
        self.optimizer.zero_grad(set_to_none=True)  # gradients are then allocated inside the graph's memory
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = step_on(self.model, self.optimizer, self.inputs, self.labels, self.train)
        for group in adam_like:
            group["capturable"] = False


def graphed_step(model: nn.Module, optimizer: torch.optim.Optimizer, train: TrainConfig,
                 device: torch.device) -> GraphedStep | None:
    """A graph-replayed step where one can be captured: on CUDA with a fused optimizer, else None."""
    fused = all(group.get("fused") for group in optimizer.param_groups)
    return GraphedStep(model, optimizer, train, device) if device.type == "cuda" and fused else None
