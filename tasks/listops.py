"""ListOps (Nangia & Bowman, 2018; the Long Range Arena's version): nested list operations on digits.

`[MAX 4 3 [MIN 2 3 ] 1 0 ]` evaluates to 4; the label is the value, 0-9. The data are generated
here, deterministically from `data_seed`, so the task needs no download and no tokenizer.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping
from typing import Any, Literal, Union

import torch
from torch import nn

from harness.optim import training_space
from harness.space import Choice, Float, Int, Space
from harness.task import Data, Split, Task, tasks
from tasks.text_models import PAD, RNNClassifier, TransformerClassifier

OPERATORS = {
    "MAX": max,
    "MIN": min,
    "MED": lambda values: int(statistics.median_low(values)),
    "SM": lambda values: sum(values) % 10,
}
VOCAB = ["<pad>", *map(str, range(10)), *(f"[{op}" for op in OPERATORS), "]"]
TOKEN_ID = {token: i for i, token in enumerate(VOCAB)}
assert TOKEN_ID["<pad>"] == PAD

Tree = Union[int, tuple[str, list["Tree"]]]


def random_tree(rng: random.Random, depth: int, max_depth: int, max_args: int) -> Tree:
    """An operator node with 2..max_args children, or (more often deeper down) a digit."""
    if depth >= max_depth or (depth > 0 and rng.random() < 0.3):
        return rng.randrange(10)
    return rng.choice(list(OPERATORS)), [random_tree(rng, depth + 1, max_depth, max_args)
                                         for _ in range(rng.randint(2, max_args))]


def evaluate_tree(tree: Tree) -> int:
    if isinstance(tree, int):
        return tree
    op, children = tree
    return OPERATORS[op]([evaluate_tree(c) for c in children])


def tokens_of(tree: Tree) -> list[str]:
    if isinstance(tree, int):
        return [str(tree)]
    op, children = tree
    return [f"[{op}", *(t for c in children for t in tokens_of(c)), "]"]


def generate(n: int, seed: int, max_length: int, max_depth: int, max_args: int) -> Split:
    """`n` distinct-seeded expressions no longer than `max_length` tokens, right-padded with PAD."""
    rng = random.Random(seed)
    rows, labels = [], []
    while len(rows) < n:
        tree = random_tree(rng, 0, max_depth, max_args)
        tokens = tokens_of(tree)
        if len(tokens) <= max_length:
            rows.append([TOKEN_ID[t] for t in tokens] + [PAD] * (max_length - len(tokens)))
            labels.append(evaluate_tree(tree))
    return Split(torch.tensor(rows, dtype=torch.long), torch.tensor(labels, dtype=torch.long))


@tasks.register("listops")
class ListOps(Task):
    """Generated ListOps expressions, 10 classes; LSTM/GRU or Transformer (offline default text task)."""

    model_family: Literal["rnn", "transformer"] = "transformer"
    train_size: int = 2000
    val_size: int = 500
    test_size: int = 500
    max_length: int = 64
    max_depth: int = 4
    max_args: int = 4
    data_seed: int = 0  # train, validation and test use three streams derived from it

    @property
    def label(self) -> str:
        return f"listops-{self.model_family}"

    def space(self) -> Space:
        common = training_space(lr=(1e-4, 1e-2, 2e-3), optimizer_choices=("adam", "adamw", "sgd"),
                                schedule_choices=("constant", "cosine", "warmup_cosine"), default_optimizer="adamw",
                                default_schedule="warmup_cosine")
        if self.model_family == "rnn":
            model = {
                "cell": Choice(default="lstm", choices=("lstm", "gru")),
                "hidden": Choice(default=64, choices=(32, 64, 128)),
                "layers": Int(default=1, low=1, high=2),
            }
        else:
            model = {
                "d_model": Choice(default=64, choices=(32, 64)),
                "layers": Int(default=2, low=1, high=3),
            }
        return Space({**common, **model, "dropout": Float(default=0.1, low=0.0, high=0.3),
                      "grad_clip": Float(default=1.0, low=0.5, high=5.0, log=True)})

    def data(self) -> Data:
        shape = dict(max_length=self.max_length, max_depth=self.max_depth, max_args=self.max_args)
        seeds = [self.data_seed * 3 + k for k in range(3)]
        train, val, test = (generate(n, s, **shape) for n, s in
                            zip((self.train_size, self.val_size, self.test_size), seeds))
        return Data(train, val, test, num_classes=10)

    def model(self, config: Mapping[str, Any], data: Data) -> nn.Module:
        if self.model_family == "rnn":
            return RNNClassifier(len(VOCAB), data.num_classes, cell=config.get("cell", "lstm"),
                                 embed_dim=config.get("hidden", 64), hidden=config.get("hidden", 64),
                                 layers=config.get("layers", 1), dropout=config.get("dropout", 0.0))
        d_model = config.get("d_model", 64)
        return TransformerClassifier(len(VOCAB), data.num_classes, self.max_length, d_model=d_model,
                                     heads=4, layers=config.get("layers", 2), ffn=2 * d_model,
                                     dropout=config.get("dropout", 0.0))
