"""Every failure ends in a clear state with nothing lost: a worker killed mid-trial, stale trials on
both storages, bad trials, bad input, safe loading, and Ctrl-C once or twice."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import optuna
import pandas as pd
import pytest
from commit_cutter import commit_cutter
from conftest import TABLES_ONLY, tiny_spec
from optuna.trial import TrialState
from typer.testing import CliRunner, Result

from harness import patience
from harness.budget import Spent
from harness.cli import app
from harness.claims import STARTED_KEY, WORKER_KEY, fail_stale, process_started
from harness.errors import HarnessError
from harness.executor import CellRunner
from harness.journal import HEARTBEAT_KEY, repair
from harness.plan import build_plan
from harness.positions import INTERRUPTED_KEY
from harness.spec import parse_spec
from harness.store import WORKER, RunStore, open_storage
from harness.testing import postgres
from harness.trainer import resolve_device

runner = CliRunner()
PLUGIN = "harness.testing.tasks"  # the slow and fragile tasks


def slow(pause: float, **changes) -> dict:
    """A spec of the plugin task whose training steps take `pause` seconds."""
    return tiny_spec(**{"tasks": [{"name": "slow", "pause": pause}], "plugins": [PLUGIN], "space": {},
                        "strategies": ["random"], **changes})

def run_tables(*args: str) -> Result:
    """`harness run` in this process, writing the report's tables only."""
    return runner.invoke(app, ["run", *args, *TABLES_ONLY])


def harness(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def trials_of(url: str) -> dict[str, list[optuna.trial.FrozenTrial]]:
    storage = open_storage(url)
    return {n: optuna.load_study(study_name=n, storage=storage).trials for n in optuna.get_all_study_names(storage)}


def wait_for_running_trial(url: str, epochs_done: int, complete: int = 0, timeout: float = 180) -> None:
    """Poll the storage until a trial is running with `epochs_done` epochs reported, after `complete` ended."""

    def running() -> bool:
        if url.startswith("journal://") and not Path(url.removeprefix("journal://")).exists():
            return False
        trials = [t for ts in trials_of(url).values() for t in ts]
        running = [t for t in trials if t.state.name == "RUNNING" and len(t.intermediate_values) == epochs_done]
        return bool(running) and sum(t.state.name == "COMPLETE" for t in trials) >= complete

    wait_until(running, f"a running trial with {epochs_done} epochs", timeout)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.05)


