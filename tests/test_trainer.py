"""The one training loop: it learns, it is deterministic, it stops on divergence."""

from __future__ import annotations

import pytest
import torch

from harness.plugins import load_builtins
from harness.task import Data, Split, tasks
from harness.trainer import Diverged, TrainConfig, fit, tune_backends

load_builtins()


@pytest.fixture(scope="module")
def digits():
    task = tasks.get("digits")()
    return task, task.data()


def train(digits, epochs=2, seed=0, on_epoch=None, _unchecked=False, **overrides):
    """Train the digits ResNet; `_unchecked` skips the space's range check (for absurd values)."""
    task, data = digits
    space = task.space()
    config = {**space.complete({"width": 8}), **overrides} if _unchecked else space.complete({"width": 8, **overrides})
    torch.manual_seed(seed)
    return fit(task.model(config, data), data, config, epochs, seed, on_epoch)


def test_fit_learns_and_records_a_curve(digits):
    seen = []
    result = train(digits, epochs=2, on_epoch=seen.append)
    assert [r.epoch for r in result.curve] == [1, 2] and seen == result.curve
    assert result.curve[-1].train_loss < result.curve[0].train_loss
    assert result.val_accuracy > 0.5 and 0.0 <= result.test_accuracy <= 1.0
    assert result.curve[0].lr > result.curve[-1].lr  # cosine by default


def test_fit_is_deterministic_on_cpu(digits):
    a, b = train(digits, seed=3), train(digits, seed=3)
    assert [r.val_loss for r in a.curve] == [r.val_loss for r in b.curve]
    assert a.test_accuracy == b.test_accuracy


def test_non_finite_loss_raises_diverged_with_the_reason(digits):
    """A learning rate far outside any sane range makes the loss overflow in the first epoch."""
    with pytest.raises(Diverged, match="non-finite in epoch 1"):
        train(digits, epochs=1, optimizer="sgd", lr=1e12, schedule="constant", _unchecked=True)


def test_train_config_takes_only_its_own_fields():
    config = TrainConfig.from_config({"lr": 0.5, "optimizer": "sgd", "width": 32, "momentum": 0.9})
    assert config.lr == 0.5 and config.optimizer == "sgd" and config.batch_size == 128


def test_cudnn_autotunes_on_cuda_unless_deterministic_algorithms_were_asked_for():
    """Only the flag is set, so no GPU is needed; the CPU leaves it alone."""
    before = torch.backends.cudnn.benchmark, torch.are_deterministic_algorithms_enabled()
    try:
        torch.use_deterministic_algorithms(False)
        tune_backends(torch.device("cuda"))
        assert torch.backends.cudnn.benchmark
        torch.use_deterministic_algorithms(True)
        tune_backends(torch.device("cuda"))
        assert not torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True
        tune_backends(torch.device("cpu"))
        assert torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.benchmark = before[0]
        torch.use_deterministic_algorithms(before[1])


def test_the_epoch_training_loss_is_the_mean_over_its_examples_when_the_last_batch_is_short():
    """10 examples in batches of 4, 4 and 2 on a model the steps leave unchanged (lr 0): the epoch's loss is the
    mean over the 10, not the mean of the three batch means, which weighs the 2 of the short batch double."""
    torch.manual_seed(0)
    inputs, labels = torch.randn(10, 3), torch.tensor([0, 1] * 5)
    data = Data(Split(inputs, labels), Split(inputs, labels), Split(inputs, labels), num_classes=2)
    model = torch.nn.Linear(3, 2)
    config = {"optimizer": "sgd", "lr": 0.0, "momentum": 0.0, "schedule": "constant", "batch_size": 4}
    result = fit(model, data, config, epochs=1, seed=0)
    expected = torch.nn.functional.cross_entropy(model(inputs), labels).item()
    assert result.curve[0].train_loss == pytest.approx(expected, rel=1e-6)
    assert result.curve[0].val_loss == pytest.approx(expected, rel=1e-6)
