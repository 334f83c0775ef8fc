"""Batched trials give each trial what it would have got alone, and the batched executor stores them alike."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from conftest import TINY_LISTOPS, tiny_spec
from torch import nn
from torch.func import stack_module_state

from harness.errors import SpecError
from harness.executor import Hooks
from harness.plan import Plan, build_plan
from harness.positions import position
from harness.spec import parse_spec
from harness.stacked import Vmapped, architecture, fit_batched, stack_forward
from harness.store import RunStore, frames
from harness.task import Data, Split
from harness.interleaved import fit_interleaved, shares
from harness.trainer import Diverged, EpochRecord, FitResult, fit, resolve_device
from tasks.digits import Digits
from tasks.listops import ListOps

EPOCHS = 2
TASK = Digits()  # the resnet family: batch norm, whose running statistics each member keeps for itself
SPACE = TASK.space()
CONFIGS = [{**SPACE.complete({"width": 8, "optimizer": "sgd", "lr": 0.05, "batch_size": 64, "schedule": "cosine"}),
            "grad_clip": 0.5},  # small enough to clip: each member clips its own gradients
           SPACE.complete({"width": 8, "optimizer": "adam", "lr": 3e-3, "batch_size": 64, "schedule": "constant",
                           "dropout": 0.0}),
           {**SPACE.complete({"width": 8, "optimizer": "adamw", "lr": 1e-2, "batch_size": 64, "decoupled_decay": 1e-3}),
            "label_smoothing": 0.1}]
SEEDS = [11, 12, 13]


def model(config, seed: int, data) -> torch.nn.Module:
    torch.manual_seed(seed)
    return TASK.model(config, data).double()


@pytest.fixture(scope="module")
def data() -> Data:
    """In float64, so that the stack's other summation order (grouped convolutions) cannot grow through
    training into visible differences; in float32 the curves agree to about 1e-3."""
    digits = TASK.data()
    return Data(*(Split(s.inputs[:500].double(), s.labels[:500]) for s in (digits.train, digits.val, digits.test)),
                digits.num_classes)  # the first 500 training examples are enough and keep the test quick


@pytest.fixture(scope="module")
def alone_models(data):
    """Each configuration's model trained on its own by the ordinary trainer, and its result."""
    models = [model(c, s, data) for c, s in zip(CONFIGS, SEEDS)]
    return models, [fit(m, data, c, EPOCHS, s) for m, c, s in zip(models, CONFIGS, SEEDS)]


@pytest.fixture(scope="module")
def alone(alone_models):
    return alone_models[1]


TOGETHER = [fit_batched, fit_interleaved]  # as one stack, and taking turns (a GPU's way, here without streams)


@pytest.fixture(scope="module", params=TOGETHER, ids=["stacked", "interleaved"])
def together(data, request):
    """The same configurations trained together (a stack is grouped: the models are conv nets), and their models."""
    models = [model(c, s, data) for c, s in zip(CONFIGS, SEEDS)]
    return models, request.param(models, data, CONFIGS, EPOCHS, SEEDS)


def assert_same_curve(batched, single) -> None:
    assert len(batched.curve) == len(single.curve)
    for b, s in zip(batched.curve, single.curve):
        assert (b.epoch, b.lr) == (s.epoch, pytest.approx(s.lr))
        assert b.train_loss == pytest.approx(s.train_loss, rel=1e-5)
        assert b.val_loss == pytest.approx(s.val_loss, rel=1e-5)
        assert b.val_accuracy == s.val_accuracy
    assert batched.test_loss == pytest.approx(single.test_loss, rel=1e-5)
    assert batched.test_accuracy == single.test_accuracy


def test_each_batched_trial_equals_the_same_trial_trained_alone(together, alone):
    outcomes = together[1]
    for outcome, single in zip(outcomes, alone):
        assert outcome.error is None and outcome.seconds > 0
        assert_same_curve(outcome.result, single)
    assert len({o.result.curve[-1].val_loss for o in outcomes}) == 3  # and they really are three trials


def test_each_batched_model_ends_with_the_batch_norm_statistics_it_has_when_trained_alone(together, alone_models):
    for batched, single in zip(together[0], alone_models[0]):
        own = dict(batched.named_buffers())
        statistics = [(name, b) for name, b in single.named_buffers() if name.endswith(("running_mean", "running_var"))]
        assert statistics
        for name, buffer in statistics:
            torch.testing.assert_close(own[name], buffer, rtol=1e-5, atol=1e-8)


