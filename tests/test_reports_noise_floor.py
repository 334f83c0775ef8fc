"""The `noise_floor: N` spec option: N extra trainings of the manual default, reported as seed noise."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_spec

from harness.errors import SpecError
from harness.executor import CellRunner
from harness.plan import NOISE_FLOOR_LABEL, build_plan
from harness.spec import parse_spec
from harness.store import RunStore, frames
from reports.noise import noise_floor, split_noise_floor


def test_noise_floor_adds_one_cell_per_task_with_its_own_budget() -> None:
    plan = build_plan(parse_spec(tiny_spec(noise_floor=3, seeds=[4, 5])))
    noise = [cell for cell in plan.cells if cell.strategy.label == NOISE_FLOOR_LABEL]
    assert [(c.task.label, c.seed) for c in noise] == [("digits-resnet", 4), ("listops-transformer", 4)]
    assert noise[0].strategy.budget.trials == 3 and noise[0].strategy.budget.epochs == plan.budget.epochs
    assert len(plan.cells) == 2 * 2 * 2 + 2
    assert all(c.strategy.budget == plan.budget for c in plan.cells if c not in noise)
    assert build_plan(parse_spec(tiny_spec())).noise_floor is None


def test_noise_floor_needs_two_trainings_and_its_label() -> None:
    with pytest.raises(SpecError, match=r"noise_floor: input should be greater than or equal to 2 \(got 1\)"):
        parse_spec(tiny_spec(noise_floor=1))
    taken = tiny_spec(noise_floor=2, strategies=[{"name": "random", "label": NOISE_FLOOR_LABEL}])
    with pytest.raises(SpecError, match="label 'noise-floor' is used twice"):
        build_plan(parse_spec(taken))


def test_noise_floor_cell_trains_the_default_with_new_seeds(tmp_path) -> None:
    spec = parse_spec(tiny_spec(tasks=["digits"], strategies=["random"], budget={"trials": 1, "epochs": 1},
                                noise_floor=2, space={"width": 8, "depth": 1, "batch_size": 128}))
    plan = build_plan(spec)
    store = RunStore(plan, tmp_path)
    CellRunner(plan, store, torch.device("cpu")).run_cell(plan.cells[-1])
    results, _ = frames(store.storage, spec.hash())
    assert results["strategy"].unique().tolist() == [NOISE_FLOOR_LABEL]
    assert len(results) == 2 and results["train_seed"].nunique() == 2
    params = [c for c in results.columns if c.startswith("param_")]
    assert len(results[params].drop_duplicates()) == 1  # one configuration, trained twice
    note = results.loc[0, "strategy_note"]
    assert note.startswith("1 configuration(s)") and "repeated with new training seeds" in note
    contest, noise = split_noise_floor(results)
    floor = noise_floor(noise).iloc[0]
    assert contest.empty and floor["trainings"] == 2
    assert floor["val_std"] == pytest.approx(results["val_accuracy"].std())
