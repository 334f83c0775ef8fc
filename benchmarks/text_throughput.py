"""Training throughput of the text families, with and without length bucketing, through the real trainer.

Real tokens per second (padding excluded) for an LSTM and a Transformer on synthetic token ids whose
lengths follow AG News: log-normal with median 44 tokens and sigma 0.35 (about 90% between 25 and 80),
clipped to 8..128, as WordPiece gives for AG News title + description. The data sit on the device as
tensors and `harness.trainer.fit` trains them (bf16 autocast on CUDA, AdamW, gradient clipping), so the
figures are what a trial gets. Rates count real tokens (what a data set has); the padded side also
reports processed tokens (padding included), the figure fixed-length references quote. Three
batchings of the same examples:

- padded: every sequence padded to 128 and processed in full (what fixed-length batches cost);
- shuffled: random batches, each trimmed to its longest sequence (rounded up to a multiple of 8);
- bucketed: `TextSplit`'s length bucketing (sorted within seeded chunks of 50 batches), trimmed alike.

On a CPU the LSTM figures say nothing about GPUs: PyTorch's CPU LSTM has a fused kernel only when every
sequence in a batch has one length, so packed batches of varied lengths step through time one op at a
time there, while cuDNN runs them natively. Uncompiled on a GPU, the Transformer's steps replay the trainer's
own CUDA graph of the whole step, one per batch width (harness.graphs); the LSTM's packed steps run eagerly. The default size runs in under a minute on a laptop CPU; `--full` is the issue's size for a GPU:
a 2-layer x 256 LSTM and a 4-layer x 256 Transformer (4 heads, FFN 1024), batch 256, 120,000 examples
(one AG News training epoch), vocabulary 30,000, and the Transformer also under `torch.compile(mode="reduce-overhead")`.
Each measurement is the second of two epochs.

    python -m benchmarks.text_throughput [--full]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import torch

from harness.errors import first_line
from harness.task import Data
from harness.trainer import fit, resolve_device
from tasks.text_families import Family, build_model
from tasks.text_split import PAD, TextSplit

MAX_LENGTH = 128
MEDIAN_LENGTH, SIGMA = 44.0, 0.35  # AG News under a 30k WordPiece vocabulary, title + description
NUM_CLASSES = 4
BATCHINGS = ("padded", "shuffled", "bucketed")
MEASURED = [  # name, family, torch.compile mode (None: eager), batchings; only --full compiles (a minute or more)
    ("lstm", "rnn", None, BATCHINGS),
    ("transformer", "transformer", None, BATCHINGS),
    ("transformer_compiled", "transformer", "reduce-overhead", ("padded", "bucketed")),
]


@dataclass(frozen=True)
class Size:
    examples: int
    vocab: int
    batch_size: int
    width: int
    lstm_layers: int
    transformer_layers: int
    epochs: int = 2  # the first warms up (kernel selection, allocator); the second is measured


FULL = Size(examples=120_000, vocab=30_000, batch_size=256, width=256, lstm_layers=2, transformer_layers=4)
SMALL = Size(examples=128, vocab=1_000, batch_size=32, width=16, lstm_layers=1, transformer_layers=1)


def agnews_like_lengths(n: int, generator: torch.Generator) -> torch.Tensor:
    """Log-normal lengths around AG News's median, clipped to 8..MAX_LENGTH."""
    normal = torch.randn(n, generator=generator)
    return (MEDIAN_LENGTH * torch.exp(SIGMA * normal)).round().long().clamp(8, MAX_LENGTH)


def synthetic_ids(lengths: torch.Tensor, vocab: int, generator: torch.Generator) -> torch.Tensor:
    """Random non-padding ids up to each length, PAD after it, all padded to MAX_LENGTH."""
    ids = torch.randint(1, vocab, (len(lengths), MAX_LENGTH), generator=generator)
    return ids.masked_fill(torch.arange(MAX_LENGTH) >= lengths.unsqueeze(1), PAD)


def splits(size: Size) -> dict[str, TextSplit]:
    """The same examples under each batching; `padded` claims full length so nothing is trimmed or packed away."""
    generator = torch.Generator().manual_seed(0)
    lengths = agnews_like_lengths(size.examples, generator)
    ids = synthetic_ids(lengths, size.vocab, generator)
    labels = torch.randint(0, NUM_CLASSES, (size.examples,), generator=generator)
    return {"padded": TextSplit(ids, labels, torch.full_like(lengths, MAX_LENGTH), bucketed=False),
            "shuffled": TextSplit(ids, labels, lengths, bucketed=False),
            "bucketed": TextSplit(ids, labels, lengths, bucketed=True)}


