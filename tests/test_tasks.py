"""Contract over every registered task and model family: data, a tiny model, one step, no NaN."""

from __future__ import annotations

import typing
from collections import Counter

import pytest
import torch
from sklearn.datasets import load_digits

from harness.plugins import load_builtins
from harness.task import tasks
from tasks.listops import VOCAB, evaluate_tree, generate, tokens_of
from text_helpers import topic_rows, write_hub_dir, write_local

load_builtins()
TEXT = {"vocab_size": 100, "max_length": 32}
SMALL = {"listops": {"train_size": 64, "val_size": 16, "test_size": 16, "max_length": 24},
         "local": {"train": "{files}/train.csv", **TEXT},  # "{files}": the directory `text_files` writes
         "ag_news": {"path": "{files}/hub", **TEXT}, "imdb": {"path": "{files}/hub", **TEXT},
         "sst2": {"path": "{files}/hub", "text_column": "text", "test_split": "test", **TEXT}}


@pytest.fixture(scope="module")
def text_files(tmp_path_factory) -> str:
    """A local CSV and a hub-layout directory that stand in for the text tasks' data sets."""
    root = tmp_path_factory.mktemp("text")
    write_local(root / "train.csv", topic_rows(60))
    write_hub_dir(root / "hub", {"train": topic_rows(60), "test": topic_rows(20, seed=1)})
    return str(root)


def made(name: str, options: dict, text_files: str):
    return tasks.get(name)(**{k: v.format(files=text_files) if isinstance(v, str) else v for k, v in options.items()})


def variants() -> list[tuple[str, dict]]:
    """Every task with each value of its `model_family` option (tasks reading files under `root:` are
    run on files written by their own tests, e.g. tests/test_image_datasets.py)."""
    found = []
    for entry in tasks:
        if "root" in entry.obj.model_fields:
            continue
        family = entry.obj.model_fields.get("model_family")
        for value in typing.get_args(family.annotation) if family else [None]:
            options = {**SMALL.get(entry.name, {}), **({"model_family": value} if value else {})}
            found.append((entry.name, options))
    return found


@pytest.fixture(scope="module")
def data_cache():
    return {}


@pytest.mark.parametrize("name, options", variants(), ids=lambda v: v if isinstance(v, str) else v.get("model_family"))
def test_task_builds_trains_one_step_without_nan(name, options, data_cache, text_files):
    task = made(name, options, text_files)
    data = data_cache.setdefault((name, tuple(sorted(options.items()))), task.data())
    assert min(len(data.train), len(data.val), len(data.test)) > 0
    assert int(data.train.labels.max()) < data.num_classes
    config = task.space().defaults()
    torch.manual_seed(0)
    model = task.model(config, data)
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(data.train.inputs[:8]), data.train.labels[:8])
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("name, options", variants(), ids=lambda v: v if isinstance(v, str) else v.get("model_family"))
def test_task_data_are_the_same_every_call(name, options, text_files):
    task = made(name, options, text_files)
    first, second = task.data(), task.data()
    assert torch.equal(first.train.inputs, second.train.inputs)
    assert torch.equal(first.test.labels, second.test.labels)


def test_digits_splits_are_disjoint_and_cover_the_data():
    """Each example of the data set lands in exactly one split (counted as a multiset: a few images repeat)."""
    data = tasks.get("digits")().data()
    assert (len(data.train), len(data.val), len(data.test)) == (1257, 270, 270)  # 15% for validation and test
    digits = load_digits()
    pixels = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0  # as the task scales them
    examples = Counter(row(x, y) for x, y in zip(pixels, digits.target.tolist()))
    in_splits = Counter(row(x, y) for split in (data.train, data.val, data.test)
                        for x, y in zip(split.inputs, split.labels))
    assert in_splits == examples


def row(image: torch.Tensor, label: int | torch.Tensor) -> tuple:
    return (*image.flatten().tolist(), int(label))


def test_listops_labels_are_the_values_of_the_expressions():
    assert evaluate_tree(("MAX", [4, 3, ("MIN", [2, 3]), 1, 0])) == 4
    assert evaluate_tree(("MED", [1, 7, 3])) == 3
    assert evaluate_tree(("SM", [5, 6, ("MAX", [9])])) == 0
    assert tokens_of(("MIN", [2, 3])) == ["[MIN", "2", "3", "]"]
    split = generate(50, seed=1, max_length=24, max_depth=3, max_args=3)
    for row, label in zip(split.inputs, split.labels):
        text = [VOCAB[i] for i in row.tolist() if i != 0]
        assert int(label) == _evaluate_text(text)


def _evaluate_text(tokens: list[str]) -> int:
    """An independent evaluator over the token text, with a stack."""
    stack: list[list] = []
    for token in tokens:
        if token.startswith("["):
            stack.append([token[1:]])
        elif token == "]":
            op, *values = stack.pop()
            value = {"MAX": max, "MIN": min, "SM": lambda v: sum(v) % 10,
                     "MED": lambda v: sorted(v)[(len(v) - 1) // 2]}[op](values)
            if not stack:
                return value
            stack[-1].append(value)
        else:
            if not stack:
                return int(token)
            stack[-1].append(int(token))
    raise AssertionError("unbalanced expression")


def test_listops_generation_is_seeded():
    a = generate(20, seed=3, max_length=24, max_depth=3, max_args=3)
    b = generate(20, seed=3, max_length=24, max_depth=3, max_args=3)
    c = generate(20, seed=4, max_length=24, max_depth=3, max_args=3)
    assert torch.equal(a.inputs, b.inputs) and not torch.equal(a.inputs, c.inputs)
    assert (a.inputs != 0).sum(1).max() <= 24
