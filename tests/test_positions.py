"""Positions: a resumed cell runs the trials an uninterrupted one would, and a dead worker's trial is not re-run."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from conftest import interrupt_at_epoch, tiny_spec
from optuna.trial import TrialState
from synthetic import SPACE

from harness.budget import Budget
from harness.executor import trial_claims
from harness.plan import build_plan
from harness.positions import INTERRUPTED_KEY, POSITION_KEY, next_position, position, requeue_interrupted
from harness.spec import parse_spec
from harness.store import RunStore, frames
from harness.strategy import strategies
from harness.trainer import resolve_device

REPEATED = ["trial", "state", "val_accuracy", "test_accuracy", "train_seed"]


def cell_frame(strategy: Any, interrupt_at: int | None, executor: str = "local") -> pd.DataFrame:
    """One cell of 5 two-epoch trials on digits, run straight through or stopped by a Ctrl-C at an epoch and
    resumed; its results frame, trials in order."""
    spec = tiny_spec(tasks=["digits"], strategies=[strategy], budget={"trials": 5, "epochs": 2},
                     space={"width": 8, "batch_size": [64, 128]}, executor={"name": executor})
    plan = build_plan(parse_spec(spec))
    store = RunStore(plan, Path(tempfile.mkdtemp()) / "runs")
    store.record_session(resolve_device("cpu"))
    if interrupt_at is not None:
        with pytest.raises(KeyboardInterrupt):
            runner = plan.executor.runner(plan, store, resolve_device("cpu"))
            runner.run_cell(plan.cells[0], on_epoch=interrupt_at_epoch(interrupt_at))
    plan.executor.runner(plan, store, resolve_device("cpu")).run_cell(plan.cells[0])
    frame = frames(store.storage, plan.spec.hash())[0]
    params = sorted(c for c in frame.columns if c.startswith("param_"))
    return frame.sort_values("trial")[REPEATED + params].reset_index(drop=True)


@pytest.mark.parametrize("strategy", ["random", {"name": "tpe", "startup_trials": 2}, "qmc",
                                      {"name": "gp", "startup_trials": 3}, {"name": "cmaes", "startup_trials": 2},
                                      {"name": "grid", "resolution": 2},
                                      "manual", "lr_range_test", {"name": "coarse_to_fine", "top_k": 1},
                                      {"name": "median", "startup_trials": 1},
                                      {"name": "asha", "reduction_factor": 2},
                                      {"name": "hyperband", "reduction_factor": 2}],
                         ids=lambda s: s if isinstance(s, str) else s["name"])
def test_a_cell_resumed_after_a_ctrl_c_runs_the_trials_an_uninterrupted_one_does(strategy):
    straight = cell_frame(strategy, None)
    resumed = cell_frame(strategy, interrupt_at=3)  # in the second trial's first epoch
    assert list(straight["trial"]) == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(resumed, straight)


def test_trials_cut_short_in_a_batch_are_run_again_at_their_positions():
    straight = cell_frame("random", None, executor="batched")
    resumed = cell_frame("random", interrupt_at=2, executor="batched")
    pd.testing.assert_frame_equal(resumed, straight)


def claims_of(study: optuna.Study, budget: Budget):
    plan = strategies.get("random")().plan(SPACE, budget, 0)
    study.sampler = plan.sampler
    return trial_claims(study, study._storage, plan, budget, SPACE, lambda n: plan.sampler)


def test_an_interrupted_trial_is_queued_again_once_and_a_dead_workers_trial_gives_its_position_up():
    study = optuna.create_study(direction="maximize", study_name="synthetic/cell")
    budget = Budget(epochs=1, trials=6)
    next_trial = claims_of(study, budget)
    claimed = [next_trial() for _ in range(3)]  # as three workers would, before any of them ends
    drawn = [SPACE.suggest(trial) for trial in claimed]
    assert [position(trial) for trial in claimed] == [0, 1, 2]
    for trial, outcome in zip(claimed, ("complete", "interrupted", "died")):
        if outcome == "complete":
            study.tell(trial, 0.5)
        elif outcome == "interrupted":
            trial.set_user_attr(INTERRUPTED_KEY, "KeyboardInterrupt")
            study.tell(trial, state=TrialState.FAIL)
        else:  # failed without a mark, as a dead worker's trial is failed at the next claim
            study.tell(trial, state=TrialState.FAIL)
    rerun = next_trial()
    assert position(rerun) == 1 and SPACE.suggest(rerun) == drawn[1]  # the interrupted draw, at its position
    study.tell(rerun, 0.4)
    fresh = next_trial()
    assert position(fresh) == 3 and SPACE.suggest(fresh) != drawn[2]  # after the dead worker's, with a new draw
    trials = study.get_trials(deepcopy=False)
    assert requeue_interrupted(study, trials) == 0  # the interrupted position is held by its re-run
    assert next_position(trials) == 4


def test_positions_default_to_trial_numbers_for_runs_recorded_without_them():
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(value=1.0))
    study.add_trial(optuna.trial.create_trial(value=2.0, user_attrs={POSITION_KEY: 7}))
    assert [position(t) for t in study.trials] == [0, 7] and next_position(study.trials) == 8


def test_a_strategys_sampler_draws_anew_for_each_trial_of_a_plain_optuna_loop():
    study = optuna.create_study(sampler=strategies.get("random")().plan(SPACE, Budget(epochs=1, trials=4), 0).sampler)
    study.optimize(lambda trial: SPACE.suggest(trial)["lr"], n_trials=4)
    assert len({t.params["lr"] for t in study.trials}) == 4
