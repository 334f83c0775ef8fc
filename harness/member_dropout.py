"""Dropout with one rate per stacked member, for trials trained together (harness.stacked).

Stacked trials may differ in their dropout rate, but nn.Dropout's rate is a Python float of one module.
Here it is a buffer, so stacking the members stacks their rates like any other buffer: a member alone
(or vmapped) sees its one rate, and K members grouped along channels (harness.grouped) see K rates,
member k's applied to the k-th block of channels.
"""

from __future__ import annotations

import torch
from torch import nn


class MemberDropout(nn.Module):
    """Dropout whose rate is a buffer: a scalar for one member, [K] for K members laid out member-major."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.register_buffer("p", torch.tensor(float(p)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        members = x.unflatten(1, (self.p.numel(), -1))  # [B, K, channels of one member, ...]
        rates = self.p.view(-1, *[1] * (members.dim() - 2))
        keep = torch.rand_like(members) >= rates
        return (members * (keep / (1 - rates)).to(x.dtype)).reshape(x.shape)


def with_member_dropout(model: nn.Module) -> nn.Module:
    """`model` with every nn.Dropout replaced by a MemberDropout of the same rate (in place)."""
    for name, child in model.named_children():
        if isinstance(child, nn.Dropout):
            device = next(model.parameters(), torch.empty(0)).device  # the rate lives beside the weights
            setattr(model, name, MemberDropout(child.p).to(device))
        else:
            with_member_dropout(child)
    return model
