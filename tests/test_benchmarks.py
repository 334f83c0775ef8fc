"""The benchmark suite: discovered modules, the overhead benchmark's ratio, recorded results with provenance."""

from __future__ import annotations

import inspect
import json
from datetime import datetime, timedelta

import optuna
import pytest
from typer.testing import CliRunner

import benchmarks
from benchmarks import fixed_cost
from benchmarks._common import SyntheticImages
from benchmarks.overhead import measure
from benchmarks.sampler import per_trial_seconds
from benchmarks.trials_per_hour import trial_seconds
from harness.cli import app


def test_every_benchmark_module_is_discovered():
    found = benchmarks.benchmarks()  # imported, not run
    assert list(found) == ["batched", "fixed_cost", "image_pipeline", "overhead", "parallel_scaling", "sampler",
                           "text_throughput", "trials_per_hour"]  # report_speed is a script of its own, no `run`
    assert all(list(inspect.signature(run).parameters) == ["full"] for run in found.values())


def test_the_overhead_benchmark_trains_the_bare_loops_numbers_and_reports_a_ratio():
    figures = measure({"train_size": 128, "eval_size": 64, "image_size": 8}, epochs=1, repeats=1)
    assert figures["ratio"] > 0 and f"ratio {figures['ratio']:.3f}" in figures["summary"]
    assert figures["harness_val_accuracy"] == figures["bare_val_accuracy"]  # the same trial on both sides


def test_the_fixed_cost_benchmark_trains_the_harness_trials_again_alone_and_counts_their_transactions():
    figures = fixed_cost.measure(SyntheticImages(train_size=32, eval_size=16, image_size=8), trials=3, repeats=1)
    assert figures["same_accuracies"]  # the bare side trained the very trials the harness ran
    assert figures["commits_per_trial"] >= 1 and figures["bare_ms_per_trial"] > 0
    assert f"fixed cost {figures['fixed_ms_per_trial']:.1f} ms per trial, ratio {figures['ratio']:.2f}" in figures["summary"]


def test_the_suite_prints_each_summary_and_records_it_with_provenance(tmp_path, capsys):
    assert benchmarks.main(["image_pipeline", "--results-dir", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "image_pipeline.json").read_text())
    assert capsys.readouterr().out == f"image_pipeline: {record['summary']}\n"
    assert {"date", "device", "torch", "optuna", "command"} <= set(record)
    assert record["command"] == "python -m benchmarks image_pipeline" and record["full"] is False
    assert record["ratio"] > 0 and f"{record['ratio']:.2f}x" in record["summary"]


@pytest.mark.parametrize("name", ["grid", "manual", "random", "tpe"])  # GP takes half a minute to reach 100 trials
def test_the_sampler_benchmark_times_a_strategy_at_each_study_size(name):
    seconds = per_trial_seconds(name, [10, 100])
    assert set(seconds) == {10, 100} and all(0 < s < 1 for s in seconds.values())


def test_harness_bench_refuses_an_unknown_benchmark_by_name():
    result = CliRunner().invoke(app, ["bench", "no-such-benchmark"])
    assert result.exit_code == 2 and "unknown benchmark(s) no-such-benchmark; available:" in result.output


def recorded_trial(number: int, span: float, device_seconds: float, epochs: list[float]) -> optuna.trial.FrozenTrial:
    start = datetime(2026, 1, 1) + timedelta(minutes=number)
    return optuna.trial.FrozenTrial(
        number=number, state=optuna.trial.TrialState.COMPLETE, value=0.5, values=None, datetime_start=start,
        datetime_complete=start + timedelta(seconds=span), params={}, distributions={},
        user_attrs={"device_seconds": device_seconds, "curve": [{"seconds": s} for s in epochs]},
        system_attrs={}, intermediate_values={}, trial_id=number)


def test_trials_per_hour_tells_where_a_local_trial_spends_its_time():
    trials = [recorded_trial(0, span=4.0, device_seconds=3.5, epochs=[2.0, 1.0]),
              recorded_trial(1, span=2.0, device_seconds=1.5, epochs=[0.75, 0.5])]
    assert trial_seconds(trials) == pytest.approx({
        "span": 3.0, "first_span": 4.0, "later_span": 2.0, "model_and_training": 2.5, "around": 0.5,
        "first_epoch": 1.375, "later_epochs": 0.75, "outside_epochs": 2.5 - (3.0 + 1.25) / 2})
