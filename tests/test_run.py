"""End to end through the CLI on the embedded tasks: study, manifest, frames, report, resume, determinism."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import optuna
import pandas as pd
import pytest
import torch
from conftest import TABLES_ONLY, TINY_LISTOPS, interrupt_at_epoch, tiny_spec
from typer.testing import CliRunner

from harness.cli import EVERY_FORMAT, app, progress_bars, trial_ended
from harness.executor import CellRunner
from harness.plan import build_plan
from harness.spec import parse_spec
from harness.store import RunStore, frames, open_storage
from harness.trainer import resolve_device
from reports import FORMATS

runner = CliRunner()
DIGITS_SPACE = {"width": 8, "depth": 1, "batch_size": [64, 128]}


def run(spec_path: Path, runs_dir: Path, report: tuple[str, ...] = TABLES_ONLY) -> str:
    result = runner.invoke(app, ["run", str(spec_path), "--runs-dir", str(runs_dir), *report])
    assert result.exit_code == 0, result.output
    return result.output


def storage_of(run_dir: Path) -> optuna.storages.BaseStorage:
    return open_storage(f"sqlite:///{run_dir / 'studies.db'}")


def results_of(run_dir: Path, storage: optuna.storages.BaseStorage | None = None) -> pd.DataFrame:
    spec_hash = json.loads((run_dir / "manifest.json").read_text())["spec_hash"]
    return frames(storage or storage_of(run_dir), spec_hash)[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("e2e")
    spec_path = root / "spec.yaml"
    spec_path.write_text(json.dumps(tiny_spec()))
    output = run(spec_path, root / "runs", report=())  # the whole report, which tests below read
    return root / "runs" / "tiny", output


def test_the_progress_shown_last_is_the_trials_done(finished_run):
    """The epochs bar restarts with every trial: left at the end, it would say 0 epochs of 1."""
    _, output = finished_run
    shown = output.split("┏")[0].splitlines()  # above the table
    assert [line.split()[0] for line in shown if " 8/8 " in line] == ["listops-transformer/random/seed-0"]
    assert not [line for line in shown if line.startswith("epochs")]


def test_every_cell_has_its_study_with_the_budget_spent(finished_run):
    run_dir, _ = finished_run
    storage = storage_of(run_dir)
    names = optuna.get_all_study_names(storage)
    assert sorted(names) == sorted(f"tiny/{t}/{s}/seed-0" for t in ("digits-resnet", "listops-transformer")
                                   for s in ("grid", "random"))
    for name in names:
        trials = optuna.load_study(study_name=name, storage=storage).trials
        assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
        assert all(len(t.user_attrs["curve"]) == 1 and 0 <= t.value <= 1 for t in trials)


def test_manifest_records_spec_hash_versions_and_hardware(finished_run):
    run_dir, _ = finished_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["spec"]["name"] == "tiny"
    assert manifest["spec_hash"] == parse_spec(tiny_spec()).hash()
    session = manifest["sessions"][0]
    assert {"harness", "torch", "optuna", "pandas"} <= set(session["packages"])
    assert session["hardware"]["device"] == "cpu" and session["hardware"]["cpu_count"] >= 1
    assert session["hardware"]["torch_threads"] == torch.get_num_threads()
    cpuinfo = Path("/proc/cpuinfo")
    models = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")] \
        if cpuinfo.exists() else []
    if models:  # the processor's model, where the system names it
        assert models[0].endswith(session["hardware"]["cpu"]) and session["hardware"]["cpu"]
    resolved = manifest["resolved"]  # the defaults the spec left out, spelt out
    assert resolved["tasks"]["digits-resnet"] == {"name": "digits", "model_family": "resnet", "split_seed": 0,
                                                  "val_fraction": 0.15, "test_fraction": 0.15}
    assert resolved["strategies"]["grid"] == {"name": "grid", "resolution": 2}
    assert resolved["executor"]["name"] == "local" and resolved["executor"]["heartbeat_seconds"] == 60


def test_results_frame_and_report_files(finished_run):
    run_dir, output = finished_run
    results = pd.read_csv(run_dir / "results.csv")
    assert len(results) == 2 * 2 * 2
    assert {"task", "strategy", "seed", "trial", "state", "val_accuracy", "test_accuracy", "epochs", "seconds",
            "train_seed", "param_lr", "param_width"} <= set(results.columns)
    assert (results["param_width"].dropna() == 8).all()  # the spec's override fixed it
    assert len(pd.read_csv(run_dir / "curves.csv")) == len(results)
    assert (results["device_seconds"] > 0).all()  # each trial's training time, on this CPU
    hours = results.groupby(["task", "strategy"])["device_seconds"].sum() / 3600
    summary = pd.read_csv(run_dir / "summary.csv").set_index(["task", "strategy"])
    assert summary["device_hours"].to_dict() == pytest.approx(hours.to_dict())  # summed per strategy and task
    report = (run_dir / "report.md").read_text()
    assert "digits-resnet" in report and "listops-transformer" in report and "best_so_far.png" in report
    assert "| Device-hours |" in report
    assert "| digits-resnet | momentum | 0.8..0.99 | 0.9 | optimizer is sgd |" in report  # the space searched
    assert "| digits-resnet | width | 8 (fixed) | 8 | always |" in report  # with the spec's override
    assert "tab:search_space" in (run_dir / "tables.tex").read_text()
    assert (run_dir / "best_so_far.png").stat().st_size > 1000
    assert "report:" in output and "digits-resnet" in output


def test_results_frame_has_compile_seconds_where_a_trial_compiled(tmp_path):
    plan = build_plan(parse_spec(tiny_spec()))
    store = RunStore(plan, tmp_path)
    study = store.study(plan.cells[0])
    for compiled in ({"compile_seconds": 80.0}, {}):
        study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"curve": [{"epoch": 1}], **compiled}))
    results = frames(store.storage, plan.spec.hash())[0]
    assert results["compile_seconds"].iloc[0] == 80.0 and pd.isna(results["compile_seconds"].iloc[1])


def test_a_trial_that_failed_before_writing_its_configuration_shows_its_drawn_values_but_no_position(tmp_path):
    """A range that follows the optimizer is drawn as a position in the optimizer's range, which is no value of the
    space: the results frame, which is the configuration's, leaves it out."""
    plan = build_plan(parse_spec(tiny_spec()))
    store = RunStore(plan, tmp_path)
    distributions = {"optimizer": optuna.distributions.CategoricalDistribution(["sgd", "adam"]),
                     "lr_position": optuna.distributions.FloatDistribution(0.0, 1.0)}
    store.study(plan.cells[0]).add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL, params={"optimizer": "adam", "lr_position": 0.5},
        distributions=distributions, user_attrs={"fail_reason": "no data"}))
    results = frames(store.storage, plan.spec.hash())[0]
    assert results.filter(like="param_").to_dict("records") == [{"param_optimizer": "adam"}]