def test_a_worker_killed_mid_trial_is_resumed_with_every_complete_trial_kept(write_spec, tmp_path):
    url = f"journal://{tmp_path / 'journal.log'}"
    spec = write_spec(slow(0.2, strategies=[{"name": "grid", "resolution": 2}],
                           budget={"trials": 4, "epochs": 2}, storage=url))
    doomed = harness("run", str(spec), "--runs-dir", "runs", cwd=tmp_path)
    wait_for_running_trial(url, epochs_done=1, complete=1)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    before = {t.number: (t.params, t.value) for t in trials_of(url)["tiny/slow/grid/seed-0"]
              if t.state.name == "COMPLETE"}
    repair(tmp_path / "journal.log")  # were it killed while appending, as the error message would ask

    result = run_tables(str(spec), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    trials = trials_of(url)["tiny/slow/grid/seed-0"]
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1 and "RUNNING" not in states
    assert {t.number: (t.params, t.value) for t in trials if t.number in before} == before
    killed = next(t for t in trials if t.state.name == "FAIL")
    assert killed.system_attrs[WORKER_KEY].endswith(f":{doomed.pid}") and "fail_reason" not in killed.user_attrs
    grid_points = [json.dumps(t.params, sort_keys=True) for t in trials if t.state.name == "COMPLETE"]
    assert len(set(grid_points)) == 4 and json.dumps(killed.params, sort_keys=True) in grid_points  # run again


def test_a_worker_process_killed_mid_trial_leaves_the_others_to_finish_and_report_the_run(tmp_path):
    """The run used to fail, with no report and the last trial of the dead worker's log as the reason, though
    the other workers had spent every budget."""
    url = f"journal://{tmp_path / 'runs' / 'tiny' / 'journal.log'}"
    spec = slow(0.2, strategies=[{"name": "grid", "resolution": 2}], budget={"trials": 4, "epochs": 2},
                executor={"name": "processes", "workers": 2})
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    run = harness("run", "spec.yaml", "--runs-dir", "runs", *TABLES_ONLY, cwd=tmp_path)
    wait_for_running_trial(url, epochs_done=1)
    running = next(t for t in trials_of(url)["tiny/slow/grid/seed-0"] if t.state.name == "RUNNING")
    os.kill(int(running.system_attrs[WORKER_KEY].rpartition(":")[2]), signal.SIGKILL)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert "1 worker(s) failed; worker" in out and "was killed by SIGKILL" in out
    states = [t.state.name for t in trials_of(url)["tiny/slow/grid/seed-0"]]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1
    assert list(pd.read_csv(tmp_path / "runs" / "tiny" / "results.csv")["state"]) == ["COMPLETE"] * 4


def test_a_trial_failed_by_an_interruption_is_not_counted_as_done_on_the_progress_bar():
    """It spends no budget and runs again, so the bar once read 5/4 after a worker was killed."""
    from harness.cli import progress_bars, trial_ended

    cell = SimpleNamespace(study_name="tiny/slow/grid/seed-0")
    with progress_bars() as progress:
        bar = progress.add_task("trials", total=4)
        progress.add_task("epochs", total=2)
        for state, attrs in [("COMPLETE", {}), ("FAIL", {}), ("FAIL", {"fail_reason": "diverged"}), ("PRUNED", {})]:
            trial = optuna.trial.create_trial(state=optuna.trial.TrialState[state], user_attrs=attrs,
                                              value=0.5 if state == "COMPLETE" else None)
            trial_ended(progress, cell, trial)
        assert progress.tasks[bar].completed == 3


def test_journal_trials_of_a_silent_worker_elsewhere_fail_after_the_heartbeat_grace(tmp_path):
    storage = open_storage(f"journal://{tmp_path / 'journal.log'}", heartbeat_seconds=5)
    study = optuna.create_study(storage=storage, study_name="s")
    silent, alive = study.ask(), study.ask()
    for trial, last_beat in ((silent, time.time() - 60), (alive, time.time())):
        storage.set_trial_system_attr(trial._trial_id, WORKER_KEY, "another-host:4242")
        storage.set_trial_system_attr(trial._trial_id, HEARTBEAT_KEY, last_beat)
    fail_stale(study, storage)
    assert [t.state.name for t in study.trials] == ["FAIL", "RUNNING"]


def test_a_trial_whose_pid_now_belongs_to_a_later_process_is_failed_at_once(tmp_path):
    """As after a container restart: the same host name and pid, but another process."""
    storage = open_storage(f"journal://{tmp_path / 'journal.log'}")
    study = optuna.create_study(storage=storage, study_name="s")
    earlier, mine = study.ask(), study.ask()
    for trial, started in ((earlier, "12"), (mine, process_started(os.getpid()))):
        storage.set_trial_system_attr(trial._trial_id, WORKER_KEY, WORKER)
        storage.set_trial_system_attr(trial._trial_id, STARTED_KEY, started)
    after = fail_stale(study, storage)  # the trials as they are once it failed one, for the claim to count
    assert [t.state.name for t in after] == [t.state.name for t in study.trials] == ["FAIL", "RUNNING"]


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_a_trial_whose_claimer_was_killed_before_marking_it_is_failed_at_once(tmp_path, kind, request):
    """A worker killed between creating its trial and marking it leaves a running trial with no worker and no
    heartbeat, which no heartbeat check would ever fail: the cell waited for it forever."""
    url = {"sqlite": f"sqlite:///{tmp_path / 'studies.db'}", "journal": f"journal://{tmp_path / 'journal.log'}",
           "postgresql": request.getfixturevalue("postgres_url") if kind == "postgresql" else ""}[kind]
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="s")
    study.ask()  # all the killed claimer did
    after = fail_stale(study, storage)
    assert [t.state.name for t in after] == [t.state.name for t in study.trials] == ["FAIL"]


def test_a_trial_whose_claim_was_cut_off_is_failed_at_once_though_its_worker_lives(tmp_path):
    """A claim a lost connection cut off after creating and marking its trial starts again: the trial it leaves
    behind is this live worker's, so neither the heartbeat check nor the dead-worker one would fail it."""
    storage = open_storage(f"journal://{tmp_path / 'journal.log'}")
    study = optuna.create_study(storage=storage, study_name="s")
    kept, cut_off = study.ask(), study.ask()
    for trial in (kept, cut_off):
        storage.set_trial_system_attr(trial._trial_id, WORKER_KEY, WORKER)
        storage.record_heartbeat(trial._trial_id)
    after = fail_stale(study, storage, abandoned=[cut_off._trial_id])
    assert [t.state.name for t in after] == ["RUNNING", "FAIL"]
    assert not Spent.of(after).trials  # it spent nothing