def layer_norm_net(seed: int) -> nn.Module:
    """A model the grouped form does not know (layer norm normalises the last dimension, which in the grouped
    layout holds every member's features), so the stack vmaps it."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 10)).double()


def test_a_model_that_cannot_be_grouped_is_vmapped_and_each_trial_still_equals_itself_alone(data):
    singles = [fit(layer_norm_net(s), data, c, EPOCHS, s) for c, s in zip(CONFIGS, SEEDS)]
    models = [layer_norm_net(s) for s in SEEDS]
    assert isinstance(stack_forward(models, *stack_module_state(models), data.val.inputs[:4]), Vmapped)
    outcomes = fit_batched(models, data, CONFIGS, EPOCHS, SEEDS)
    for outcome, single in zip(outcomes, singles):
        assert_same_curve(outcome.result, single)


@pytest.mark.parametrize("train_together", TOGETHER, ids=["stacked", "interleaved"])
def test_a_diverging_trial_leaves_the_batch_and_the_others_go_on_undisturbed(data, alone, train_together):
    exploding = SPACE.complete({"width": 8, "optimizer": "sgd", "lr": 0.3, "batch_size": 64, "schedule": "constant"})
    exploding = {**exploding, "lr": 1e12}  # outside the space on purpose: it must diverge in the first epoch
    configs, seeds = [CONFIGS[0], exploding, CONFIGS[2]], [SEEDS[0], 99, SEEDS[2]]
    outcomes = train_together([model(c, s, data) for c, s in zip(configs, seeds)], data, configs, EPOCHS, seeds)
    assert isinstance(outcomes[1].error, Diverged) and "non-finite in epoch 1" in str(outcomes[1].error)
    assert outcomes[1].result is None
    assert_same_curve(outcomes[0].result, alone[0])
    assert_same_curve(outcomes[2].result, alone[2])


@pytest.mark.parametrize("train_together", TOGETHER, ids=["stacked", "interleaved"])
def test_a_pruned_trial_leaves_after_its_epoch(data, alone, train_together):
    seen = []

    def prune_the_middle_one(index: int, record) -> None:
        seen.append((index, record.epoch))
        if index == 1:
            raise optuna.TrialPruned("pruned after epoch 1")

    outcomes = train_together([model(c, s, data) for c, s in zip(CONFIGS, SEEDS)], data, CONFIGS, EPOCHS, SEEDS,
                              on_epoch=prune_the_middle_one)
    assert isinstance(outcomes[1].error, optuna.TrialPruned)
    assert sorted(seen) == [(0, 1), (0, 2), (1, 1), (2, 1), (2, 2)]
    assert_same_curve(outcomes[0].result, alone[0])
    assert_same_curve(outcomes[2].result, alone[2])


def test_models_no_stack_can_run_are_trained_one_by_one_as_alone():
    task = ListOps(**{**{k: v for k, v in TINY_LISTOPS.items() if k != "name"}, "model_family": "rnn"})
    text = task.data()
    configs = [task.space().complete({"hidden": 32, "embed_dim": 32, "layers": 1, "batch_size": 32, "lr": lr,
                                             "dropout": 0.0})
               for lr in (1e-3, 3e-3)]

    def models() -> list[nn.Module]:  # token batches carry host lengths, which vmap cannot take
        built = []
        for config, seed in zip(configs, SEEDS):
            torch.manual_seed(seed)
            built.append(task.model(config, text))
        return built

    stacked = models()
    assert stack_forward(stacked, *stack_module_state(stacked), next(text.val.batches(4))[0]) is None
    outcomes = fit_batched(models(), text, configs, EPOCHS, SEEDS[:2])
    for outcome, single, config, seed in zip(outcomes, models(), configs, SEEDS):
        assert_same_curve(outcome.result, fit(single, text, config, EPOCHS, seed))


def test_members_of_different_batch_sizes_cannot_be_stacked_but_can_take_turns(data):
    configs = [CONFIGS[0], {**CONFIGS[1], "batch_size": 128}]
    with pytest.raises(ValueError, match="one batch size"):
        fit_batched([model(c, 0, data) for c in configs], data, configs, 1, [0, 1])
    outcomes = fit_interleaved([model(c, s, data) for c, s in zip(configs, SEEDS)], data, configs, 1, SEEDS[:2])
    for outcome, config, seed in zip(outcomes, configs, SEEDS):
        assert_same_curve(outcome.result, fit(model(config, seed, data), data, config, 1, seed))


@pytest.mark.parametrize("train_together", TOGETHER, ids=["stacked", "interleaved"])
def test_trials_draw_their_dropout_masks_as_alone_and_one_leaving_disturbs_none(data, train_together):
    configs = [{**config, "dropout": rate} for config, rate in zip(CONFIGS, (0.5, 0.3, 0.0))]

    def prune_the_first(index: int, record) -> None:
        if index == 0:
            raise optuna.TrialPruned("pruned after epoch 1")

    models = [model(c, s, data) for c, s in zip(configs, SEEDS)]
    torch.manual_seed(0)
    outcomes = train_together(models, data, configs, EPOCHS, SEEDS, on_epoch=prune_the_first)
    after = torch.rand(3)
    assert isinstance(outcomes[0].error, optuna.TrialPruned)
    for outcome, config, seed in zip(outcomes[1:], configs[1:], SEEDS[1:]):
        assert_same_curve(outcome.result, fit(model(config, seed, data), data, config, EPOCHS, seed))
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))  # the caller's random stream is where it was


@pytest.mark.parametrize("train_together", TOGETHER, ids=["stacked", "interleaved"])
def test_a_plateau_schedule_reads_each_trials_own_validation_losses(data, train_together):
    configs = [{**config, "schedule": "plateau", "plateau_patience": 0, "plateau_factor": 0.1, "plateau_threshold": 0.5}
               for config in CONFIGS[:2]]
    epochs = 4
    outcomes = train_together([model(c, s, data) for c, s in zip(configs, SEEDS)], data, configs, epochs, SEEDS[:2])
    for outcome, config, seed in zip(outcomes, configs, SEEDS):
        alone = fit(model(config, seed, data), data, config, epochs, seed)
        assert len({record.lr for record in alone.curve}) > 1  # the rate did drop
        assert_same_curve(outcome.result, alone)


class Scaled(nn.Module):
    """Multiplies by a factor that is no parameter, buffer or printed setting: only its output tells members apart."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x


