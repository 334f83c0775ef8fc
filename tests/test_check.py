"""`harness check`: a spec's plan, search spaces, run directory and data, shown before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import tiny_spec
from text_helpers import topic_rows, write_local
from typer.testing import CliRunner

from harness.cli import app
from harness.space import Choice, Fixed, Float, Space, when

runner = CliRunner()


def check(spec: dict, tmp_path: Path, *options: str) -> tuple[int, str]:
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(json.dumps(spec))
    result = runner.invoke(app, ["check", str(spec_path), "--runs-dir", str(tmp_path / "runs"), *options])
    return result.exit_code, " ".join(result.output.split())


def test_check_shows_the_plan_and_each_task_space_and_writes_nothing(tmp_path):
    code, output = check(tiny_spec(), tmp_path)
    assert code == 0, output
    assert "run tiny (spec " in output and "2 task(s) x 2 strategies x 1 seed(s) = 4 cells" in output
    assert "search space of digits-resnet" in output and "search space of listops-transformer" in output
    assert "momentum │ 0.8..0.99 │ 0.9 │ optimizer is sgd" in output
    assert "grid on digits-resnet: grid of " in output and "a seeded random 2 of them run" in output  # its note
    assert "holds no run: `harness run` starts one there" in output
    assert not (tmp_path / "runs").exists()


def test_the_noise_floor_cells_are_counted_apart_with_their_own_budget(tmp_path):
    code, output = check(tiny_spec(noise_floor=3), tmp_path)
    assert code == 0, output
    assert ("x 1 seed(s) = 4 cells, 2 trials x 1 epochs each per cell, and 2 noise-floor cell(s) of 3 trials x 1 "
            "epochs each, on") in output


def test_check_with_data_names_a_task_whose_files_are_missing(tmp_path):
    missing = {"name": "cifar10", "root": str(tmp_path / "no-data")}
    code, output = check(tiny_spec(tasks=[missing, "digits"], space={"width": 8}), tmp_path, "--data")
    assert code == 2
    assert "data cifar10-resnet: 7 file(s) missing in" in output  # the task's own one-line message
    assert "data digits-resnet: 1,257 training, 270 validation and 270 test examples, 10 classes" in output
    assert not (tmp_path / "runs").exists()


def test_check_with_data_loads_each_vocabulary_size_the_space_offers(tmp_path, monkeypatch):
    """Each size trains its own tokenizer at the first trial that draws it: a size that fails on the data would
    once have shown only on the machine the run was sent to."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    train = write_local(tmp_path / "train.csv", topic_rows(120))
    local = {"name": "local", "train": str(train), "vocab_size": 200, "max_length": 32, "model_family": "rnn"}
    code, output = check(tiny_spec(tasks=[local], space={"embed_dim": 32, "hidden": 32}), tmp_path, "--data")
    assert code == 0, output
    assert output.count(" training, ") == 3 and "with vocab_size=100: " in output and "with vocab_size=400: " in output
    missing = {**local, "train": str(tmp_path / "no-such.csv")}
    code, output = check(tiny_spec(tasks=[missing], space={"embed_dim": 32, "hidden": 32}), tmp_path, "--data")
    assert code == 2 and output.count("no-such.csv") == 1, output  # said once, not for each size


def test_an_invalid_spec_is_refused_by_check(tmp_path):
    code, output = check(tiny_spec(strategies=["no_such_strategy"]), tmp_path)
    assert code == 2 and "no_such_strategy" in output


def test_space_rows_state_what_is_searched_in_the_space_own_terms():
    space = Space({"optimizer": Choice(default="adam", choices=("adam", "adamw")),
                   "lr": Float(default=1e-3, low=1e-4, high=1e-2, log=True),
                   "momentum": Float(default=0.9, low=0.8, high=0.99, when=when(optimizer="sgd")),
                   "beta1": Float(default=0.9, low=0.8, high=0.95, when=when(optimizer=("adam", "nadam", "adamw"))),
                   "schedule": Fixed(default="cosine"), "width": Fixed(default=8)})
    assert space.rows() == [["optimizer", "'adam', 'adamw'", "'adam'", "always"],
                            ["lr", "0.0001..0.01, log scale", "0.001", "always"],
                            ["beta1", "0.8..0.95", "0.9", "optimizer is adam or adamw"],  # not nadam: not offered
                            ["schedule", "'cosine' (fixed)", "'cosine'", "always"],  # a name quoted alike
                            ["width", "8 (fixed)", "8", "always"]]  # momentum: no offered optimizer uses it
