"""Dropout with one rate per stacked member, for trials trained together (harness.stacked).

Stacked trials may differ in their dropout rate, but nn.Dropout's rate is a Python float of one module.
Here it is a buffer, so stacking the members stacks their rates like any other buffer.
"""

from __future__ import annotations

import torch
from torch import nn


class MemberDropout(nn.Module):
    """Dropout whose rate is a buffer, so stacked members can each have their own."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.register_buffer("p", torch.tensor(float(p)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * keep / (1 - self.p)


def with_member_dropout(model: nn.Module) -> nn.Module:
    """`model` with every nn.Dropout replaced by a MemberDropout of the same rate (in place)."""
    for name, child in model.named_children():
        if isinstance(child, nn.Dropout):
            device = next(model.parameters(), torch.empty(0)).device  # the rate lives beside the weights
            setattr(model, name, MemberDropout(child.p).to(device))
        else:
            with_member_dropout(child)
    return model