def test_a_trial_whose_worker_was_killed_but_not_yet_reaped_is_failed_at_once(tmp_path):
    """A `processes` worker killed while its siblings run stays a zombie until the parent reaps it; it is dead all
    the same, and its trial waited two heartbeats (two minutes by default) to be failed."""
    storage = open_storage(f"journal://{tmp_path / 'journal.log'}")
    study = optuna.create_study(storage=storage, study_name="s")
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    trial = study.ask()
    storage.set_trial_system_attr(trial._trial_id, WORKER_KEY, f"{WORKER.rpartition(':')[0]}:{worker.pid}")
    storage.set_trial_system_attr(trial._trial_id, STARTED_KEY, process_started(worker.pid))
    os.kill(worker.pid, signal.SIGKILL)  # and not reaped (no wait) until the end of the test
    while Path(f"/proc/{worker.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        time.sleep(0.01)
    after = fail_stale(study, storage)
    worker.wait()
    assert [t.state.name for t in after] == ["FAIL"]


def test_postgresql_heartbeat_fails_a_silent_trial_and_retries_its_configuration(postgres_url):
    storage = open_storage(postgres_url, heartbeat_seconds=1, retries=1)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    storage.set_trial_system_attr(trial._trial_id, WORKER_KEY, "another-host:4242")
    storage.record_heartbeat(trial._trial_id)
    time.sleep(2.5)  # past the grace period of two heartbeats
    after = fail_stale(study, storage)
    assert [t.state.name for t in after] == [t.state.name for t in study.trials] == ["FAIL", "WAITING"]
    assert study.trials[1].params == {"lr": lr}


def test_a_database_restart_is_waited_for_and_a_longer_outage_stops_the_run_which_resumes_exactly(
        postgres_server, postgres_url, tmp_path):
    """A restart of the server used to stop the run at the next write, blaming "invalid data" for it. A worker now
    waits one heartbeat interval (5 s here) for its database; an outage longer than that still stops the run."""
    spec = slow(0.4, storage=postgres_url, budget={"trials": 2, "epochs": 3},
                executor={"name": "local", "heartbeat_seconds": 5})
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    run = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "spec.yaml", "--runs-dir", "runs"],
                           cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(iter(run.stderr.readline, "")), daemon=True)
    reader.start()
    wait_for_running_trial(postgres_url, epochs_done=1)
    with postgres.stopped(postgres_server):
        wait_until(lambda: run.poll() is not None or "lost the connection" in "".join(said), "notice of the outage")
        assert run.poll() is None, "".join(said)
    wait_for_running_trial(postgres_url, epochs_done=1, complete=1)
    with postgres.stopped(postgres_server):
        assert run.wait(timeout=120) == 2
    reader.join(timeout=10)
    err = "".join(said)
    assert "Traceback" not in err and err.count("storage is back after") == 1, err
    assert err.count("lost the connection to the storage (") == 2
    assert "error: the storage failed (" in err and "bring its database back" in err
    resumed = harness("run", "spec.yaml", "--runs-dir", "runs", *TABLES_ONLY, cwd=tmp_path)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    trials = trials_of(postgres_url)["tiny/slow/random/seed-0"]
    assert [t.state.name for t in trials].count("COMPLETE") == 2
    assert not any("fail_reason" in t.user_attrs for t in trials)  # the trial the outage stopped spent nothing


def test_a_final_state_whose_commit_landed_unanswered_is_taken_as_written(postgres_url):
    """Tried again after its connection was lost, it used to fail as "already finished", stopping the run though the
    trial was stored as the run meant it."""
    with commit_cutter(postgres_url) as cutter:
        storage = open_storage(cutter.url)
        trial = optuna.create_study(storage=storage, study_name="cut").ask()
        cutter.cut_next_commit()
        assert storage.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, [0.5])
        assert cutter.cuts == 1
    (stored,) = optuna.load_study(study_name="cut", storage=open_storage(postgres_url)).trials
    assert (stored.state.name, stored.value) == ("COMPLETE", 0.5)


