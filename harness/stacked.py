"""K configurations of one architecture trained at once, as one stacked model (for `executor: batched`).

A small network leaves most of a GPU idle, so K trials that differ only in optimizer
hyperparameters, schedule, dropout rate or initialisation seed are trained together: one
forward/backward serves all K. A convolutional net runs as one module of grouped operations
(harness.grouped) in bf16 autocast and channels_last, as a single model trains; any other model as a
vmapped functional call over the stacked parameters (torch.func), in fp32; and a model vmap cannot run
(the text models: their batches keep lengths on the host, and packing reads them) trains its members one
after another, exactly as alone. Each member keeps what
makes it its own trial: its parameters and optimizer (from the same registry as the trainer), its
learning-rate schedule, its data order (its own generator over the same split) and its curve.
Members are independent: the summed loss gives each member exactly its own gradient, so a member that
diverges or is pruned leaves the batch and the others go on as if it had never been there, and each
member's curve equals the same trial trained alone by `fit` (within float tolerance), dropout masks
included: each member draws them from its own generator, seeded as its lone trial seeds the global one
(harness.member_dropout). A stack runs only once it gave every member its own model's output on a probe
batch; models that differ in more than their parameters' values (an activation's slope, say) are not
stacked together.

BatchNorm works: each member's running statistics are its own slice of the stacked buffers, which the
grouped or vmapped batch norm updates in place, and which go back into the member's model when it
leaves the stack. Models must be built from standard modules whose dropout layers are `nn.Dropout`
(they get a per-member rate); a model with dropout is stacked only in the grouped form, since vmap runs
one forward for all members and cannot give each its own generator.
"""

from __future__ import annotations

import copy
import functools
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from harness.grouped import Tensors, grouped
from harness.member_dropout import has_dropout, use_generators, with_member_dropout
from harness.optim import schedules
from harness.seeding import dropout_seed
from harness.step import set_lr
from harness.task import Data, Split
from harness.trainer import (Diverged, EpochRecord, FitResult, TrainConfig, fit, known_kwargs, make_optimizer, scores,
                             seconds_since, tune_backends)

MemberHook = Callable[[int, EpochRecord], None]  # (member index, record); raising takes the member out
PROBE_SIZE = 4  # validation examples on which a stack must reproduce every member before it is used
PROBE_TOLERANCE = 1e-2  # relative to the output's norm: GPUs convolve fp32 in TF32; mixing channels is off by O(1)


def architecture(model: nn.Module) -> tuple:
    """What must be equal for models to be stacked: module types and settings (an activation's slope, a
    convolution's stride) and every parameter's and buffer's shape (dropout rates may differ: they become buffers)."""
    return (tuple((name, type(m).__name__, m.extra_repr()) for name, m in model.named_modules()
                  if not isinstance(m, nn.Dropout)),
            tuple((name, tuple(t.shape), t.dtype) for name, t in [*model.named_parameters(), *model.named_buffers()]))


@dataclass
class Member:
    """One trial inside the batch: its own parameters, optimizer, schedule, data order and curve."""

    index: int
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]  # its model's: they get the stack's running statistics when it leaves
    train: TrainConfig
    optimizer: torch.optim.Optimizer
    schedule: Callable[..., float]
    schedule_kwargs: dict[str, Any]
    generator: torch.Generator  # its data order
    dropout_generator: torch.Generator  # its dropout masks
    val_losses: list[float]  # grows each epoch; schedules that take `val_losses` (plateau) read it
    curve: list[EpochRecord] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def of(cls, index: int, model: nn.Module, config: Mapping[str, Any], seed: int, device: torch.device) -> Member:
        train = TrainConfig.from_config(config)
        params = dict(model.named_parameters())
        optimizer = make_optimizer(model, train, config)  # over the same leaves as `params`
        schedule = schedules.get(train.schedule)
        val_losses: list[float] = []
        return cls(index, params, dict(model.named_buffers()), train, optimizer, schedule,
                   known_kwargs(schedule, {**config, "val_losses": val_losses}), torch.Generator().manual_seed(seed),
                   torch.Generator(device).manual_seed(dropout_seed(seed)), val_losses)

    def set_lr(self, step: int, total: int, per_epoch: int) -> float:
        lr = self.train.lr * self.schedule(step, total, per_epoch, **self.schedule_kwargs)
        set_lr(self.optimizer, lr)
        return lr

    def step(self) -> None:
        if self.train.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.params.values(), self.train.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def member_losses(logits: torch.Tensor, labels: torch.Tensor, smoothing: torch.Tensor | None) -> torch.Tensor:
    """Each member's mean cross-entropy (K,) from logits (K, B, C), with its own label smoothing, None for none
    (PyTorch's definition: nll + eps * (uniform cross-entropy - nll))."""
    nll = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape).mean(-1)
    if smoothing is None:
        return nll
    uniform = -logits.log_softmax(-1).mean(-1).mean(-1)
    return nll + smoothing * (uniform - nll)


