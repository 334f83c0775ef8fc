"""One optimizer step and the hyperparameters it reads: shared by the trainer's loop and its CUDA-graph replay."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TrainConfig:
    """The training hyperparameters the loop reads itself.

    The optimizer's and schedule's own (weight_decay, momentum, gamma, ...) go to them by keyword;
    everything else in a configuration is the model's.
    """

    lr: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "constant"
    batch_size: int = 128
    grad_clip: float = 0.0  # 0 turns clipping off; RNNs want ~1
    label_smoothing: float = 0.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrainConfig:
        return cls(**{f.name: config[f.name] for f in fields(cls) if f.name in config})


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA (no loss scaling needed); plain fp32 elsewhere. Casts are not cached across
    uses (each weight is used once a forward anyway), which CUDA-graph capture requires."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda", cache_enabled=False)


def set_lr(optimizer: torch.optim.Optimizer, lr: float | torch.Tensor) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def step_on(model: nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, labels: torch.Tensor,
            train: TrainConfig) -> torch.Tensor:
    """Forward, backward, optional clipping and the optimizer step; the loss stays on the device."""
    with autocast(labels.device):
        logits = model(inputs)
    loss = F.cross_entropy(logits.float(), labels, label_smoothing=train.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if train.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
    optimizer.step()
    return loss.detach()


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, labels: torch.Tensor,
               lr: float, train: TrainConfig) -> torch.Tensor:
    """One optimizer step at rate `lr`."""
    set_lr(optimizer, lr)
    return step_on(model, optimizer, inputs, labels, train)
