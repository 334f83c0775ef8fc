"""Smith's learning-rate range test: the trainer's sweep, and the strategy that uses it end to end."""

from __future__ import annotations

import contextlib

import optuna
import pytest
import torch
from conftest import TABLES_ONLY, TINY_LISTOPS, tiny_spec
from typer.testing import CliRunner

from harness.budget import Spent
from harness.claims import Slot
from harness.cli import app
from harness.executor import CellRunner
from harness.plan import build_plan
from harness.plugins import load_builtins
from harness.seeding import training_seed
from harness.spec import parse_spec
from harness.store import RunStore, frames, open_storage
from harness.task import Data, Split, tasks
from harness.trainer import Diverged, RangeTest, lr_range_test, resolve_device

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
    result = CliRunner().invoke(app, ["run", str(write_spec(spec)), "--runs-dir", str(tmp_path / "runs"), *TABLES_ONLY])
    assert result.exit_code == 0, result.output
    storage = open_storage(f"sqlite:///{tmp_path / 'runs' / 'tiny' / 'studies.db'}")
    study = optuna.load_study(study_name="tiny/digits-resnet/lr_range_test/seed-0", storage=storage)
    lr = tasks.get("digits")().space().get("lr")
    for trial in study.trials:
        sweep_record = trial.user_attrs["lr_range_test"]
        assert lr.low <= sweep_record["lr"] <= lr.high
        drawn = lr.within(trial.user_attrs["config"]).at(trial.params["lr_position"])  # what trained without a test
        assert trial.user_attrs["config"]["lr"] == sweep_record["lr"] != drawn
        assert trial.user_attrs["extra_epochs"] == sweep_record["epochs"] > 0
    results = frames(storage, study.user_attrs["spec_hash"])[0]
    assert results["epochs"].sum() >= 2 and results["epochs"].iloc[:-1].sum() < 2  # the sweep is paid from the budget
    assert (results["epochs"] > 1).all()
    assert "lasting 1 epoch(s) and at least 20 steps" in study.user_attrs["strategy_note"]
    assert {trial.user_attrs["extra_epochs"] for trial in study.trials} == {2.0}  # 20 steps of 10 batches an epoch
    assert study.user_attrs["spent"]["epochs"] == results["epochs"].sum()
    assert study.user_attrs["spent"]["trials"] == study.user_attrs["spent"]["completed"] == len(results)


def test_range_test_around_another_range_sweeps_as_far_outside_it():
    test = RangeTest(min_lr=1e-4, max_lr=10.0, bounds=(1e-3, 1.0), epochs=2.0)
    assert test.around(1e-2, 1e-1) == RangeTest(min_lr=1e-3, max_lr=1.0, bounds=(1e-2, 1e-1), epochs=2.0)
    assert RangeTest(min_lr=1e-4, max_lr=10.0).around(1e-2, 1e-1) == RangeTest(min_lr=1e-4, max_lr=10.0)


def test_each_trials_range_test_sweeps_and_picks_in_its_optimizers_own_range(write_spec, tmp_path):
    """Where each optimizer has its own lr range, Adam's rate is picked within Adam's, as every other strategy
    searches it, and its sweep starts a tenth below it, not below SGD's."""
    spec = tiny_spec(tasks=["blobs_by_optimizer"], strategies=["lr_range_test"], budget={"trials": 2, "epochs": 1},
                     space={}, plugins=["harness.testing.tasks"])
    result = CliRunner().invoke(app, ["run", str(write_spec(spec)), "--runs-dir", str(tmp_path / "runs"), *TABLES_ONLY])
    assert result.exit_code == 0, result.output
    storage = open_storage(f"sqlite:///{tmp_path / 'runs' / 'tiny' / 'studies.db'}")
    study = optuna.load_study(study_name="tiny/blobs_by_optimizer/lr_range_test/seed-0", storage=storage)
    ranges = {"adam": (1e-3, 1e-2), "sgd": (1e-3, 1e-1)}
    for trial in study.trials:
        config, swept = trial.user_attrs["config"], trial.user_attrs["lr_range_test"]
        low, high = ranges[config["optimizer"]]
        assert low <= config["lr"] == swept["lr"] <= high and swept["lrs"][0] == pytest.approx(low / 10)
    assert sorted(trial.user_attrs["config"]["optimizer"] for trial in study.trials) == ["adam", "sgd"]
    assert "from each optimizer's lowest lr / 10 to its highest x 10, picked within its range" in (
        study.user_attrs["strategy_note"])