@pytest.mark.parametrize("executor", ["local", {"name": "batched", "batch_trials": 5}], ids=["local", "batched"])
def test_bad_trials_fail_with_their_reason_and_the_study_goes_on(write_spec, tmp_path, executor):
    modes = ["data", "oom", "bug", "step", "ok"]
    spec = slow(0.0, tasks=["fragile"], strategies=[{"name": "manual", "configs": [{"mode": mode} for mode in modes]}],
                budget={"trials": 5, "epochs": 1}, executor=executor)
    result = run_tables(str(write_spec(spec)), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    results = pd.read_csv(tmp_path / "runs" / "tiny" / "results.csv").sort_values("trial")
    assert list(results["state"]) == ["FAIL", "FAIL", "FAIL", "FAIL", "COMPLETE"]
    assert list(results["fail_reason"].iloc[:4]) == [
        "ValueError: no data can be made for this configuration",
        "OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB",
        "IndexError: the task's model indexed past its last layer",
        "RuntimeError: the task's model failed in a training step"]
    assert results["train_seed"].notna().all()  # each can be re-run as it was
    assert "trial 1 failed: OutOfMemoryError" in result.output


def test_trials_that_fail_before_their_first_epoch_still_spend_a_budget_in_epochs(tmp_path):
    """Each spends one epoch: a configuration out of memory at once, every time, once kept its cell running forever."""
    spec = slow(0.0, tasks=["fragile"], strategies=[{"name": "manual", "configs": [{"mode": "oom"}]}],
                budget={"total_epochs": 3, "epochs": 2})
    plan = build_plan(parse_spec(spec))
    store = RunStore(plan, tmp_path / "runs")
    store.record_session(resolve_device("cpu"))
    ended: list[optuna.trial.FrozenTrial] = []

    def count(cell, trial) -> None:
        ended.append(trial)
        assert len(ended) <= 3, "the cell ran on past its budget"

    assert plan.executor.runner(plan, store, resolve_device("cpu")).run_cell(plan.cells[0], on_trial=count)
    assert [t.state.name for t in ended] == ["FAIL"] * 3
    assert all(t.user_attrs["fail_reason"].startswith("OutOfMemoryError") for t in ended)
    assert Spent.of(ended).epochs == 3 and Spent.of(ended).trials == 3


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_a_non_finite_objective_value_fails_the_trial_instead_of_completing_it(tmp_path, value):
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 'studies.db'}"))
    failed = CellRunner.finish(study, study.ask(), lambda: value)
    completed = CellRunner.finish(study, study.ask(), lambda: 0.5)
    assert failed.state.name == "FAIL" and failed.user_attrs["fail_reason"] == f"objective value is {value}"
    assert completed.state.name == "COMPLETE" and completed.value == 0.5


