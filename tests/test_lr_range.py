"""Smith's learning-rate range test: the trainer's sweep, and the strategy that uses it end to end."""

from __future__ import annotations

import optuna
import pytest
import torch
from conftest import tiny_spec
from typer.testing import CliRunner

from harness.cli import app
from harness.plugins import load_builtins
from harness.seeding import training_seed
from harness.store import frames, open_storage
from harness.task import Data, Split, tasks
from harness.trainer import Diverged, RangeTest, lr_range_test

load_builtins()


@pytest.fixture(scope="module")
def small_digits():
    task = tasks.get("digits")()
    full = task.data()
    data = Data(*(Split(s.inputs[:256], s.labels[:256]) for s in (full.train, full.val, full.test)), full.num_classes)
    config = task.space().complete({"width": 8, "optimizer": "sgd", "batch_size": 32})
    return task, data, config


def sweep(small_digits, test: RangeTest):
    task, data, config = small_digits
    torch.manual_seed(0)
    return lr_range_test(task.model(config, data), data, config, test, seed=0)


def test_range_test_picks_a_tenth_of_the_rate_at_the_lowest_loss_and_says_what_it_cost(small_digits):
    result = sweep(small_digits, RangeTest(min_lr=1e-4, max_lr=10.0, epochs=2.0, min_steps=1))
    best = min(range(len(result.losses)), key=result.losses.__getitem__)
    assert result.lr == pytest.approx(result.lrs[best] / 10)
    assert result.lrs == sorted(result.lrs) and result.lrs[0] == pytest.approx(1e-4)
    assert len(result.lrs) <= 16 and result.epochs == pytest.approx((len(result.lrs) + (len(result.lrs) < 16)) / 8)
    assert result == sweep(small_digits, RangeTest(min_lr=1e-4, max_lr=10.0, epochs=2.0, min_steps=1))  # repeatable


def test_range_test_picks_within_its_bounds(small_digits):
    """The sweep sees past the space's rates; its pick stays among them, as every other strategy's does."""
    free = sweep(small_digits, RangeTest(min_lr=1e-4, max_lr=10.0, epochs=2.0, min_steps=1))
    above = sweep(small_digits, RangeTest(min_lr=1e-4, max_lr=10.0, epochs=2.0, min_steps=1,
                                          bounds=(free.lr / 100, free.lr / 10)))
    below = sweep(small_digits, RangeTest(min_lr=1e-4, max_lr=10.0, epochs=2.0, min_steps=1,
                                          bounds=(free.lr * 10, free.lr * 100)))
    assert (above.lr, below.lr) == (pytest.approx(free.lr / 10), pytest.approx(free.lr * 10))
    assert above.lrs == below.lrs == free.lrs


def test_range_test_that_diverges_at_once_fails_the_trial(small_digits):
    with pytest.raises(Diverged, match="found no rate in 1e\\+12..1e\\+13 that lowered the loss") as failure:
        sweep(small_digits, RangeTest(min_lr=1e12, max_lr=1e13, min_steps=3))
    assert failure.value.epochs == pytest.approx(2 / 8)  # the step that did not diverge, and the one that did


def test_lr_range_test_strategy_end_to_end_counts_the_sweep_against_the_budget(write_spec, tmp_path):
    spec = tiny_spec(tasks=["digits"], strategies=["lr_range_test"], budget={"total_epochs": 2, "epochs": 1},
                     space={"width": 8, "batch_size": 128, "optimizer": "sgd", "schedule": "constant"})
    result = CliRunner().invoke(app, ["run", str(write_spec(spec)), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    storage = open_storage(f"sqlite:///{tmp_path / 'runs' / 'tiny' / 'studies.db'}")
    study = optuna.load_study(study_name="tiny/digits-resnet/lr_range_test/seed-0", storage=storage)
    lr = tasks.get("digits")().space().get("lr")
    for trial in study.trials:
        sweep_record = trial.user_attrs["lr_range_test"]
        assert lr.low <= sweep_record["lr"] <= lr.high
        assert trial.user_attrs["config"]["lr"] == sweep_record["lr"] != trial.params["lr"]
        assert trial.user_attrs["extra_epochs"] == sweep_record["epochs"] > 0
    results = frames(storage, study.user_attrs["spec_hash"])[0]
    assert results["epochs"].sum() >= 2 and results["epochs"].iloc[:-1].sum() < 2  # the sweep is paid from the budget
    assert (results["epochs"] > 1).all()
    assert "lasting 1 epoch(s) and at least 20 steps" in study.user_attrs["strategy_note"]
    assert {trial.user_attrs["extra_epochs"] for trial in study.trials} == {2.0}  # 20 steps of 10 batches an epoch
    assert study.user_attrs["spent"]["epochs"] == results["epochs"].sum()
    assert study.user_attrs["spent"]["trials"] == study.user_attrs["spent"]["completed"] == len(results)


def test_a_trial_whose_range_test_finds_no_rate_records_its_seed_sweep_and_cost(write_spec, tmp_path):
    spec = tiny_spec(tasks=["digits"], strategies=["lr_range_test"], budget={"trials": 1, "epochs": 1},
                     space={"width": 8, "batch_size": 128, "optimizer": "sgd", "schedule": "constant",
                            "lr": {"low": 1e11, "high": 1e12}})
    result = CliRunner().invoke(app, ["run", str(write_spec(spec)), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    storage = open_storage(f"sqlite:///{tmp_path / 'runs' / 'tiny' / 'studies.db'}")
    (trial,) = optuna.load_study(study_name="tiny/digits-resnet/lr_range_test/seed-0", storage=storage).trials
    assert trial.state.name == "FAIL" and "found no rate" in trial.user_attrs["fail_reason"]
    assert trial.user_attrs["train_seed"] == training_seed(0, 0)  # failed before its configuration was written
    assert trial.user_attrs["extra_epochs"] > 0 and trial.user_attrs["device_seconds"] > 0
    assert "config" not in trial.user_attrs
