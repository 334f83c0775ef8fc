"""Memory is released between trials: the process does not grow over many small trials."""

from __future__ import annotations

import psutil
import pytest
from conftest import TINY_LISTOPS, tiny_spec
from text_helpers import one_thread  # noqa: F401  (a fixture)

from harness.plan import build_plan
from harness.spec import parse_spec
from harness.store import RunStore
from harness.trainer import resolve_device

TRIALS = 100  # the requirement: no growth over 100 trials


@pytest.mark.parametrize("executor", ["local", {"name": "batched", "batch_trials": 4}], ids=["local", "batched"])
def test_resident_memory_stays_bounded_over_many_trials(tmp_path, one_thread, executor):
    spec = tiny_spec(tasks=[{**TINY_LISTOPS, "train_size": 40, "val_size": 20, "test_size": 20}],
                     strategies=["random"], budget={"trials": TRIALS, "epochs": 1},
                     space={"d_model": 64, "layers": 2},  # a leaked model with its optimizer state: ~1 MiB a trial
                     executor=executor)
    plan = build_plan(parse_spec(spec))
    runner = plan.executor.runner(plan, RunStore(plan, tmp_path), resolve_device("cpu"))
    process = psutil.Process()
    rss = []
    runner.run_cell(plan.cells[0], on_trial=lambda cell, trial: rss.append(process.memory_info().rss))
    assert len(rss) == TRIALS
    settled = rss[TRIALS // 4]  # after the first trials have filled allocator caches and imports
    growth = rss[-1] - settled
    assert growth < 20 * 2**20, f"resident memory grew {growth / 2**20:.1f} MiB over {TRIALS * 3 // 4} trials"
