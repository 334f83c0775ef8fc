"""K members of a convolutional net run as one ordinary module of grouped operations (for harness.stacked).

vmap pays Python and dispatch overhead on every operation, and its batch norm rejects bf16. Laid out
member-major instead (K members' activations are one [B, K*C, H, W] tensor in which member k owns
channels k*C..(k+1)*C-1; flattened features [B, K*F] likewise), the K members are one plain network:
a convolution with K times the groups, a batch norm over K*C channels, a batched matrix product per
linear layer. It runs under bf16 autocast, channels_last and cuDNN like any single model.

Each member-specific module is replaced by its grouped counterpart under the same name, taking the
members' stacked parameters and buffers ([K, ...], as torch.func.stack_module_state lays them out)
through `functional_call`; K is read from their shapes at every call, so the module shrinks with the
stack. Modules that act on each channel alone (activations, pooling, flattening) and containers that
only compose their children are kept. Anything else makes the grouped form unavailable, and since a
subclass of a container may still mix channels in its forward (x.softmax(1)), which no walk over
modules sees, the grouped form is only used once it gave every member its own model's output on a
probe batch.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from harness.member_dropout import MemberDropout
from harness.trainer import autocast

Tensors = dict[str, torch.Tensor]


def member_major(stacked: torch.Tensor | None) -> torch.Tensor | None:
    """Stacked [K, C, ...] per-member tensors as [K*C, ...]: a view, so in-place updates reach the stack."""
    return None if stacked is None else stacked.view(-1, *stacked.shape[2:])


class GroupedConv2d(nn.Module):
    """K members' nn.Conv2d as one convolution with K times the groups."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members = self.weight.shape[0]
        return F.conv2d(x, member_major(self.weight), member_major(self.bias), self.stride, self.padding,
                        self.dilation, members * self.groups)


class GroupedBatchNorm(nn.Module):
    """K members' nn.BatchNorm1d/2d as one batch norm over K*C channels: statistics are per channel, so per
    member, and the running ones are updated in place in the stacked buffers, as _BatchNorm.forward does."""

    def __init__(self, norm: _BatchNorm) -> None:
        super().__init__()
        self.weight, self.bias = norm.weight, norm.bias
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(name, getattr(norm, name))
        self.momentum, self.eps = norm.momentum, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(x, member_major(self.running_mean), member_major(self.running_var),
                            member_major(self.weight), member_major(self.bias),
                            self.training or self.running_mean is None, self.momentum, self.eps)


class GroupedLinear(nn.Module):
    """K members' nn.Linear on member-major features [..., K*in] as one batched matrix product."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members, outputs, inputs = self.weight.shape
        rows = x.reshape(-1, members, inputs).transpose(0, 1)  # [K, N, in]
        weight = self.weight.transpose(1, 2)
        y = torch.bmm(rows, weight) if self.bias is None else torch.baddbmm(self.bias.unsqueeze(1), rows, weight)
        return y.transpose(0, 1).reshape(*x.shape[:-1], members * outputs)


def grouped_conv(conv: nn.Conv2d) -> nn.Module | None:
    """None for padding modes other than zeros (not needed by any model here)."""
    return GroupedConv2d(conv) if conv.padding_mode == "zeros" else None


def grouped_batch_norm(norm: _BatchNorm) -> nn.Module | None:
    """None for a cumulative average (momentum=None): its factor is each member's own 1/batches seen, and
    F.batch_norm takes one factor."""
    return GroupedBatchNorm(norm) if norm.momentum is not None else None


GROUPED: dict[type[nn.Module], Callable[[nn.Module], nn.Module | None]] = {
    nn.Conv2d: grouped_conv, nn.BatchNorm1d: grouped_batch_norm, nn.BatchNorm2d: grouped_batch_norm,
    nn.Linear: GroupedLinear,
}
PER_CHANNEL = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid,
               nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Identity, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
               nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
               MemberDropout)  # its rates are already per member
@functools.cache
def compositions() -> tuple[type[nn.Module], ...]:
    """Containers whose forward composes their children and adds residuals (torchvision's blocks: imported here,
    when a stack is grouped, not with this module, since importing torchvision takes 1.5 s)."""
    from torchvision.models.resnet import BasicBlock, Bottleneck

    return nn.Sequential, BasicBlock, Bottleneck


def keeps_members_apart(module: nn.Module) -> bool:
    """Whether `module`, kept as it is, acts on each member's channels alone (given its children do)."""
    if isinstance(module, nn.Flatten):
        return module.start_dim == 1  # [B, K*C, H, W] -> [B, K*C*H*W] is member-major
    return isinstance(module, PER_CHANNEL + compositions())


def grouped_module(module: nn.Module) -> nn.Module | None:
    """`module` with its member-specific modules replaced by grouped ones (in place), or None if some module is
    not known to keep members apart."""
    if type(module) in GROUPED:  # exactly: a subclass may have its own forward
        return GROUPED[type(module)](module)
    if not keeps_members_apart(module):
        return None
    for name, child in module.named_children():
        replacement = grouped_module(child)
        if replacement is None:
            return None
        setattr(module, name, replacement)
    return module


@dataclass
class Grouped:
    """The stack's forward as one grouped module, in bf16 autocast and channels_last on CUDA."""

    module: nn.Module
    channels_last: bool

    def logits(self, params: Tensors, buffers: Tensors, inputs: torch.Tensor) -> torch.Tensor:
        """Each member's logits [K, B, classes] on its own batch (inputs [K, B, C, ...])."""
        with autocast(inputs.device):
            return self._logits(params, buffers, inputs.transpose(0, 1).flatten(1, 2))

    def shared_logits(self, params: Tensors, buffers: Tensors, x: torch.Tensor) -> torch.Tensor:
        """Each member's logits [K, B, classes] on one batch x [B, C, ...] that all see (evaluation)."""
        members = next(iter(params.values())).shape[0]
        return self._logits(params, buffers, x.repeat(1, members, *[1] * (x.dim() - 2)))

    def _logits(self, params: Tensors, buffers: Tensors, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        members = next(iter(params.values())).shape[0]
        return functional_call(self.module, (params, buffers), (x,)).unflatten(1, (members, -1)).movedim(1, 0)


def grouped(models: Sequence[nn.Module], channels_last: bool) -> Grouped | None:
    """The members as one grouped module, or None where some module is not known to keep members apart. The
    caller checks on a probe batch that it gives every member its own output (harness.stacked)."""
    module = grouped_module(copy.deepcopy(models[0]).to("meta"))
    return None if module is None else Grouped(module, channels_last)