def scaled_net(seed: int, factor: float) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), Scaled(factor), nn.Linear(16, 10)).double()


def test_members_whose_modules_differ_are_never_trained_as_one_of_them(data):
    assert architecture(nn.LeakyReLU(0.01)) != architecture(nn.LeakyReLU(0.2))  # printed settings: grouped apart
    factors = (1.0, -3.0)
    models = [scaled_net(seed, factor) for seed, factor in zip(SEEDS, factors)]
    assert stack_forward(models, *stack_module_state(models), data.val.inputs[:4]) is None  # the probe tells them apart
    outcomes = fit_batched([scaled_net(seed, factor) for seed, factor in zip(SEEDS, factors)], data, CONFIGS[:2],
                           EPOCHS, SEEDS[:2])
    for outcome, config, seed, factor in zip(outcomes, CONFIGS, SEEDS, factors):
        assert_same_curve(outcome.result, fit(scaled_net(seed, factor), data, config, EPOCHS, seed))


def test_interleaved_trials_share_the_wall_time_in_proportion_to_their_own():
    record = EpochRecord(1, 0.5, 0.5, 0.9, 0.1, seconds=2.0)
    ended = {0: FitResult([record], 0.5, 0.9, seconds=2.0), 1: optuna.TrialPruned("pruned")}
    outcomes = shares(ended, own_seconds={0: 3.0, 1: 1.0}, wall=2.0)
    assert [o.seconds for o in outcomes] == [1.5, 0.5]
    assert outcomes[0].result.seconds == 1.5 and outcomes[0].result.curve[0].seconds == 1.0
    assert isinstance(outcomes[1].error, optuna.TrialPruned)


def run_plan(spec: dict, tmp_path, name: str) -> tuple[Plan, RunStore]:
    plan = build_plan(parse_spec(spec))
    store = RunStore(plan, tmp_path / name)
    store.record_session(resolve_device("cpu"))
    plan.executor.run(plan, store, resolve_device("cpu"), Hooks())
    return plan, store


def results(spec: dict, tmp_path, name: str):
    plan, store = run_plan(spec, tmp_path, name)
    return frames(store.storage, plan.spec.hash())


BATCHED_SPEC = tiny_spec(tasks=["digits"], strategies=[{"name": "grid", "resolution": 2}, "random", "manual", "qmc", "tpe", "gp"],
                         budget={"trials": 3, "epochs": 1},
                         # AdamW at digits' top rate, 0.1, blows its validation loss up to ~50 in one epoch: a state
                         # so chaotic that float32 summation order alone moves 10 of 270 predictions
                         space={"width": 8, "batch_size": 64, "lr": {"adamw": {"high": 0.03}}},
                         executor={"name": "batched", "batch_trials": 2})  # asks 2, then the last 1


@pytest.fixture(scope="module")
def batched_run(tmp_path_factory):
    """The results and curves frames, and each strategy's trials as stored."""
    plan, store = run_plan(BATCHED_SPEC, tmp_path_factory.mktemp("batched"), "runs")
    return (*frames(store.storage, plan.spec.hash()),
            {cell.strategy.label: store.study(cell).get_trials() for cell in plan.cells})


