"""Short real training runs: both text families learn ListOps and a small local CSV well above chance."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from harness.task import Data, Task
from harness.trainer import fit
from tasks.listops import ListOps
from tasks.text_tasks import LocalText
from text_helpers import one_thread, topic_rows, write_local  # noqa: F401  (one_thread is a fixture)

TINY = {"embed_dim": 32, "hidden": 32, "d_model": 32, "layers": 1, "heads": 2, "ffn": 2, "batch_size": 32,
        "dropout": 0.0}


def train(task: Task, data: Data, epochs: int, **changes) -> float:
    """Test accuracy after `epochs` of the task's default configuration at tiny sizes."""
    config = {**task.space().defaults(), **TINY, **changes}
    torch.manual_seed(0)
    return fit(task.model(config, data), data, config, epochs=epochs, seed=0).test_accuracy


def majority(data: Data) -> float:
    """The accuracy of always answering the most frequent test label: the chance level to beat."""
    return max(Counter(data.test.labels.tolist()).values()) / len(data.test)


@pytest.mark.parametrize("family, lr", [("rnn", 5e-3), ("transformer", 2e-3)])
def test_listops_beats_chance(family, lr, one_thread):
    task = ListOps(model_family=family, train_size=600, val_size=100, test_size=200, max_length=24, max_depth=2)
    data = task.data()
    assert train(task, data, epochs=4, lr=lr) > majority(data) + 0.08


@pytest.mark.parametrize("family, lr", [("rnn", 1e-2), ("transformer", 2e-3)])
def test_local_csv_beats_chance(family, lr, tmp_path, one_thread):
    path = write_local(tmp_path / "news.csv", topic_rows(300))
    task = LocalText(train=str(path), model_family=family, vocab_size=100, max_length=32)
    data = task.data()
    assert train(task, data, epochs=3, lr=lr) > max(majority(data) + 0.3, 0.8)
