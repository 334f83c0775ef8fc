"""The two text model families as search spaces and builders, shared by ListOps and the real text tasks.

A family's space names the hyperparameters its builder reads, so the two never drift apart. Sizes
are parameters of the space: ListOps searches small models, AG News and IMDB research-sized ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from harness.optim import taking, training_space
from harness.space import Choice, Fixed, Float, Int, Param, Space, when
from tasks.text_models import RNN_POOLINGS, TRANSFORMER_POOLINGS, RNNClassifier, TransformerClassifier

Family = Literal["rnn", "transformer"]


@dataclass(frozen=True)
class Sizes:
    """The widths a space offers and their default, and the Transformer's layers (RNNs always search 1-3)."""

    widths: tuple[int, ...] = (32, 64, 128)
    width: int = 64
    max_layers: int = 3
    layers: int = 2


SMALL = Sizes()
RESEARCH = Sizes(widths=(128, 256, 512), width=256, max_layers=6, layers=4)


def text_space(family: Family, sizes: Sizes = SMALL) -> Space:
    """Training and model hyperparameters; warm-up only exists for the warm-up schedule.

    The Adam family (and RMSprop) search the family's own lr range; SGD keeps its registered 1e-3..1e-1, since the
    Adam range held it below its rates that learn (a tiny ListOps Transformer: best at 1e-2..3e-2, 3 seeds).
    """
    adam_family = taking("beta1")
    if family == "rnn":
        train = training_space(lr=dict.fromkeys((*adam_family, "rmsprop"), (1e-4, 1e-2, 2e-3)),
                               optimizer_choices=("adam", "adamw", "sgd", "rmsprop"),
                               schedule_choices=("constant", "cosine", "warmup_cosine"), default_optimizer="adam",
                               default_schedule="cosine")
        model: dict[str, Param] = {
            "cell": Choice(default="lstm", choices=("lstm", "gru")),
            "embed_dim": Choice(default=sizes.width, choices=sizes.widths),
            "hidden": Choice(default=sizes.width, choices=sizes.widths),
            "layers": Int(default=2, low=1, high=3),  # stacked LSTMs rarely gain beyond 2 layers
            "bidirectional": Choice(default=False, choices=(False, True)),
            "pooling": Choice(default="mean", choices=RNN_POOLINGS),
        }
    else:
        train = training_space(lr=dict.fromkeys(adam_family, (1e-5, 3e-3, 5e-4)),
                               optimizer_choices=("adamw", "adam", "sgd"),
                               schedule_choices=("warmup_cosine", "cosine", "constant"), default_optimizer="adamw",
                               default_schedule="warmup_cosine")
        model = {
            "d_model": Choice(default=sizes.width, choices=sizes.widths),
            "layers": Int(default=sizes.layers, low=1, high=sizes.max_layers),
            "heads": Choice(default=4, choices=(2, 4, 8)),
            "ffn": Choice(default=4, choices=(2, 4)),  # feed-forward width as a multiple of d_model
            "pooling": Choice(default="mean", choices=TRANSFORMER_POOLINGS),
        }
    return Space({
        **train,
        "warmup": Float(default=0.1, low=0.0, high=0.3, when=when(schedule="warmup_cosine")),
        **model,
        "dropout": Float(default=0.1, low=0.0, high=0.5),
        "grad_clip": Float(default=1.0, low=0.1, high=10.0, log=True),  # clipping matters most for RNNs
    })


def space_problems(family: Family, space: Space) -> list[str]:
    """Pairs of values the family's builder refuses: a Transformer splits d_model evenly among its heads.
    Ranges are left to the builder, trial by trial."""
    if family != "transformer" or not all(isinstance(space[name], (Choice, Fixed)) for name in ("d_model", "heads")):
        return []
    return [f"d_model {width} is not a multiple of heads {heads}: a Transformer splits d_model evenly among its heads"
            for width in space["d_model"].grid(0) for heads in space["heads"].grid(0) if width % heads]


def build_model(family: Family, config: Mapping[str, Any], vocab_size: int, num_classes: int,
                max_length: int) -> nn.Module:
    """A fresh model of `family` for a configuration of `text_space(family)`."""
    defaults = text_space(family).defaults()
    value = {**defaults, **config}.__getitem__
    if family == "rnn":
        return RNNClassifier(vocab_size, num_classes, cell=value("cell"), embed_dim=value("embed_dim"),
                             hidden=value("hidden"), layers=value("layers"), bidirectional=value("bidirectional"),
                             dropout=value("dropout"), pooling=value("pooling"))
    return TransformerClassifier(vocab_size, num_classes, max_length, d_model=value("d_model"), heads=value("heads"),
                                 layers=value("layers"), ffn=value("ffn") * value("d_model"),
                                 dropout=value("dropout"), pooling=value("pooling"))