def test_the_batched_executor_spends_the_budget_of_every_strategy(batched_run):
    table, curves, _ = batched_run
    assert table.groupby("strategy").size().to_dict() == {name: 3 for name in ["gp", "grid", "manual", "qmc", "random", "tpe"]}
    assert (table["state"] == "COMPLETE").all() and (table["epochs"] == 1).all()
    assert table["test_accuracy"].between(0, 1).all() and table["train_seed"].notna().all()
    assert table["position_lr"].between(0, 1).all()  # where in its optimizer's range each rate was drawn
    assert (table["device_seconds"] > 0).all() and len(curves) == 18


def test_every_strategy_is_asked_k_trials_before_it_is_told_one(batched_run):
    """K=2 of 3 trials: the second trial is asked before the first has ended, with a configuration of its own (the
    model-based samplers propose it beside a running trial), and the third once both have ended."""
    for strategy, trials in batched_run[2].items():
        first, second, third = sorted(trials, key=position)
        assert second.datetime_start < first.datetime_complete, strategy
        assert third.datetime_start > max(first.datetime_complete, second.datetime_complete), strategy
        assert first.user_attrs["config"] != second.user_attrs["config"], strategy


def test_the_batched_executor_stores_what_the_local_executor_stores(batched_run, tmp_path):
    planned = [{"name": "grid", "resolution": 2}, "random", "manual"]  # the others draw from the trials completed
    local, local_curves = results({**BATCHED_SPEC, "strategies": planned, "executor": "local"}, tmp_path, "local")
    key = ["strategy", "trial"]
    curves = local_curves.merge(batched_run[1], on=[*key, "epoch"], suffixes=("_local", "_batched"))
    assert len(curves) == 9
    for column in ["train_loss", "val_loss"]:
        assert np.allclose(curves[f"{column}_local"], curves[f"{column}_batched"], rtol=1e-3), column
    merged = local.merge(batched_run[0], on=key, suffixes=("_local", "_batched"))
    assert len(merged) == 9
    params = [c for c in local.columns if c.startswith("param_")]
    for column in ["train_seed", *params]:
        pd.testing.assert_series_equal(merged[f"{column}_local"], merged[f"{column}_batched"], check_names=False,
                                       check_dtype=False)
    # float32 here: summation order differs in the stack, so a few validation examples may flip
    assert (merged["val_accuracy_local"] - merged["val_accuracy_batched"]).abs().max() <= 0.02


def test_pruned_trials_of_the_batched_executor_are_stored_as_pruned(tmp_path):
    spec = {**BATCHED_SPEC, "strategies": ["random"], "budget": {"trials": 3, "epochs": 2}}
    plan = build_plan(parse_spec(spec))
    runner = plan.executor.runner(plan, RunStore(plan, tmp_path), resolve_device("cpu"))
    study, search = runner.open_cell(plan.cells[0])
    study.pruner = optuna.pruners.ThresholdPruner(lower=2.0)  # no accuracy reaches it: every trial is pruned
    assert runner.run_trials(plan.cells[0], study, search, None, None)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["PRUNED"] * 3
    assert all(len(t.user_attrs["curve"]) == 1 and t.user_attrs["device_seconds"] > 0 for t in trials)


@pytest.mark.parametrize("executor, message", [
    ({"name": "batched", "batch_trials": 0}, "executor.batch_trials"),
    ({"name": "batched", "compile": True}, "not supported by the batched executor"),
])
def test_bad_batched_options_are_spec_errors(executor, message):
    with pytest.raises(SpecError, match=message):
        build_plan(parse_spec(tiny_spec(executor=executor)))


@pytest.mark.parametrize("executor", ["local", {"name": "batched", "batch_trials": 2}], ids=["local", "batched"])
def test_a_diverged_trial_counts_the_epoch_it_lost(tmp_path, executor):
    spec = {**BATCHED_SPEC, "strategies": [{"name": "manual", "configs": [{"lr": 1e12}, {"lr": 0.05}]}],
            "space": {**BATCHED_SPEC["space"], "optimizer": "sgd", "lr": {"low": 1e-3, "high": 1e12}},
            "budget": {"trials": 2, "epochs": 2}, "executor": executor}
    table = results(spec, tmp_path, "runs")[0].sort_values("trial")
    assert list(table["state"]) == ["FAIL", "COMPLETE"] and list(table["epochs"]) == [1, 2]


def test_a_range_test_under_the_batched_executor_is_refused_with_the_spec():
    spec = {**BATCHED_SPEC, "strategies": ["random", "lr_range_test"]}
    with pytest.raises(SpecError) as error:
        build_plan(parse_spec(spec))
    assert error.value.problems == ["strategies[1]: the batched executor cannot run a learning-rate range test; "
                                    "use executor: local"]
