"""Dropout with one rate per stacked member, for trials trained together (harness.stacked).

Stacked trials may differ in their dropout rate, but nn.Dropout's rate is a Python float of one module.
Here it is a buffer, so stacking the members stacks their rates like any other buffer: a member alone
sees its one rate, and K members grouped along channels (harness.grouped) see K rates, member k's
applied to the k-th block of channels.

Each member's mask is drawn as nn.Dropout draws it for the member alone (the same operations on a
tensor of the same shape), from the member's own generator where the stack hands it one
(`use_generators`), else from the global one. So a stacked member's masks are those of its lone trial,
whose global generator the trainer seeds the same way, and no member's draws move another's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MemberDropout(nn.Module):
    """Dropout whose rate is a buffer: a scalar for one member, [K] for K members laid out member-major."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.register_buffer("p", torch.tensor(float(p), dtype=torch.float64))  # the rate exactly as nn.Dropout's
        self.generators: Sequence[torch.Generator] | None = None  # one per member, in the stack's order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        rates = self.p.reshape(-1)
        rates = rates.tolist() if rates.device.type == "cpu" else list(rates)  # a GPU's rates are not read back
        generators = self.generators or [None] * len(rates)
        members = x.unflatten(1, (len(rates), -1))  # [B, K, channels of one member, ...]
        scales = [dropout_scale(members[:, k], rate, generator) for k, (rate, generator) in
                  enumerate(zip(rates, generators, strict=True))]
        return (members * torch.stack(scales, 1)).reshape(x.shape)


def dropout_scale(x: torch.Tensor, p: float | torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """What dropout multiplies `x` by: 0 where a unit drops, 1/(1-p) where it stays. A rate given as a float is
    drawn with the operations F.dropout uses on a CPU (no draw at all for p of 0 or 1), so equal generators give
    equal masks; one given as a device tensor is drawn without reading it back (a GPU's F.dropout is a fused
    kernel of its own, whose masks no other operation reproduces)."""
    if isinstance(p, torch.Tensor):
        return torch.empty_like(x).bernoulli_(1 - p, generator=generator).div_((1 - p).clamp_min(1e-12))
    if p == 0:
        return torch.ones_like(x)
    if p == 1:
        return torch.zeros_like(x)
    return torch.empty_like(x).bernoulli_(1 - p, generator=generator).div_(1 - p)


def with_member_dropout(model: nn.Module) -> nn.Module:
    """`model` with every nn.Dropout replaced by a MemberDropout of the same rate (in place)."""
    for name, child in model.named_children():
        if isinstance(child, nn.Dropout):
            device = next(model.parameters(), torch.empty(0)).device  # the rate lives beside the weights
            setattr(model, name, MemberDropout(child.p).to(device))
        else:
            with_member_dropout(child)
    return model


def has_dropout(model: nn.Module) -> bool:
    return any(isinstance(module, MemberDropout) for module in model.modules())


def use_generators(model: nn.Module, generators: Sequence[torch.Generator]) -> None:
    """Draw each member's masks from its generator from now on; the stack keeps the sequence in step with its members."""
    for module in model.modules():
        if isinstance(module, MemberDropout):
            module.generators = generators