@pytest.mark.filterwarnings("ignore:Dynamo does not know how to trace")  # the plugin's model sleeps (for 0 s here)
def test_a_compiled_trial_records_its_compile_time_apart(tmp_path):
    spec = tiny_spec(tasks=["slow"], plugins=["harness.testing.tasks"], strategies=["random"], space={},
                     budget={"trials": 1, "epochs": 2}, executor={"name": "local", "compile": True})
    plan = build_plan(parse_spec(spec))
    store = RunStore(plan, tmp_path)
    plan.executor.runner(plan, store, resolve_device("cpu")).run_cell(plan.cells[0])
    results, curves = frames(store.storage, plan.spec.hash())
    compile_seconds, later_epoch = results["compile_seconds"].iloc[0], curves["seconds"].iloc[1]
    assert later_epoch < compile_seconds < results["seconds"].iloc[0]  # the first step compiles, once


def test_training_seeds_are_paired_across_strategies(finished_run):
    results = pd.read_csv(finished_run[0] / "results.csv")
    seeds = results.pivot_table(index=["task", "trial"], columns="strategy", values="train_seed")
    assert (seeds["grid"] == seeds["random"]).all()
    assert seeds["grid"].nunique() == 2  # but differ between trials


def test_report_command_rewrites_the_report_from_the_storage(finished_run):
    run_dir, _ = finished_run
    written = {name: (run_dir / name).read_text() for name in ("report.md", "results.csv")}
    for name in written:
        (run_dir / name).unlink()
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert {name: (run_dir / name).read_text() for name in written} == written  # as the run wrote them
    key = ["task", "strategy", "seed", "trial", "state", "val_accuracy", "test_accuracy"]
    stored = results_of(run_dir)[key].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "results.csv")[key], stored)
    assert len(stored) == 8  # every trial of the run


