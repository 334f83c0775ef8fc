"""Token-id splits that hand out length-bucketed, trimmed batches without stalling the device.

Sequences are right-padded with PAD into one tensor that lives on the device; their lengths stay
on the host, so choosing batches, trimming each to its longest sequence (rounded up to a multiple of 8) and giving the RNN its
packing lengths never reads anything back from the device. A training epoch reads nothing back;
the one host-to-device copy of the epoch's order is made once per epoch, not per step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch

from harness.task import Split

PAD = 0
BUCKET_BATCHES = 50  # batches per sorted chunk: enough to group similar lengths, few enough to stay random
LENGTH_MULTIPLE = 8  # batches are trimmed to a multiple of this: aligned tensor-core tiles, and few distinct
# shapes, so a compiled model records one CUDA graph per shape for a handful of shapes, not one per length


class Tokens(NamedTuple):
    """A batch of right-padded token ids (on the device) and their lengths (on the host, descending).

    `padded` says whether any sequence is shorter than the batch, as a plain bool: a compiled model
    specialises on it instead of breaking its graph to look at the lengths.
    """

    ids: torch.Tensor
    lengths: torch.Tensor
    padded: bool = True


@dataclass(frozen=True)
class TextSplit(Split):
    """Padded token ids with their lengths; `batches` yields (Tokens, labels)."""

    lengths: torch.Tensor
    bucketed: bool = True  # False: plain shuffled batches, still trimmed (the benchmark's baseline)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.lengths) != len(self.labels):
            raise ValueError(f"one length per example must hold, but got {len(self.lengths)} for {len(self.labels)}")

    @classmethod
    def of(cls, sequences: Sequence[Sequence[int]], labels: torch.Tensor, max_length: int) -> TextSplit:
        """Truncate each sequence to `max_length` (keeping at least one token) and right-pad with PAD."""
        lengths = torch.tensor([max(1, min(len(s), max_length)) for s in sequences], dtype=torch.long)
        ids = torch.full((len(sequences), int(lengths.max()) if len(sequences) else 1), PAD, dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, :len(sequence[:max_length])] = torch.tensor(sequence[:max_length], dtype=torch.long)
        return cls(ids, labels, lengths)

    def to(self, device: torch.device) -> TextSplit:
        """Ids and labels move; lengths stay on the host, where batching reads them."""
        return replace(self, inputs=self.inputs.to(device), labels=self.labels.to(device))

    @property
    def width(self) -> int:
        """The padded length every sequence is held at."""
        return self.inputs.shape[1]

    def tokens(self) -> int:
        """Real (non-padding) tokens in the split."""
        return int(self.lengths.sum())

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[Tokens, torch.Tensor]]:
        """In order for evaluation; for a training epoch, length-bucketed batches in a seeded random order."""
        groups = torch.arange(len(self)).split(batch_size) if generator is None else self.epoch_groups(batch_size,
                                                                                                        generator)
        # longest first within each batch, so the RNN packs without sorting on the device
        groups = [group[self.lengths[group].argsort(descending=True, stable=True)] for group in groups]
        on_device = torch.cat(groups).to(self.labels.device)  # the epoch's one host-to-device copy
        start = 0
        for group in groups:
            lengths, index = self.lengths[group], on_device[start:start + len(group)]
            start += len(group)
            width = min(-(-int(lengths[0]) // LENGTH_MULTIPLE) * LENGTH_MULTIPLE, self.width)
            yield Tokens(self.inputs[index, :width], lengths, width != int(lengths[-1])), self.labels[index]

    def epoch_groups(self, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
        """A seeded random partition into batches; bucketed: sorted by length within chunks, then batches shuffled."""
        order = torch.randperm(len(self), generator=generator)
        if self.bucketed:
            chunk = batch_size * BUCKET_BATCHES
            order = torch.cat([part[self.lengths[part].argsort(stable=True)] for part in order.split(chunk)])
        groups = order.split(batch_size)
        return [groups[i] for i in torch.randperm(len(groups), generator=generator).tolist()]