def test_a_trial_whose_range_test_finds_no_rate_records_its_seed_sweep_and_cost(write_spec, tmp_path):
    spec = tiny_spec(tasks=["digits"], strategies=["lr_range_test"], budget={"trials": 1, "epochs": 1},
                     space={"width": 8, "batch_size": 128, "optimizer": "sgd", "schedule": "constant",
                            "lr": {"low": 1e11, "high": 1e12}})
    result = CliRunner().invoke(app, ["run", str(write_spec(spec)), "--runs-dir", str(tmp_path / "runs"), *TABLES_ONLY])
    assert result.exit_code == 0, result.output
    storage = open_storage(f"sqlite:///{tmp_path / 'runs' / 'tiny' / 'studies.db'}")
    (trial,) = optuna.load_study(study_name="tiny/digits-resnet/lr_range_test/seed-0", storage=storage).trials
    assert trial.state.name == "FAIL" and "found no rate" in trial.user_attrs["fail_reason"]
    assert trial.user_attrs["train_seed"] == training_seed(0, 0)  # failed before its configuration was written
    assert trial.user_attrs["device_seconds"] > 0 and "config" not in trial.user_attrs
    assert 0 < trial.user_attrs["extra_epochs"] < 2.0  # what it swept before it diverged, not the 2 epochs planned


# ListOps's tiny training set makes 2 batches of 64 an epoch, so a sweep's 20 steps last 10 epochs, not
# `sweep_epochs`' 1: a trial costs 11 epochs, the whole budget
SWEEPING_CELL = tiny_spec(tasks=[TINY_LISTOPS], strategies=["lr_range_test"], budget={"total_epochs": 11, "epochs": 1},
                          space={"d_model": 32, "layers": 1, "batch_size": 64, "optimizer": "sgd"})


@pytest.fixture
def sweeping_cell(tmp_path):
    """A runner, its cell (open, as a worker opens it) and that cell's study and search plan, on SQLite."""
    plan = build_plan(parse_spec(SWEEPING_CELL))
    runner = CellRunner(plan, RunStore(plan, tmp_path / "runs"), resolve_device("cpu"))
    cell = plan.cells[0]
    return runner, cell, *runner.open_cell(cell)


@contextlib.contextmanager
def during_the_sweep(action):
    """Call `action` once, at the first forward pass of a model: the range test's first step."""
    def once(module, inputs):
        handle.remove()
        action()

    handle = torch.nn.modules.module.register_module_forward_pre_hook(once)
    try:
        yield
    finally:
        handle.remove()


def test_a_claim_made_while_another_trial_sweeps_counts_the_sweep_it_planned(sweeping_cell):
    """Counted as `sweep_epochs` until it ended, the sweep left room for a second worker's trial, and the
    cell spent 21 epochs of its 11."""
    runner, cell, study, search = sweeping_cell
    other_worker = runner.claims(cell, study, search)
    recorded, claimed = [], []

    def claim_as_the_other_worker() -> None:
        (running,) = optuna.load_study(study_name=study.study_name, storage=runner.store.storage).trials
        recorded.append(running.user_attrs.get("extra_epochs"))
        claimed.append(other_worker())

    with during_the_sweep(claim_as_the_other_worker):
        assert runner.run_cell(cell)
    if isinstance(claimed[0], optuna.Trial):  # the other worker trains it
        CellRunner.finish(study, claimed[0], lambda: runner.run_trial(cell, claimed[0], None, search.lr_range_test))
    assert Spent.of(study.get_trials()).epochs == 11  # one trial: its sweep and its epoch
    assert claimed == [Slot.BUSY] and recorded == [10.0]  # planned before the sweep began


def test_a_claim_made_before_another_trial_planned_its_sweep_counts_the_longest_the_strategy_plans(sweeping_cell):
    """Between a claim and the claimed trial's record of its plan (its data may be loading), a running trial
    counts the longest sweep any of the strategy's configurations plans on the cell's data, not `sweep_epochs`."""
    runner, cell, study, search = sweeping_cell
    first, second = runner.claims(cell, study, search), runner.claims(cell, study, search)
    assert isinstance(first(), optuna.Trial) and second() is Slot.BUSY


def test_a_trial_that_fails_during_its_sweep_counts_the_sweep_it_planned(sweeping_cell):
    """What it swept before the error is not known; the plan bounds it and is what the claims counted it for
    while it ran, so a failure never gives back room they had refused."""
    runner, cell, study, search = sweeping_cell
    trial = runner.claims(cell, study, search)()

    def task_error() -> None:
        raise RuntimeError("the task failed")

    with during_the_sweep(task_error):
        failed = CellRunner.finish(study, trial, lambda: runner.run_trial(cell, trial, None, search.lr_range_test))
    assert failed.state.name == "FAIL" and "the task failed" in failed.user_attrs["fail_reason"]
    assert failed.user_attrs["extra_epochs"] == 10.0 and Spent.of([failed]).epochs == 10.0