def configs(size: Size) -> dict[Family, dict[str, Any]]:
    train = {"lr": 1e-3, "optimizer": "adamw", "schedule": "constant", "batch_size": size.batch_size,
             "grad_clip": 1.0, "dropout": 0.1}
    return {"rnn": {**train, "cell": "lstm", "embed_dim": size.width, "hidden": size.width,
                    "layers": size.lstm_layers, "pooling": "mean"},
            "transformer": {**train, "d_model": size.width, "layers": size.transformer_layers, "heads": 4,
                            "ffn": 4, "pooling": "mean"}}


def processed_tokens(split: TextSplit, batch_size: int) -> int:
    """Token positions an epoch computes on: each batch's width times its sequences, padding included."""
    return sum(tokens.ids.numel() for tokens, _ in split.batches(batch_size, torch.Generator().manual_seed(0)))


def measure(family: Family, config: dict[str, Any], split: TextSplit, real_tokens: int, size: Size,
            device: torch.device, compile_mode: str | None = None) -> dict[str, float]:
    """Real and processed tokens per second and seconds of the measured epoch (validation on one batch included).

    Compiled with "reduce-overhead" (CUDA graphs), a graph is recorded for each batch shape in the
    first epoch; trimmed batches come in a few widths (multiples of LENGTH_MULTIPLE)."""
    val = TextSplit(split.inputs[:size.batch_size], split.labels[:size.batch_size], split.lengths[:size.batch_size])
    data = Data(split, val, val, NUM_CLASSES).to(device)
    torch.manual_seed(0)
    model = build_model(family, config, size.vocab, NUM_CLASSES, MAX_LENGTH).to(device)
    if compile_mode:  # trimmed batches vary in length: after the first recompile the graph takes any length
        model = torch.compile(model, mode=compile_mode)
    seconds = fit(model, data, config, epochs=size.epochs, seed=0).curve[-1].seconds
    return {"tokens_per_s": real_tokens / seconds, "epoch_s": seconds,
            "processed_tokens_per_s": processed_tokens(split, size.batch_size) / seconds}


def run(full: bool = False) -> dict[str, Any]:
    """Throughput of both families under the batchings, and the bucketing speed-ups."""
    size = FULL if full else SMALL
    device = resolve_device("auto")
    batchings = splits(size)
    real_tokens = batchings["bucketed"].tokens()
    figures: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "torch": torch.__version__, "size": size.__dict__, "real_tokens_per_epoch": real_tokens,
        "mean_length": real_tokens / size.examples,
        "length_distribution": f"log-normal, median {MEDIAN_LENGTH:g}, sigma {SIGMA}, clipped to 8..{MAX_LENGTH}",
    }
    lines = []
    for name, family, compile_mode, batches in MEASURED[: len(MEASURED) if full else 2]:
        try:
            found = {b: measure(family, configs(size)[family], batchings[b], real_tokens, size, device, compile_mode)
                     for b in batches}
        except RuntimeError as error:  # e.g. a kernel this device lacks: keep the other figures
            figures[name] = {"error": f"{type(error).__name__}: {error}"}
            lines.append(f"{name} failed: {first_line(error) or type(error).__name__}")
            continue
        rate = {b: found[b]["tokens_per_s"] for b in batches}
        figures[name] = {**found, **{f"bucketed_vs_{b}": rate["bucketed"] / rate[b] for b in batches if b != "bucketed"}}
        lines.append(f"{name} {rate['bucketed'] / 1e6:.3g}M tok/s bucketed ({found['bucketed']['epoch_s']:.2f} s/epoch), "
                     + ", ".join(f"{rate[b] / 1e6:.3g}M {b} ({rate['bucketed'] / rate[b]:.2f}x; "
                                 f"{found[b]['processed_tokens_per_s'] / 1e6:.3g}M processed)"
                                 for b in batches if b != "bucketed"))
    figures["summary"] = "; ".join(lines) + f" [{figures['device']}, mean length {figures['mean_length']:.0f}]"
    return figures


if __name__ == "__main__":  # the suite's entry point, so this run is recorded like any other
    from benchmarks import main

    raise SystemExit(main(["text_throughput", *sys.argv[1:]]))