def test_a_mistake_of_the_users_inside_a_trial_stops_the_run_and_spends_no_budget(tmp_path):
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 'studies.db'}"))

    def missing_data() -> float:
        raise HarnessError("data set folder /data/cifar does not exist")

    with pytest.raises(HarnessError):
        CellRunner.finish(study, study.ask(), missing_data)
    (trial,) = study.trials
    assert trial.state.name == "FAIL" and "fail_reason" not in trial.user_attrs


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    (root / "spec.yaml").write_text(json.dumps(slow(0.0)))
    result = run_tables(str(root / "spec.yaml"), "--runs-dir", str(root / "runs"))
    assert result.exit_code == 0, result.output
    return root / "runs" / "tiny"


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def refused(args: list[str], expected: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    return result.output


BAD_SPECS = {
    "malformed YAML": ("name: tiny\ntasks: [digits\n", "is not valid YAML"),
    "unknown name": (json.dumps(tiny_spec(strategies=["bayes-magic"])), "unknown strategy 'bayes-magic'"),
    "out of range": (json.dumps(tiny_spec(budget={"trials": 0, "epochs": 1})),
                     "budget.trials: input should be greater than 0"),
    "unsafe YAML": ("!!python/object/apply:os.system ['touch PWNED']\n", "is not valid YAML"),  # PWNED: a path
}


@pytest.mark.parametrize("problem", BAD_SPECS)
def test_a_bad_spec_is_one_clear_error_and_the_run_is_untouched(finished_run, tmp_path, problem):
    text, expected = BAD_SPECS[problem]
    (tmp_path / "spec.yaml").write_text(text.replace("PWNED", str(tmp_path / "pwned")))  # not the working directory
    before = snapshot(finished_run)
    refused(["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(finished_run.parent)], expected)
    assert snapshot(finished_run) == before and not (tmp_path / "pwned").exists()


def test_an_unreachable_postgresql_is_one_line(finished_run, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the probe closes
    (tmp_path / "spec.yaml").write_text(json.dumps(slow(0.0)))
    output = refused(["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(finished_run.parent), "--storage",
                      f"postgresql://harness:secret@127.0.0.1:{port}/runs"],
                     f"cannot open storage postgresql://harness:***@127.0.0.1:{port}/runs: OperationalError")
    assert len(output.strip().splitlines()) == 1 and "secret" not in output


def test_a_postgresql_that_takes_the_connection_but_never_answers_is_one_line_after_the_connect_timeout(
        finished_run, tmp_path, monkeypatch):
    monkeypatch.setattr(patience, "CONNECT_SECONDS", 2)  # libpq's shortest
    (tmp_path / "spec.yaml").write_text(json.dumps(slow(0.0)))
    with socket.socket() as silent:  # the kernel completes the handshake; nothing ever reads or replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"postgresql://harness@127.0.0.1:{silent.getsockname()[1]}/runs"
        output = refused(["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(finished_run.parent), "--storage", url],
                         f"cannot open storage {url}: ConnectionTimeout: connection timeout expired")
    assert len(output.strip().splitlines()) == 1


def test_another_spec_is_refused_unless_force_new_which_moves_the_old_run_aside(finished_run, tmp_path):
    (tmp_path / "spec.yaml").write_text(json.dumps(slow(0.0, seeds=[5])))
    before = snapshot(finished_run)
    refused(["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(finished_run.parent)], "--force-new")
    assert snapshot(finished_run) == before

    root = tmp_path / "runs"
    shutil.copytree(finished_run, root / "tiny")  # other tests use the finished run as it is
    result = run_tables(str(tmp_path / "spec.yaml"), "--runs-dir", str(root), "--force-new")
    assert result.exit_code == 0, result.output
    aside = next(root.glob("tiny.*"))
    assert snapshot(aside) == before
    assert json.loads((root / "tiny" / "manifest.json").read_text())["spec"]["seeds"] == [5]
    report = runner.invoke(app, ["report", str(aside), *TABLES_ONLY])  # the moved run reports from its own storage
    assert report.exit_code == 0, report.output


def test_trials_drawn_in_another_search_space_are_not_resumed_unless_force_new_moves_them_aside(finished_run,
                                                                                                 tmp_path):
    """A run started before the harness (or a plugin) changed a task's space, resumed after it, would mix trials of
    two spaces: those of the image tasks' lr once drawn as the rate, now as a position in the optimizer's range."""
    root = tmp_path / "runs"
    shutil.copytree(finished_run, root / "tiny")
    manifest = json.loads((root / "tiny" / "manifest.json").read_text())
    for row in manifest["spaces"]["slow"]:
        row[1] = "0.0001..1.0, log scale" if row[0] == "lr" else row[1]  # as an older version stated it
    (root / "tiny" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "spec.yaml").write_text(json.dumps(slow(0.0)))
    drawn = trials_of(f"sqlite:///{root / 'tiny' / 'studies.db'}")  # opened here first: SQLite adds its WAL files
    before = snapshot(root / "tiny")
    check = runner.invoke(app, ["check", str(tmp_path / "spec.yaml"), "--runs-dir", str(root)])
    assert "holds this spec's run, drawn in another search space (slow's lr was 0.0001..1.0, log scale (default " in (
        " ".join(check.output.split()))
    output = refused(["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(root)], "resume it with the version")
    assert "slow's lr was 0.0001..1.0, log scale (default 0.01) when the run started, and is 0.001..0.1, log " \
           "scale (default 0.01) now" in " ".join(output.split())
    assert snapshot(root / "tiny") == before and trials_of(f"sqlite:///{root / 'tiny' / 'studies.db'}") == drawn
    result = run_tables(str(tmp_path / "spec.yaml"), "--runs-dir", str(root), "--force-new")
    assert result.exit_code == 0 and "moved the run drawn in another search space aside" in result.output
    assert snapshot(next(root.glob("tiny.*"))) == before


def test_a_run_recorded_before_manifests_held_spaces_is_not_resumed_where_its_trials_hold_another_parameter(
        finished_run, tmp_path):
    """Such a run's trials are the only record of its space: an image task's held `lr` before it became a
    position in the optimizer's range."""
    root = tmp_path / "runs"
    shutil.copytree(finished_run, root / "tiny")
    manifest = json.loads((root / "tiny" / "manifest.json").read_text())
    del manifest["spaces"]
    (root / "tiny" / "manifest.json").write_text(json.dumps(manifest))
    spec = slow(0.0)
    assert RunStore(build_plan(parse_spec(spec)), root).params_not_drawn() is None  # its trials are this space's
    study = optuna.load_study(study_name="tiny/slow/random/seed-0", storage=open_storage(
        f"sqlite:///{root / 'tiny' / 'studies.db'}"))
    study.add_trial(optuna.trial.create_trial(value=0.5, params={"lr": 0.01},
                                              distributions={"lr": optuna.distributions.FloatDistribution(1e-3, 0.1)}))
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    refused(["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(root)],
            "(slow's trials hold lr, which its space no longer draws)")


def test_force_new_moves_nothing_when_the_storage_apart_from_the_run_refuses(tmp_path):
    url = f"journal://{tmp_path / 'shared.log'}"
    (tmp_path / "old.yaml").write_text(json.dumps(slow(0.0, storage=url)))
    assert run_tables(str(tmp_path / "old.yaml"), "--runs-dir", str(tmp_path / "runs")).exit_code == 0
    before = snapshot(tmp_path / "runs" / "tiny")
    (tmp_path / "new.yaml").write_text(json.dumps(slow(0.0, storage=url, budget={"trials": 3, "epochs": 1})))
    for storage in (url, f"journal://{tmp_path / 'no such folder' / 'j.log'}"):
        refused(["run", str(tmp_path / "new.yaml"), "--runs-dir", str(tmp_path / "runs"), "--storage", storage,
                 "--force-new"], "storage")
        assert snapshot(tmp_path / "runs" / "tiny") == before and not list((tmp_path / "runs").glob("tiny.*"))


def test_a_run_killed_while_labelling_a_cells_study_resumes_and_reports_the_cell(write_spec, tmp_path):
    """A study left with some of its labels was never labelled further: its trials were missing from every
    report, and the next resume was refused as a study of another spec."""
    run_dir = tmp_path / "runs" / "tiny"
    run_dir.mkdir(parents=True)
    study = optuna.create_study(storage=open_storage(f"sqlite:///{run_dir / 'studies.db'}"),
                                study_name="tiny/slow/random/seed-0", direction="maximize")
    study.set_user_attr("task", "slow")  # the run was killed before it wrote the cell's other labels
    spec = write_spec(slow(0.0))
    for _ in range(2):  # the run, and a resume of it
        result = run_tables(str(spec), "--runs-dir", str(tmp_path / "runs"))
        assert result.exit_code == 0, result.output
    results = pd.read_csv(run_dir / "results.csv")
    assert list(results["state"]) == ["COMPLETE", "COMPLETE"] and set(results["strategy"]) == {"random"}


def test_a_corrupted_sqlite_file_is_one_clear_error_and_left_as_it_was(write_spec, tmp_path):
    spec = write_spec(slow(0.0))
    database = tmp_path / "runs" / "tiny" / "studies.db"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"this was a database until a disk failed" * 100)
    refused(["run", str(spec), "--runs-dir", str(tmp_path / "runs")], f"{database} is a corrupted SQLite file")
    assert database.read_bytes() == b"this was a database until a disk failed" * 100


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """The folder made read-only: a read-only bind mount for root (whom permissions do not stop), else its mode."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", folder, folder], capture_output=True)
    if mounted.returncode != 0 or subprocess.run(["mount", "-o", "remount,ro,bind", folder]).returncode != 0:
        pytest.skip("running as root, and no read-only bind mount can be made here")
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", folder], check=True)  # the run's storage may still be open


@pytest.mark.parametrize("executor", ["local", {"name": "processes", "workers": 1}], ids=["sqlite", "journal"])
def test_a_read_only_run_directory_is_one_clear_error_not_a_corrupted_database(write_spec, tmp_path, executor):
    """SQLite in a read-only folder was called a corrupted file to move away; a journal there gave a traceback."""
    spec = write_spec(slow(0.0, executor=executor))
    runs = tmp_path / "runs"
    first = harness("run", str(spec), "--runs-dir", "runs", *TABLES_ONLY, cwd=tmp_path)  # its files closed at its end
    assert first.communicate()[0] and first.returncode == 0
    before = snapshot(runs / "tiny")
    with read_only(runs / "tiny"):
        refused(["run", str(spec), "--runs-dir", str(runs)], f"run directory {runs / 'tiny'} is not writable")
        if executor == "local":
            output = refused(["report", str(runs / "tiny"), "--out", str(tmp_path / "report")], "cannot open")
            assert "corrupted" not in output and f"check that {runs / 'tiny'} is writable" in output
    assert snapshot(runs / "tiny") == before


def test_a_torn_journal_names_the_repair_command_which_makes_it_load(write_spec, tmp_path):
    log = tmp_path / "journal.log"
    study = optuna.create_study(storage=open_storage(f"journal://{log}"), study_name="kept")
    study.tell(study.ask(), 0.5)
    whole = log.read_bytes()
    log.write_bytes(whole + b'{"op_code":4,"worker_id":"dead-wor')  # a worker killed while appending
    spec = write_spec(slow(0.0, storage=f"journal://{log}"))
    refused(["run", str(spec), "--runs-dir", str(tmp_path / "runs")], f"harness repair-journal {log}")
    assert not (tmp_path / "runs").exists()

    fixed = runner.invoke(app, ["repair-journal", str(log)])
    assert fixed.exit_code == 0 and "the file as it was is" in fixed.output
    assert log.read_bytes() == whole and len(list(tmp_path.glob("journal.log.torn-*"))) == 1
    reopened = optuna.load_study(study_name="kept", storage=open_storage(f"journal://{log}"))
    assert [t.value for t in reopened.trials] == [0.5]


def test_repairing_a_journal_on_a_full_disk_is_one_clear_error_and_changes_nothing(tmp_path):
    """A full disk tears the journal's last line; repairing it there failed with a traceback, leaving an empty copy."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", disk]).returncode:
        pytest.skip("a small file system to fill needs root and tmpfs")
    try:
        log = disk / "journal.log"
        log.write_bytes(b'{"op_code":0}\n' + b"x" * 7000)  # a torn last line, and no room for a copy
        whole = log.read_bytes()
        refused(["repair-journal", str(log)], "cannot keep a copy of")
        assert log.read_bytes() == whole and [p.name for p in disk.iterdir()] == ["journal.log"]
    finally:
        subprocess.run(["umount", "--lazy", disk], check=True)


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (root only), to be filled."""
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", folder]).returncode:
        pytest.skip("a small file system to fill needs root and tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", folder], check=True)


def test_a_disk_filling_mid_trial_stops_the_run_with_one_message_and_resuming_spends_the_budget_exactly(tmp_path):
    """The trial used to be failed with "No space left" as its reason, so it spent budget; the run ended in a
    traceback and left a half-written manifest copy behind."""
    with small_disk(tmp_path / "disk", "4m") as disk:
        url = f"journal://{disk / 'journal.log'}"
        spec = slow(0.3, storage=url, budget={"trials": 2, "epochs": 2})
        (tmp_path / "spec.yaml").write_text(json.dumps(spec))
        run = harness("run", "spec.yaml", "--runs-dir", str(disk / "runs"), cwd=tmp_path)
        wait_for_running_trial(url, epochs_done=1)
        with contextlib.suppress(OSError), open(disk / "filler", "wb") as filler:
            while filler.write(b"\0" * 4096):
                filler.flush()
        out, err = run.communicate(timeout=120)
        assert run.returncode == 2 and "Traceback" not in err, err
        assert "No space left on device" in err and "run the same command again to resume" in err
        assert not list((disk / "runs" / "tiny").glob(".manifest.*.json"))  # the manifest's own copy, not left
        (disk / "filler").unlink()
        repaired = runner.invoke(app, ["repair-journal", str(disk / "journal.log")])  # if torn
        assert repaired.exit_code == 0, repaired.output
        resumed = run_tables(str(tmp_path / "spec.yaml"), "--runs-dir", str(disk / "runs"))
        assert resumed.exit_code == 0, resumed.output
        trials = trials_of(url)["tiny/slow/random/seed-0"]
        assert [t.state.name for t in trials].count("COMPLETE") == 2
        assert not any("fail_reason" in t.user_attrs for t in trials)  # the stopped trial spent nothing


def test_a_running_worker_cuts_off_a_line_torn_by_another_before_it_writes(tmp_path):
    log = tmp_path / "journal.log"
    study = optuna.create_study(storage=open_storage(f"journal://{log}"), study_name="kept")
    study.tell(study.ask(), 0.5)
    with log.open("ab") as torn:
        torn.write(b'{"op_code":4,"worker_id":"dead-wor')  # another worker, killed while appending
    study.tell(study.ask(), 0.7)  # this one goes on
    reopened = optuna.load_study(study_name="kept", storage=open_storage(f"journal://{log}"))
    assert [t.value for t in reopened.trials] == [0.5, 0.7]


def test_a_second_run_on_the_same_sqlite_file_at_once_is_refused_and_the_first_spends_its_budget(tmp_path):
    """Nothing serialises claims on SQLite: two runs at once ran grid points twice, one crashed popping a
    queued trial the other had taken."""
    spec = slow(0.5, strategies=[{"name": "grid", "resolution": 2}], budget={"trials": 4, "epochs": 1})
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    first = harness("run", "spec.yaml", "--runs-dir", "runs", *TABLES_ONLY, cwd=tmp_path)
    run_dir = tmp_path / "runs" / "tiny"
    wait_until((run_dir / "manifest.json").exists, "manifest of its session")
    refused(["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(tmp_path / "runs")],
            f"another process is running on storage sqlite:///{run_dir / 'studies.db'}")
    assert first.wait(timeout=120) == 0, first.communicate()
    trials = trials_of(f"sqlite:///{run_dir / 'studies.db'}")["tiny/slow/grid/seed-0"]
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 4


def test_a_worker_refuses_sqlite_and_a_folder_that_is_no_run(finished_run, tmp_path):
    refused(["worker", str(finished_run)], "SQLite cannot be shared between worker processes")
    refused(["worker", str(tmp_path)], "is not a run directory")


def test_a_worker_given_another_spec_than_the_runs_is_refused_not_joined_to_the_old_one(finished_run, tmp_path):
    """An edited spec given to a worker of an existing run was silently ignored: it worked on the old one."""
    (tmp_path / "spec.yaml").write_text(json.dumps(slow(0.0, budget={"trials": 5, "epochs": 1})))
    before = snapshot(finished_run)
    refused(["worker", str(finished_run), "--spec", str(tmp_path / "spec.yaml")],
            f"{finished_run} holds a run of another spec")
    assert snapshot(finished_run) == before


def test_plugins_come_only_from_the_modules_a_spec_names(write_spec, tmp_path):
    (tmp_path / "unnamed_plugin.py").write_text("raise SystemExit('imported a module no spec named')\n")
    result = run_tables(str(write_spec(slow(0.0))), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    assert PLUGIN in sys.modules and "unnamed_plugin" not in sys.modules


def slow_run(tmp_path: Path, executor: str | dict = "local") -> tuple[subprocess.Popen, str]:
    """`harness run` of the slow task in a subprocess, stopped at its first trial's first epoch."""
    url = f"journal://{tmp_path / 'journal.log'}"
    spec = slow(1.0, storage=url, budget={"trials": 2, "epochs": 3}, executor=executor)
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    process = harness("run", "spec.yaml", "--runs-dir", "runs", cwd=tmp_path)
    wait_for_running_trial(url, epochs_done=0)
    return process, url


def test_a_first_ctrl_c_finishes_the_epoch_marks_the_trial_and_the_manifest(tmp_path):
    process, url = slow_run(tmp_path)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "run the same command again to resume" in stderr
    (trial,) = trials_of(url)["tiny/slow/random/seed-0"]
    assert trial.state.name == "FAIL" and "fail_reason" not in trial.user_attrs  # spends no budget
    assert len(trial.user_attrs["curve"]) == 1  # the epoch under way was finished and recorded
    session = json.loads((tmp_path / "runs" / "tiny" / "manifest.json").read_text())["sessions"][-1]
    assert session["status"] == "interrupted" and "ended" in session


def test_a_first_ctrl_c_finishes_the_epoch_of_trials_trained_together_and_marks_them(tmp_path):
    process, url = slow_run(tmp_path, {"name": "batched", "batch_trials": 2})
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "run the same command again to resume" in stderr
    trials = trials_of(url)["tiny/slow/random/seed-0"]
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert not any("fail_reason" in t.user_attrs for t in trials)  # they spend no budget
    assert [len(t.user_attrs["curve"]) for t in trials] == [1, 1]  # the epoch under way was finished and recorded


@pytest.mark.parametrize(("executor", "stop"), [({"name": "processes", "workers": 2}, signal.SIGINT),
                                               ({"name": "ray", "workers": 2}, signal.SIGTERM)],
                         ids=["processes", "ray"])
def test_a_first_ctrl_c_or_sigterm_stops_every_worker_and_marks_their_trials(tmp_path, executor, stop):
    """Workers in other processes (forwarded the signal) and Ray tasks (cancelled) stop too; their trials spend no
    budget and are marked, so a resume runs them again at their positions. SIGTERM is a first Ctrl-C, under Ray
    too, which installs its own SIGTERM handler when it starts."""
    if executor["name"] == "ray":
        pytest.importorskip("ray")
    process, url = slow_run(tmp_path, executor)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "run the same command again to resume" in stderr
    trials = trials_of(url)["tiny/slow/random/seed-0"]
    assert trials and [t.state.name for t in trials] == ["FAIL"] * len(trials)  # nothing left running
    assert all("fail_reason" not in t.user_attrs and INTERRUPTED_KEY in t.user_attrs for t in trials)


def test_a_ray_task_takes_every_cancel_as_a_first_ctrl_c():
    """The driver cancels a Ray task again at every poll until it ends, since Ray loses a cancel that reaches a task
    still starting; so a repeat must not stop a task at once, which would leave its trial unmarked."""
    code = ("import _thread\nfrom harness import stopping\nstopping.stop_at_every_interrupt()\n"
            "for _ in range(3):\n    _thread.interrupt_main()\nprint(stopping.requested())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr


def test_a_second_ctrl_c_stops_at_once(tmp_path):
    process, url = slow_run(tmp_path)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode == 130
    (trial,) = trials_of(url)["tiny/slow/random/seed-0"]
    assert trial.state.name == "FAIL" and "curve" not in trial.user_attrs  # it did not wait for the epoch
