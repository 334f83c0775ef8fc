"""Text classification tasks: AG News, IMDB and SST-2 through Hugging Face `datasets`, and local files.

Every one follows the same recipe: read train and test texts, carve a seeded validation split from
train, train a subword tokenizer on what is left of train (cached on disk), then tokenise, truncate
and pad all three splits into `TextSplit`s that bucket by length. The vocabulary size is a
hyperparameter (the task's `vocab_size` is its default, half and double it the other choices): each
size is tokenised once per process and its tokenizer trained once, then cached on disk. The
tokenizer kind stays a task option; compare kinds with two task entries under different labels.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from harness.errors import HarnessError
from harness.space import Choice, Space
from harness.task import Data, Task, tasks
from tasks.text_data import TextTable, file_problem, load_hub, read_local
from tasks.text_families import RESEARCH, Family, build_model, space_problems, text_space
from tasks.text_split import TextSplit
from tasks.tokenizer import TokenizerSettings, encode, trained_tokenizer


@dataclass(frozen=True)
class TextData(Data):
    """Token-id splits and the size of the vocabulary their ids index: what a model's embedding needs. A trained
    vocabulary can outgrow the `vocab_size` asked for: a tokenizer keeps every character it met as a piece."""

    vocabulary: int


def class_ids(train: list[Any], *others: list[Any]) -> dict[Any, int]:
    """Labels (numbers or strings) to 0..K-1 in sorted order; every label elsewhere must occur in train."""
    strings = [label for labels in (train, *others) for label in labels if isinstance(label, str)]
    numbers = [label for labels in (train, *others) for label in labels if not isinstance(label, str)]
    if strings and numbers:  # a JSON file can mix them: 1 and "1" would be two classes, 1 and "x" cannot be sorted
        raise HarnessError(f"labels must be all numbers or all strings, but got both, e.g. {numbers[0]!r} and "
                           f"{strings[0]!r}; write every label the same way")
    ids = {label: i for i, label in enumerate(sorted(set(train)))}
    for labels in others:
        unseen = sorted(set(labels) - set(ids), key=str)
        if unseen:
            raise HarnessError(f"labels {unseen[:5]} occur outside the training split but never in it; "
                               f"training labels: {sorted(ids, key=str)[:20]}")
    return ids


def seeded_cut(table: TextTable, fraction: float, seed: int, limit: int | None = None) -> tuple[TextTable, TextTable]:
    """Shuffle with `seed`, keep at most `limit` examples, and cut `fraction` of them off the front."""
    order = torch.randperm(len(table), generator=torch.Generator().manual_seed(seed)).tolist()[:limit]
    n_cut = round(len(order) * fraction)
    return table.subset(order[n_cut:]), table.subset(order[:n_cut])


class TextTask(Task):
    """Options every text task shares: model family, tokenizer, truncation and the validation split."""

    model_family: Family = "rnn"
    tokenizer: Literal["bpe", "wordpiece"] = "bpe"
    vocab_size: int = Field(default=16_000, ge=100)
    max_length: int = Field(default=128, ge=2)  # tokens kept per text, [CLS] included
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    train_limit: int | None = Field(default=None, ge=10)  # keep this many of the training split, validation included
    split_seed: int = 0  # fixed, so every trial and strategy sees the same splits

    @property
    def label(self) -> str:
        return f"{tasks.name_of(type(self))}-{self.model_family}"

    @abstractmethod
    def tables(self) -> tuple[TextTable, TextTable]:
        """Raw train and test texts with their labels."""

    def space(self) -> Space:
        vocab_sizes = sorted({max(100, self.vocab_size // 2), self.vocab_size, self.vocab_size * 2})
        return Space({**text_space(self.model_family, RESEARCH),
                      "vocab_size": Choice(default=self.vocab_size, choices=tuple(vocab_sizes))})

    def space_problems(self, space: Space) -> list[str]:
        return space_problems(self.model_family, space)

    def data_key(self, config: Mapping[str, Any]) -> int:
        return config.get("vocab_size", self.vocab_size)

    def data(self) -> TextData:
        return self.data_for({})

    def data_for(self, config: Mapping[str, Any]) -> TextData:
        full_train, test = self.tables()
        train, val = seeded_cut(full_train, self.val_fraction, self.split_seed, self.train_limit)
        ids = class_ids(train.labels, val.labels, test.labels)
        settings = TokenizerSettings(kind=self.tokenizer, vocab_size=self.data_key(config))
        tokenizer = trained_tokenizer(train.texts, settings)
        splits = [TextSplit.of(encode(tokenizer, table.texts, self.max_length),
                               torch.tensor([ids[label] for label in table.labels], dtype=torch.long), self.max_length)
                  for table in (train, val, test)]
        return TextData(*splits, num_classes=len(ids), vocabulary=tokenizer.get_vocab_size())

    def model(self, config: Mapping[str, Any], data: TextData) -> nn.Module:
        return build_model(self.model_family, config, data.vocabulary, data.num_classes, self.max_length)


class HubTextTask(TextTask):
    """A data set read by `datasets.load_dataset(path)`: a hub id, or a local directory in the hub's layout."""

    path: str
    text_column: str = "text"
    label_column: str = "label"
    train_split: str = "train"
    test_split: str = "test"

    def tables(self) -> tuple[TextTable, TextTable]:
        return load_hub(self.path, (self.train_split, self.test_split), self.text_column, self.label_column)


@tasks.register("ag_news")
class AgNews(HubTextTask):
    """AG News (Zhang et al., 2015): 120,000 news titles and descriptions in 4 topics; LSTM/GRU or Transformer."""

    path: str = "fancyzhx/ag_news"


@tasks.register("imdb")
class Imdb(HubTextTask):
    """IMDB reviews (Maas et al., 2011): 25,000 long movie reviews, positive or negative; LSTM/GRU or Transformer."""

    path: str = "stanfordnlp/imdb"
    max_length: int = Field(default=256, ge=2)  # reviews run to hundreds of tokens


@tasks.register("sst2")
class Sst2(HubTextTask):
    """SST-2 (Socher et al., 2013): 67,000 movie-review sentences, positive or negative; LSTM/GRU or Transformer."""

    path: str = "stanfordnlp/sst2"
    text_column: str = "sentence"
    test_split: str = "validation"  # the GLUE test labels are hidden (-1), so the public validation set is test
    max_length: int = Field(default=64, ge=2)


@tasks.register("local")
class LocalText(TextTask):
    """Your own CSV, JSON Lines, JSON or Parquet files with a text and a label column; LSTM/GRU or Transformer."""

    train: str  # path of the training file
    test: str | None = None  # path of the test file; none: a seeded `test_fraction` of train is held out
    test_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    text_column: str = "text"
    label_column: str = "label"

    @field_validator("train", "test")
    @classmethod
    def _readable(cls, path: str | None) -> str | None:
        problem = None if path is None else file_problem(Path(path))
        if problem:
            raise ValueError(problem)
        return path

    def tables(self) -> tuple[TextTable, TextTable]:
        train = read_local(Path(self.train), self.text_column, self.label_column)
        if self.test is not None:
            return train, read_local(Path(self.test), self.text_column, self.label_column)
        return seeded_cut(train, self.test_fraction, self.split_seed + 1)
