"""`harness report` on run directories whose SQLite storage holds hand-made trials (no training)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.store import open_storage
from reports.compare import compare_runs, diff_markdown

runner = CliRunner()
SPEC_HASH = "feedc0ffee00"
CONFIG = {"lr": 0.01, "optimizer": "sgd"}


def finished_trial(seed: int, number: int, accuracy: float) -> optuna.trial.FrozenTrial:
    """Trial `number` of a cell as a worker records it: value, one-epoch curve, test accuracy and configuration."""
    curve = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "val_accuracy": accuracy, "lr": 0.01, "seconds": 0.1}]
    return optuna.trial.create_trial(
        params={"lr": 0.01 * (number + 1)},
        distributions={"lr": optuna.distributions.FloatDistribution(1e-3, 1.0, log=True)},
        value=accuracy, user_attrs={"curve": curve, "test_accuracy": accuracy - 0.05, "train_seed": 10 * seed + number,
                                    "config": {**CONFIG, "lr": 0.01 * (number + 1)}})


def make_run(root: Path, values: dict[tuple[str, int], list[float]]) -> Path:
    """A run directory as `harness run` leaves it: manifest.json and studies.db with one study per cell."""
    run_dir = root / "demo"
    run_dir.mkdir(parents=True)
    storage = open_storage(f"sqlite:///{run_dir / 'studies.db'}")
    for (strategy, seed), accuracies in values.items():
        study = optuna.create_study(storage=storage, study_name=f"demo/task/{strategy}/seed-{seed}",
                                    direction="maximize")
        for key, value in {"task": "task", "strategy": strategy, "seed": seed, "spec_hash": SPEC_HASH}.items():
            study.set_user_attr(key, value)
        for number, accuracy in enumerate(accuracies):
            study.add_trial(finished_trial(seed, number, accuracy))
    manifest = {"spec": {"name": "demo", "tasks": ["task"], "strategies": ["a", "b"], "seeds": [0, 1]},
                "spec_hash": SPEC_HASH, "storage": f"sqlite:///{(run_dir / 'studies.db').resolve()}",
                "sessions": [{"started": "2026-01-01", "packages": {"optuna": optuna.__version__},
                              "git_commit": "abc1234", "hardware": {"device": "cpu"}}]}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


VALUES = {("a", 0): [0.6, 0.8], ("b", 0): [0.5, 0.7], ("a", 1): [0.7, 0.9], ("b", 1): [0.4, 0.6]}


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return make_run(tmp_path / "one", VALUES)


def test_report_writes_only_the_formats_asked_into_out(run_dir, tmp_path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", str(run_dir), "--out", str(out), "--format", "tex,csv"])
    assert result.exit_code == 0, result.output
    assert (out / "tables.tex").exists() and (out / "summary.csv").exists() and (out / "spec.yaml").exists()
    assert not (out / "report.md").exists() and not (out / "index.html").exists()
    assert not (run_dir / "tables.tex").exists()
    assert "85.0 ± 7.1" in result.output  # a: selected .8 and .9


def test_report_rejects_an_unknown_format(run_dir) -> None:
    result = runner.invoke(app, ["report", str(run_dir), "--format", "md,docx"])
    assert result.exit_code == 2
    assert "--format takes a comma-separated list of md, tex, csv, html, but got 'md,docx'" in result.output
    assert not (run_dir / "report.md").exists()


def test_report_ranks_on_the_metric_asked_and_refuses_another(run_dir, tmp_path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", str(run_dir), "--out", str(out), "--format", "md", "--metric", "test"])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "the two strategies' test accuracies do not differ" in report
    assert "harness report runs/demo --metric test" in report
    result = runner.invoke(app, ["report", str(run_dir), "--metric", "loss"])
    assert result.exit_code == 2
    assert "--metric must be one of validation, test, but got 'loss'" in result.output
    assert not (run_dir / "report.md").exists()


def test_report_needs_a_run_directory(tmp_path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "is not a run directory" in result.output
    result = runner.invoke(app, ["report"])
    assert result.exit_code == 2 and "give a run directory, or --compare A B" in result.output


def test_compare_two_runs_with_the_same_numbers(run_dir, tmp_path) -> None:
    other = make_run(tmp_path / "two", VALUES)
    result = runner.invoke(app, ["report", "--compare", str(run_dir), str(other), "--out", str(tmp_path / "diff")])
    assert result.exit_code == 0, result.output
    assert "the same numbers**: 8 trials matched, 0 of them differ" in result.output
    assert "The same spec." in result.output
    assert (tmp_path / "diff" / "comparison.md").read_text().startswith("# Comparison of")


def test_compare_two_runs_without_a_trial_says_there_is_nothing_to_compare(tmp_path) -> None:
    empty_a, empty_b = make_run(tmp_path / "a", {}), make_run(tmp_path / "b", {})
    result = runner.invoke(app, ["report", "--compare", str(empty_a), str(empty_b), "--out", str(tmp_path / "diff")])
    assert result.exit_code == 2
    text = (tmp_path / "diff" / "comparison.md").read_text()
    assert f"**nothing to compare**: neither {empty_a} nor {empty_b} has a trial yet." in text
    assert "the same numbers" not in result.output


def test_compare_says_where_two_runs_differ(run_dir, tmp_path) -> None:
    changed = {**VALUES, ("b", 1): [0.4, 0.65], ("b", 2): [0.5]}
    other = make_run(tmp_path / "two", changed)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["sessions"][0]["git_commit"] = "def5678"
    manifest["resolved"] = {"tasks": {"task": {"name": "task", "val_fraction": 0.2}}}  # a default that changed
    (other / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["report", "--compare", str(run_dir), str(other)])
    assert result.exit_code == 1
    assert "different numbers**: 8 trials matched, 1 of them differ; 0 only in" in result.output
    assert "1 only in" in result.output
    assert "| task | b | 1 | 1 | val_accuracy | 0.6 | 0.65 |" in result.output
    assert "| task | b | 1 | 1 | test_accuracy |" in result.output
    assert "git_commit: 'abc1234' → 'def5678'" in result.output
    assert "resolved.tasks.task.val_fraction: None → 0.2" in result.output


def test_a_value_missing_on_one_side_shows_as_a_dash(run_dir) -> None:
    frame = pd.DataFrame({"task": ["t"], "strategy": ["s"], "seed": [0], "trial": [0], "state": ["COMPLETE"],
                          "val_accuracy": [0.5], "test_accuracy": [0.4]})
    failed = frame.assign(state="FAIL", val_accuracy=math.nan, test_accuracy=math.nan)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    text = diff_markdown(compare_runs(frame, failed, manifest, manifest), "a", "b")
    assert "| t | s | 0 | 0 | val_accuracy | 0.5 | – |" in text and "| state | COMPLETE | FAIL |" in text


def test_a_copied_run_reads_its_own_database_not_the_one_its_manifest_names(run_dir, tmp_path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)  # cp -r: the manifest still names the original's studies.db
    study = optuna.load_study(study_name="demo/task/b/seed-1", storage=open_storage(f"sqlite:///{copy / 'studies.db'}"))
    study.add_trial(finished_trial(1, 2, 0.3))
    result = runner.invoke(app, ["report", "--compare", str(run_dir), str(copy)])
    assert result.exit_code == 1, result.output
    assert "different numbers**: 8 trials matched, 0 of them differ; 0 only in" in result.output