def test_rerunning_a_finished_run_adds_no_trial(finished_run, tmp_path):
    run_dir, _ = finished_run
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(json.dumps(tiny_spec()))
    run(spec_path, run_dir.parent)
    assert len(results_of(run_dir)) == 8
    assert len(json.loads((run_dir / "manifest.json").read_text())["sessions"]) == 2


def test_same_spec_twice_gives_identical_trials(finished_run, tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(json.dumps(tiny_spec()))
    run(spec_path, tmp_path / "again")
    first = pd.read_csv(finished_run[0] / "results.csv")
    second = pd.read_csv(tmp_path / "again" / "tiny" / "results.csv")
    same = [c for c in first.columns if c not in ("seconds", "device_seconds")]
    pd.testing.assert_frame_equal(first[same], second[same])


def test_another_spec_in_the_same_run_directory_is_refused(finished_run, tmp_path):
    run_dir, _ = finished_run
    before = (run_dir / "manifest.json").read_text()
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(json.dumps(tiny_spec(seeds=[7])))
    result = runner.invoke(app, ["run", str(spec_path), "--runs-dir", str(run_dir.parent)])
    assert result.exit_code == 2 and "holds a run of another spec" in result.output
    assert (run_dir / "manifest.json").read_text() == before


def test_a_run_that_stored_no_trial_gives_way_to_the_corrected_spec(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    missing = {"name": "cifar10", "root": str(tmp_path / "no-data"), "model_family": "resnet"}
    spec_path.write_text(json.dumps(tiny_spec(tasks=[missing], strategies=["random"], space={"width": 8})))
    failed = runner.invoke(app, ["run", str(spec_path), "--runs-dir", str(tmp_path / "runs")])
    assert failed.exit_code == 2 and "file(s) missing" in failed.output  # the run directory is written by now
    spec_path.write_text(json.dumps(tiny_spec(tasks=["digits"], strategies=["random"], space=DIGITS_SPACE)))
    output = run(spec_path, tmp_path / "runs")
    assert "held a run of another spec" in output and "with no trial" in output
    assert len(results_of(tmp_path / "runs" / "tiny")) == 2
    manifest = json.loads((tmp_path / "runs" / "tiny" / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 1 and manifest["spec"]["tasks"] == ["digits"]


def test_an_empty_study_of_another_spec_is_labelled_anew(tmp_path):
    first = RunStore(build_plan(parse_spec(tiny_spec(tasks=["digits"], space=DIGITS_SPACE))), tmp_path / "runs")
    first.record_session(resolve_device("cpu"))
    first.study(first.plan.cells[0])  # made, as a run does before its first trial fails
    changed = build_plan(parse_spec(tiny_spec(tasks=["digits"], space=DIGITS_SPACE, budget={"trials": 3, "epochs": 1})))
    second = RunStore(changed, tmp_path / "runs")
    assert second.check_same_spec() == first.plan.spec.hash()
    assert second.study(changed.cells[0]).user_attrs["spec_hash"] == changed.spec.hash()


def test_an_interrupted_run_resumes_to_exactly_the_planned_trials(tmp_path):
    spec = tiny_spec(tasks=["digits"], budget={"trials": 4, "epochs": 1}, space={"width": 8, "batch_size": [64, 128]})
    plan = build_plan(parse_spec(spec))
    store = RunStore(plan, tmp_path / "runs")
    runner = CellRunner(plan, store, resolve_device("cpu"))
    store.record_session(resolve_device("cpu"))
    with pytest.raises(KeyboardInterrupt):
        runner.run_cell(plan.cells[0], on_epoch=interrupt_at_epoch(3))  # grid: 2 done, third interrupted
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(json.dumps(spec))
    run(spec_path, tmp_path / "runs")

    storage = storage_of(tmp_path / "runs" / "tiny")
    grid = optuna.load_study(study_name="tiny/digits-resnet/grid/seed-0", storage=storage).trials
    states = [t.state.name for t in grid]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1  # the interrupted trial is kept, not counted
    planned = runner.search_plan(plan.cells[0], trials_so_far=0)
    done = {json.dumps(t.params, sort_keys=True) for t in grid if t.state.name == "COMPLETE"}
    assert len(done) == 4  # the interrupted grid point was queued again, none run twice
    enqueued = [plan.cells[0].task.space.as_searched(c) for c in planned.configs]  # Optuna's form: lr's position
    assert all(t.params in enqueued for t in grid if t.state.name == "COMPLETE")
    results = results_of(tmp_path / "runs" / "tiny")
    assert results.groupby(["strategy"]).size().to_dict() == {"grid": 4, "random": 4}


def test_a_run_writes_the_report_formats_asked_and_refuses_an_unknown_one_before_it_starts(write_spec, tmp_path):
    spec = write_spec(tiny_spec(tasks=["digits"], strategies=["random"], space=DIGITS_SPACE))
    refused = runner.invoke(app, ["run", str(spec), "--runs-dir", str(tmp_path / "runs"), "--format", "csv,pdf"])
    assert refused.exit_code == 2 and "--format takes a comma-separated list of md, tex, csv, html" in refused.output
    assert not (tmp_path / "runs").exists()
    output = run(spec, tmp_path / "runs", report=("--format", "tex,csv"))
    written = {path.name for path in (tmp_path / "runs" / "tiny").iterdir()}
    assert {"tables.tex", "summary.csv", "results.csv"} <= written and f"report: {tmp_path / 'runs' / 'tiny'}" in output
    assert not {"index.html", "report.md"} & written and not [name for name in written if name.endswith(".png")]
    assert EVERY_FORMAT.split(",") == list(FORMATS)  # what `harness run` writes unless asked


def test_diverging_trials_fail_with_a_reason_and_the_study_goes_on(write_spec, tmp_path):
    spec = tiny_spec(tasks=["digits"], strategies=["random"],
                     space={"optimizer": "sgd", "schedule": "constant", "width": 8, "lr": {"low": 1e11, "high": 1e12}})
    output = run(write_spec(spec), tmp_path / "runs")
    assert "digits-resnet/random/seed-0 trial 0 failed: loss became non-finite" in output
    results = results_of(tmp_path / "runs" / "tiny")
    assert list(results["state"]) == ["FAIL", "FAIL"]
    assert results["fail_reason"].str.contains("non-finite").all()


def test_manual_trains_adamw_at_its_recipe_decoupled_decay(write_spec, tmp_path):
    """AdamW's recipe decay, 1e-2, once trained at 1e-3, the top of the L2 decay's range the optimizers shared."""
    spec = tiny_spec(tasks=[TINY_LISTOPS], strategies=["manual"], budget={"trials": 1, "epochs": 1},
                     space={"d_model": 32, "layers": 1})  # the Transformer's default optimizer, AdamW, runs first
    run(write_spec(spec), tmp_path / "runs")
    (trial,) = results_of(tmp_path / "runs" / "tiny").to_dict("records")
    assert (trial["state"], trial["param_optimizer"], trial["param_decoupled_decay"]) == ("COMPLETE", "adamw", 1e-2)
    assert "param_weight_decay" not in trial


def test_a_failed_trial_is_named_by_its_position_as_results_csv_numbers_it():
    """After a resume a trial's number and position differ: the line said the number, results.csv the position."""
    rerun = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL,
                                      user_attrs={"position": 1, "fail_reason": "x"})
    rerun.number = 4  # the interrupted trial 1, queued again after trials 2 and 3
    with progress_bars() as progress:
        progress.add_task("trials", total=4)
        progress.add_task("epochs", total=2)
        with progress.console.capture() as captured:
            trial_ended(progress, SimpleNamespace(study_name="tiny/digits/random/seed-0"), rerun)
    assert captured.get().strip() == "tiny/digits/random/seed-0 trial 1 failed: x"


def test_train_command_trains_one_configuration():
    result = runner.invoke(app, ["train", "digits", "--set", "width=8", "--set", "optimizer=sgd", "--set", "lr=5e-2",
                                 "--epochs", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "'momentum': 0.9" in result.output and "test accuracy" in result.output
    assert "'lr': 0.05" in result.output  # 5e-2 is a number on a command line, though YAML 1.1 reads a string
    bad = runner.invoke(app, ["train", "digits", "--set", "lr=7"])
    assert bad.exit_code == 2 and "lr=7 is outside the space" in bad.output
    swapped = runner.invoke(app, ["train", "digits", "--option", "name=listops"])  # would have trained ListOps
    assert swapped.exit_code == 2 and "--option name: not an option of the task" in swapped.output


def test_train_command_names_its_own_arguments_in_its_errors_not_spec_fields():
    """`harness train` builds a spec from its arguments; its errors once named that spec's fields (`tasks[0].name`)."""
    unknown = runner.invoke(app, ["train", "no_such_task"])
    assert unknown.exit_code == 2 and "TASK: unknown task 'no_such_task'; registered: " in unknown.output
    bad = runner.invoke(app, ["train", "digits", "--option", "val_fraction=abc", "--option", "widht=8",
                              "--plugin", "no_such_plugin_module"])
    problems = [line.strip() for line in bad.output.splitlines()]
    assert bad.exit_code == 2 and problems[0] == "error: invalid arguments:"
    assert "- --option val_fraction: input should be a valid number (got 'abc')" in problems
    assert any(line.startswith("- --option widht: unknown option; allowed: model_family, ") for line in problems)
    assert ("- --plugin: cannot import 'no_such_plugin_module': ModuleNotFoundError: No module named "
            "'no_such_plugin_module'") in problems
    assert "spec" not in bad.output and "tasks[0]" not in bad.output
    no_epochs = runner.invoke(app, ["train", "digits", "--epochs", "0"]).output.splitlines()
    assert "- --epochs: input should be greater than 0 (got 0)" in [line.strip() for line in no_epochs]
    no_device = runner.invoke(app, ["train", "digits", "--device", "cuda:99"])
    assert no_device.exit_code == 2 and "use --device auto or cpu" in no_device.output


def test_train_command_trains_a_plugin_task_and_says_a_diverged_run_in_one_line(tmp_path, monkeypatch):
    (tmp_path / "wild_plugins.py").write_text(textwrap.dedent('''
        import torch
        from torch import nn
        from harness.optim import training_space
        from harness.space import Space
        from harness.task import Data, Split, Task, tasks

        @tasks.register("wild_line")
        class WildLine(Task):
            """A line to fit, with a learning-rate range that reaches far past stability."""

            def space(self) -> Space:
                return Space(training_space(lr=(1e-3, 1e9, 1e-2)))

            def data(self) -> Data:
                points = torch.linspace(-1, 1, 1024).unsqueeze(1)
                split = Split(points, (points[:, 0] > 0).long())
                return Data(split, split, split, num_classes=2)

            def model(self, config, data: Data) -> nn.Module:
                return nn.Linear(1, 2)
        '''))
    monkeypatch.chdir(tmp_path)
    command = ["train", "wild_line", "--plugin", "wild_plugins", "--set", "optimizer=sgd", "--epochs", "2",
               "--device", "cpu"]
    assert runner.invoke(app, [*command, "--set", "lr=0.1"]).exit_code == 0
    result = runner.invoke(app, [*command, "--set", "lr=1e9"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "error: training diverged after 0 finished epoch(s): " in " ".join(result.output.split())


def test_an_unreachable_storage_is_one_clear_error(write_spec, tmp_path):
    spec = tiny_spec(storage=f"sqlite:///{tmp_path}/no/such/folder/studies.db")
    result = runner.invoke(app, ["run", str(write_spec(spec)), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert f"cannot open storage sqlite:///{tmp_path}/no/such/folder/studies.db" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()


def test_runs_sharing_one_database_keep_their_own_studies(write_spec, tmp_path):
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    small = {"tasks": ["digits"], "strategies": ["random"], "space": {"width": 8}, "storage": shared}
    run(write_spec(tiny_spec(name="first", **small), "first.yaml"), tmp_path / "runs")
    second = write_spec(tiny_spec(name="second", seeds=[3], **{**small, "storage": None}), "second.yaml")
    result = runner.invoke(app, ["run", str(second), "--runs-dir", str(tmp_path / "runs"), "--storage", shared,
                                 *TABLES_ONLY])
    assert result.exit_code == 0, result.output
    storage = open_storage(shared)
    assert len(optuna.get_all_study_names(storage)) == 2
    assert set(results_of(tmp_path / "runs" / "first", storage)["seed"]) == {0}
    assert set(results_of(tmp_path / "runs" / "second", storage)["seed"]) == {3}
    clash = runner.invoke(app, ["run", str(write_spec(tiny_spec(name="first", budget={"trials": 3, "epochs": 1},
                                                                **small), "clash.yaml")),
                                "--runs-dir", str(tmp_path / "elsewhere")])
    assert clash.exit_code == 2 and "already holds study 'first/digits-resnet/random/seed-0' of another spec" in clash.output
    assert not (tmp_path / "elsewhere").exists()