class StackForward(Protocol):
    """How a stack computes its members' logits [K, B, classes] from their stacked parameters and buffers."""

    module: nn.Module  # the loop switches it between training and evaluation

    def logits(self, params: Tensors, buffers: Tensors, inputs: torch.Tensor) -> torch.Tensor:
        """Each member on its own batch: inputs [K, B, ...]."""

    def shared_logits(self, params: Tensors, buffers: Tensors, x: torch.Tensor) -> torch.Tensor:
        """Every member on one batch x [B, ...] (evaluation)."""


@dataclass
class Vmapped:
    """The stack as vmap over one stateless copy of the model, for models the grouped form does not know; in fp32,
    since vmapped batch norm's backward rejects bf16."""

    module: nn.Module

    def logits(self, params: Tensors, buffers: Tensors, inputs: torch.Tensor) -> torch.Tensor:
        return vmap(self._forward, randomness="different")(params, buffers, inputs)

    def shared_logits(self, params: Tensors, buffers: Tensors, x: torch.Tensor) -> torch.Tensor:
        return vmap(self._forward, in_dims=(0, 0, None))(params, buffers, x)

    def _forward(self, params: Tensors, buffers: Tensors, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.module, (params, buffers), (x,))


def stack_forward(models: Sequence[nn.Module], params: Tensors, buffers: Tensors, probe: Any) -> StackForward | None:
    """The members as one grouped module where that gives each its own output on `probe`, else vmapped where
    that does; None where neither does (e.g. token batches with lengths on the host, a forward that reads a
    value back with .item(), members whose modules differ in more than their parameters, dropout under vmap)."""
    vmapped = None if has_dropout(models[0]) else Vmapped(copy.deepcopy(models[0]).to("meta"))
    on_cuda = next(iter(params.values())).device.type == "cuda"
    for stack in (grouped(models, channels_last=on_cuda), vmapped):
        if stack is not None and reproduces_members(stack, models, params, buffers, probe):
            return stack
    return None


@torch.no_grad()
def reproduces_members(stack: StackForward, models: Sequence[nn.Module], params: Tensors, buffers: Tensors,
                       probe: Any) -> bool:
    """Whether the stack gives every member its own model's output on `probe` (eval mode, no autocast)."""
    stack.module.eval()
    for model in models:
        model.eval()
    try:
        alone = torch.stack([model(probe) for model in models])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # vmap's notes on ops it runs slowly, for a model it may refuse anyway
            together = stack.shared_logits(params, buffers, probe)
    except Exception:  # whatever vmap or the layout refuses, e.g. a reshape to a fixed width
        return False
    return together.shape == alone.shape and bool((together - alone).norm() <= PROBE_TOLERANCE * alone.norm())


@dataclass(frozen=True)
class Outcome:
    """How a member ended: its FitResult, or the exception that took it out of the batch (Diverged, or
    whatever the epoch hook raised, e.g. optuna.TrialPruned); and its share of the batch's seconds."""

    result: FitResult | None
    error: Exception | None
    seconds: float


def fit_each(models: Sequence[nn.Module], data: Data, configs: Sequence[Mapping[str, Any]], epochs: int,
             seeds: Sequence[int], on_epoch: MemberHook | None = None) -> list[Outcome]:
    """The members one after another with `fit`, for models no stack runs; outcomes as `fit_batched` gives them."""
    outcomes = []
    for index, (model, config, seed) in enumerate(zip(models, configs, seeds)):
        hook = None if on_epoch is None else functools.partial(on_epoch, index)
        start = time.perf_counter()
        try:
            result = fit(model, data, config, epochs, seed, on_epoch=hook)
        except Exception as error:  # divergence, the hook's reason (pruning), or a bad trial's own error
            outcomes.append(Outcome(None, error, time.perf_counter() - start))
        else:
            outcomes.append(Outcome(result, None, result.seconds))
    return outcomes


