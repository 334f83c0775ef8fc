"""ListOps (Nangia & Bowman, 2018; the Long Range Arena's version): nested list operations on digits.

`[MAX 4 3 [MIN 2 3 ] 1 0 ]` evaluates to 4; the label is the value, 0-9. The data are generated
here, deterministically from `data_seed`, so the task needs no download and no tokenizer.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping
from typing import Any, Union

import torch
from pydantic import Field
from torch import nn

from harness.space import Space
from harness.task import Data, Task, tasks
from tasks.text_families import Family, build_model, space_problems, text_space
from tasks.text_split import PAD, TextSplit

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


def generate(n: int, seed: int, max_length: int, max_depth: int, max_args: int) -> TextSplit:
    """`n` seeded expressions no longer than `max_length` tokens, right-padded with PAD."""
    rng = random.Random(seed)
    rows, labels = [], []
    while len(rows) < n:
        tree = random_tree(rng, 0, max_depth, max_args)
        tokens = tokens_of(tree)
        if len(tokens) <= max_length:
            rows.append([TOKEN_ID[t] for t in tokens])
            labels.append(evaluate_tree(tree))
    return TextSplit.of(rows, torch.tensor(labels, dtype=torch.long), max_length)


@tasks.register("listops")
class ListOps(Task):
    """Generated ListOps expressions, 10 classes; LSTM/GRU or Transformer (offline default text task)."""

    model_family: Family = "transformer"
    train_size: int = Field(default=2000, gt=0)
    val_size: int = Field(default=500, gt=0)
    test_size: int = Field(default=500, gt=0)
    max_length: int = Field(default=64, ge=4)  # the shortest expression, `[MAX 4 3 ]`, is 4 tokens
    max_depth: int = Field(default=4, ge=1)  # at 0 an expression is a lone digit
    max_args: int = Field(default=4, ge=2)  # an operator takes 2..max_args arguments
    data_seed: int = 0  # train, validation and test use three streams derived from it

    @property
    def label(self) -> str:
        return f"listops-{self.model_family}"

    def space(self) -> Space:
        return text_space(self.model_family)

    def space_problems(self, space: Space) -> list[str]:
        return space_problems(self.model_family, space)

    def data(self) -> Data:
        shape = dict(max_length=self.max_length, max_depth=self.max_depth, max_args=self.max_args)
        seeds = [self.data_seed * 3 + k for k in range(3)]
        train, val, test = (generate(n, s, **shape) for n, s in
                            zip((self.train_size, self.val_size, self.test_size), seeds))
        return Data(train, val, test, num_classes=10)

    def model(self, config: Mapping[str, Any], data: Data) -> nn.Module:
        return build_model(self.model_family, config, len(VOCAB), data.num_classes, self.max_length)
