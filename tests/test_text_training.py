"""Short real training runs: both text families learn ListOps and a small local CSV well above chance, and the
trainer applies their gradient clipping and warm-up."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from harness.task import Data, Task
from harness.trainer import fit
from tasks.listops import ListOps
from tasks.text_families import build_model, text_space
from tasks.text_split import TextSplit
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


VOCAB, ONE_BATCH = 30, 32


def one_batch_data() -> Data:
    """32 random sequences of 1-11 ids: with batch size 32, an epoch is one optimizer step."""
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 12, (ONE_BATCH,), generator=generator).tolist()
    sequences = [torch.randint(1, VOCAB, (n,), generator=generator).tolist() for n in lengths]
    split = TextSplit.of(sequences, torch.randint(0, 2, (ONE_BATCH,), generator=generator), max_length=12)
    return Data(split, split, split, num_classes=2)


def one_batch_config(family: str, **changes) -> dict:
    space = text_space(family)
    return space.complete({**{k: v for k, v in TINY.items() if k in space}, "batch_size": ONE_BATCH, **changes})


@pytest.mark.parametrize("family", ["rnn", "transformer"])
def test_each_step_is_clipped_to_the_configured_gradient_norm(family, one_thread):
    """Plain SGD at rate 1 moves the weights by the gradient: by its norm unclipped, by grad_clip when that binds."""
    data = one_batch_data()
    config = one_batch_config(family, optimizer="sgd", schedule="constant")
    config |= {"momentum": 0.0, "lr": 1.0, "weight_decay": 0.0}  # outside the space: the bare gradient step

    def step_norm(grad_clip: float) -> float:
        torch.manual_seed(0)
        model = build_model(family, config, VOCAB, 2, 12)
        before = [p.detach().clone() for p in model.parameters()]
        fit(model, data, {**config, "grad_clip": grad_clip}, epochs=1, seed=0)
        return torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)]).norm().item()

    unclipped = step_norm(0.0)
    assert unclipped > 0.01
    assert step_norm(unclipped / 4) == pytest.approx(unclipped / 4, rel=1e-4)
    assert step_norm(unclipped * 4) == pytest.approx(unclipped, rel=1e-4)


@pytest.mark.parametrize("warmup, steps", [(0.3, 3), (0.2, 2), (0.0, 1)])
def test_the_transformer_warms_up_for_the_configured_fraction_of_its_steps(warmup, steps, one_thread):
    """Over 10 steps, the rate rises linearly for `warmup` of them (at least one), peaks, then only falls."""
    config = one_batch_config("transformer", optimizer="adamw", lr=1e-3, schedule="warmup_cosine", warmup=warmup)
    torch.manual_seed(0)
    curve = fit(build_model("transformer", config, VOCAB, 2, 12), one_batch_data(), config, epochs=10, seed=0).curve
    factors = [record.lr / 1e-3 for record in curve]  # one step an epoch: each step's rate
    assert factors[:steps] == pytest.approx([(i + 1) / steps for i in range(steps)])
    assert all(later < earlier for earlier, later in zip(factors[steps - 1:], factors[steps:]))