def fit_batched(models: Sequence[nn.Module], data: Data, configs: Sequence[Mapping[str, Any]], epochs: int,
                seeds: Sequence[int], on_epoch: MemberHook | None = None) -> list[Outcome]:
    """Train K models of one architecture together; each gets what `fit` would have given it alone.

    A member's seconds are its share of the batch's: each epoch's time divided among the members
    still training in it.
    """
    batch_sizes = {TrainConfig.from_config(c).batch_size for c in configs}
    if len(batch_sizes) != 1 or len({architecture(m) for m in models}) != 1:
        raise ValueError(f"batched trials need one architecture and one batch size, but got batch sizes {batch_sizes}")
    batch_size, device = batch_sizes.pop(), data.train.labels.device
    tune_backends(device)
    models = [with_member_dropout(m) for m in models]
    _, buffers = stack_module_state(models)  # each member trains its own leaf parameters, stacked afresh each step
    members = [Member.of(i, m, c, s, device) for i, (m, c, s) in enumerate(zip(models, configs, seeds))]
    everyone = list(members)
    errors: dict[int, Exception] = {}
    results: dict[int, FitResult] = {}

    def stacked_params() -> dict[str, torch.Tensor]:
        return {name: torch.stack([m.params[name] for m in members]) for name in members[0].params}

    stack = stack_forward(models, stacked_params(), buffers, next(data.val.batches(PROBE_SIZE))[0])
    if stack is None:
        return fit_each(models, data, configs, epochs, seeds, on_epoch)
    dropout_generators = [m.dropout_generator for m in members]
    use_generators(stack.module, dropout_generators)

    @torch.no_grad()
    def stack_scores(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """Every member's mean loss and accuracy on `split`, as (K,) device tensors."""
        stack.module.eval()
        params = stacked_params()
        return scores(lambda x: stack.shared_logits(params, buffers, x), split)

    @torch.no_grad()
    def hand_back_buffers() -> None:
        """Each member's running statistics into its own model, which then holds all of its trial's state."""
        for position, member in enumerate(members):
            for name, buffer in member.buffers.items():
                buffer.copy_(buffers[name][position])

    per_epoch = data.train.num_batches(batch_size)
    total = epochs * per_epoch
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        stack.module.train()
        smoothings = [m.train.label_smoothing for m in members]
        smoothing = torch.tensor(smoothings, device=device) if any(smoothings) else None  # no read-back per step
        loss_sum = torch.zeros(len(members), device=device)
        for batch, pairs in enumerate(zip(*(data.train.batches(batch_size, m.generator) for m in members))):
            # 1. each member's learning rate from its own schedule; 2. one forward and backward for all
            lrs = [m.set_lr(epoch * per_epoch + batch, total, per_epoch) for m in members]
            inputs, labels = torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])
            losses = member_losses(stack.logits(stacked_params(), buffers, inputs).float(), labels, smoothing)
            losses.sum().backward()  # member k's loss depends on member k's parameters only
            # 3. each member's clipping and optimizer step
            for member in members:
                member.step()
            loss_sum.add_(losses.detach(), alpha=labels.shape[1])  # weighted by the batch's examples, as in `fit`
        # 4. one read-back per epoch for all members: divergence, validation, reports
        val_loss, val_accuracy = stack_scores(data.val)
        rows = torch.stack([loss_sum / len(data.train), val_loss, val_accuracy]).T.tolist()
        share = seconds_since(epoch_start, device) / len(members)
        stop: BaseException | None = None  # a Ctrl-C heard in a member's hook: the others' epochs are recorded first
        for member, lr, (train_loss, loss, accuracy) in zip(members, lrs, rows):
            member.seconds += share
            member.val_losses.append(loss)
            record = EpochRecord(epoch + 1, train_loss, loss, accuracy, lr, share)
            if not (math.isfinite(train_loss) and math.isfinite(loss)):
                errors[member.index] = Diverged(f"loss became non-finite in epoch {epoch + 1} "
                                                 f"(train {train_loss}, validation {loss})")
                continue
            member.curve.append(record)
            try:
                if on_epoch is not None:
                    on_epoch(member.index, record)
            except Exception as error:  # the hook's reason for taking this member out, e.g. pruning
                errors[member.index] = error
            except BaseException as interruption:
                stop = stop or interruption
        if stop is not None:
            raise stop
        keep = [i for i, m in enumerate(members) if m.index not in errors]
        if len(keep) < len(members):
            hand_back_buffers()
            members = [members[i] for i in keep]
            buffers = {name: b[keep] for name, b in buffers.items()}
            dropout_generators[:] = [m.dropout_generator for m in members]
        if not members:
            break

    if members:
        hand_back_buffers()
        test_start = time.perf_counter()
        test_loss, test_accuracy = stack_scores(data.test)
        share = seconds_since(test_start, device) / len(members)
        for member, (loss, accuracy) in zip(members, torch.stack([test_loss, test_accuracy]).T.tolist()):
            member.seconds += share
            results[member.index] = FitResult(member.curve, loss, accuracy, member.seconds)
    return [Outcome(results.get(m.index), errors.get(m.index), m.seconds) for m in everyone]
