"""Many workers on one storage spend exactly the budget: worker processes on a journal file, on a real
PostgreSQL server, `harness worker` joining a run, and Ray tasks on a real local Ray instance, also when
some or all of the Ray workers die."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator

import optuna
import pytest
import torch
from conftest import TABLES_ONLY, interrupt_at_epoch, tiny_spec
from typer.testing import CliRunner

from harness.cli import app
from harness.cost import SHARED_GPU, meters_energy
from harness.executor import CellRunner
from harness.executors.processes import Processes, visible_gpus, worker_envs
from harness.executors.ray_tasks import RayTasks
from harness.plan import build_plan
from harness.spec import parse_spec
from harness.store import RunStore, open_storage
from harness.trainer import resolve_device

runner = CliRunner()
PLUGIN = "harness.testing.tasks"  # the slow and fragile tasks
PLANNED = 6


def spec_in(**changes) -> dict:
    """Grid and random on the plugin's blobs task, whose trials take about a second without using the CPU, so
    every worker gets some while the others start."""
    return tiny_spec(**{"tasks": [{"name": "slow", "pause": 0.3}], "plugins": [PLUGIN], "space": {},
                        "budget": {"trials": PLANNED, "epochs": 1}, **changes})


def run_ok(*args: str) -> str:
    result = runner.invoke(app, ["run", *args, *TABLES_ONLY])
    assert result.exit_code == 0, result.output
    return result.output


def trials_by_study(url: str) -> dict[str, list[optuna.trial.FrozenTrial]]:
    storage = open_storage(url)
    return {name: optuna.load_study(study_name=name, storage=storage).trials
            for name in optuna.get_all_study_names(storage)}


def assert_exactly_the_plan(url: str) -> None:
    """Every cell: exactly the planned COMPLETE trials, nothing left running, no configuration twice."""
    studies = trials_by_study(url)
    assert len(studies) == 2
    for name, trials in studies.items():
        states = Counter(t.state.name for t in trials)
        assert states["COMPLETE"] == PLANNED and states["RUNNING"] == 0, (name, states)
        points = {json.dumps(t.params, sort_keys=True) for t in trials if t.state.name == "COMPLETE"}
        assert len(points) == PLANNED, name  # no grid point twice, no two workers drawing the same random ones


def test_four_worker_processes_on_a_journal_file_spend_exactly_the_budget(write_spec, tmp_path):
    spec = write_spec(spec_in(executor={"name": "processes", "workers": 4}))
    output = run_ok(str(spec), "--runs-dir", str(tmp_path / "runs"))
    run_dir = tmp_path / "runs" / "tiny"
    url = f"journal://{(run_dir / 'journal.log').resolve()}"
    assert_exactly_the_plan(url)
    assert "report:" in output and len(list((run_dir / "workers").glob("worker-*.log"))) == 4
    workers = {t.system_attrs["worker"] for trials in trials_by_study(url).values() for t in trials}
    assert len(workers) > 1  # the trials were shared out

    local = write_spec(spec_in(executor="local"), "local.yaml")  # same experiment, same run
    run_ok(str(local), "--runs-dir", str(tmp_path / "runs"))  # resuming a finished run
    assert sum(len(t) for t in trials_by_study(url).values()) == 2 * PLANNED
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [s.get("status") for s in manifest["sessions"]] == ["complete"] * (1 + 4 + 1)  # run, 4 workers, resume


def test_a_run_moves_from_local_to_four_workers_on_postgresql_and_a_late_worker_adds_nothing(
        write_spec, tmp_path, postgres_url):
    local = spec_in(storage=postgres_url)
    plan = build_plan(parse_spec(local))
    store = RunStore(plan, tmp_path / "runs")
    store.record_session(resolve_device("cpu"))
    with pytest.raises(KeyboardInterrupt):
        CellRunner(plan, store, resolve_device("cpu")).run_cell(plan.cells[0], on_epoch=interrupt_at_epoch(3))

    spec = write_spec(spec_in(executor={"name": "processes", "workers": 4}))
    run_ok(str(spec), "--runs-dir", str(tmp_path / "runs"), "--storage", postgres_url)  # same spec hash
    assert_exactly_the_plan(postgres_url)
    grid = trials_by_study(postgres_url)["tiny/slow/grid/seed-0"]
    assert [t.state.name for t in grid[:3]] == ["COMPLETE", "COMPLETE", "FAIL"]  # kept, and not counted

    late = subprocess.run([sys.executable, "-m", "harness.cli", "worker", str(tmp_path / "runs" / "tiny")],
                          capture_output=True, text=True, timeout=120)
    assert late.returncode == 0, late.stderr
    assert "every cell has spent its budget" in late.stdout
    assert sum(len(t) for t in trials_by_study(postgres_url).values()) == 2 * PLANNED + 1


def test_sqlite_is_refused_for_worker_processes(write_spec, tmp_path):
    spec = write_spec(spec_in(storage=f"sqlite:///{tmp_path}/studies.db",
                                executor={"name": "processes", "workers": 2}))
    result = runner.invoke(app, ["run", str(spec), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert "SQLite cannot be shared between worker processes" in result.output and "journal:///" in result.output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "studies.db").exists()


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}})
    yield ray
    ray.shutdown()


def test_ray_tasks_on_a_local_ray_instance_spend_exactly_the_budget(write_spec, tmp_path, local_ray):
    spec = write_spec(spec_in(executor={"name": "ray", "workers": 2}))
    run_ok(str(spec), "--runs-dir", str(tmp_path / "runs"))
    url = f"journal://{(tmp_path / 'runs' / 'tiny' / 'journal.log').resolve()}"
    assert_exactly_the_plan(url)
    hosts = {t.system_attrs["worker"] for trials in trials_by_study(url).values() for t in trials}
    assert str(os.getpid()) not in {h.rpartition(":")[2] for h in hosts}  # trained in Ray's worker processes


def running_workers(url: str) -> set[int]:
    """The pids of the processes running the run's trials now (its storage's "worker" marks, host:pid)."""
    if not os.path.exists(url.removeprefix("journal://")):
        return set()
    return {int(t.system_attrs["worker"].rpartition(":")[2]) for trials in trials_by_study(url).values()
            for t in trials if t.state.name == "RUNNING" and "worker" in t.system_attrs}


@contextlib.contextmanager
def killing_workers(url: str, count: int) -> Iterator[list[int]]:
    """SIGKILL, from a thread, the first `count` processes seen running a trial of the run; the pids killed."""
    killed: list[int] = []
    done = threading.Event()

    def kill() -> None:
        while len(killed) < count and not done.wait(0.05):
            for pid in sorted(running_workers(url) - set(killed) - {os.getpid()})[:count - len(killed)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    thread = threading.Thread(target=kill)
    thread.start()
    try:
        yield killed
    finally:
        done.set()
        thread.join()


def ray_spec(write_spec, **changes):
    """Two Ray workers that Ray does not start again once their process dies."""
    return write_spec(spec_in(executor={"name": "ray", "workers": 2, "worker_restarts": 0}, **changes))


def test_a_dead_ray_worker_leaves_the_other_to_spend_the_budget_and_report_the_run(write_spec, tmp_path, local_ray):
    """The first Ray task that failed stopped the run and abandoned the other worker, and a worker whose process
    died (a WorkerCrashedError, not a RayTaskError) stopped it with a traceback."""
    url = f"journal://{(tmp_path / 'runs' / 'tiny' / 'journal.log').resolve()}"
    with killing_workers(url, count=1) as killed:
        output = " ".join(run_ok(str(ray_spec(write_spec)), "--runs-dir", str(tmp_path / "runs")).split())
    assert len(killed) == 1
    assert "1 worker(s) failed; worker" in output and "The worker died unexpectedly" in output
    assert "the other workers spent every cell's budget" in output and "report:" in output
    assert_exactly_the_plan(url)


def test_ray_workers_all_dead_stop_the_run_with_one_message(write_spec, tmp_path, local_ray):
    url = f"journal://{(tmp_path / 'runs' / 'tiny' / 'journal.log').resolve()}"
    with killing_workers(url, count=2) as killed:
        result = runner.invoke(app, ["run", str(ray_spec(write_spec)), "--runs-dir", str(tmp_path / "runs")])
    output = " ".join(result.output.split())  # as if never wrapped
    assert result.exit_code == 2, result.output
    assert len(killed) == 2
    assert "error: 2 worker(s) failed; worker" in output and "The worker died unexpectedly" in output
    assert "Traceback" not in output and not (tmp_path / "runs" / "tiny" / "index.html").exists()


def test_a_worker_given_the_spec_starts_the_run_when_it_is_the_first(write_spec, tmp_path):
    spec = write_spec(spec_in(executor={"name": "processes", "workers": 2}))
    result = runner.invoke(app, ["worker", str(tmp_path / "runs" / "tiny"), "--spec", str(spec)])
    assert result.exit_code == 0, result.output
    assert_exactly_the_plan(f"journal://{(tmp_path / 'runs' / 'tiny' / 'journal.log').resolve()}")
    report = runner.invoke(app, ["report", str(tmp_path / "runs" / "tiny"), *TABLES_ONLY])
    assert report.exit_code == 0, report.output


def test_a_worker_given_a_device_no_torch_knows_says_so_in_one_line(write_spec, tmp_path):
    spec = write_spec(spec_in(executor={"name": "processes", "workers": 2}))
    result = runner.invoke(app, ["worker", str(tmp_path / "runs" / "tiny"), "--spec", str(spec), "--device", "gpu"])
    assert result.exit_code == 2, result.output
    assert "device 'gpu' is not one of auto, cpu, mps, cuda or cuda:N; use device: auto or cpu" in result.output


def test_worker_processes_are_pinned_workers_per_gpu_to_each_visible_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_gpus() == ["2", "3"]
    assert Processes(workers_per_gpu=2).pinning(visible_gpus()) == ["2", "2", "3", "3"]
    assert Processes(workers=3).pinning(["0", "1"]) == ["0", "1", "0"]
    assert Processes(workers=2).pinning([]) == [None, None]


def test_workers_sharing_a_gpu_record_no_energy(monkeypatch):
    envs = worker_envs(Processes(workers=3).pinning(["0", "1"]))  # two workers on GPU 0, one alone on GPU 1
    assert [(env["CUDA_VISIBLE_DEVICES"], env.get(SHARED_GPU)) for env in envs] == [("0", "1"), ("1", None), ("0", "1")]
    assert not any(SHARED_GPU in env for env in worker_envs(Processes().pinning(["0", "1"])) + worker_envs([None] * 2))
    assert RayTasks(gpus_per_worker=0.5).shares_gpus and not RayTasks(gpus_per_worker=1).shares_gpus
    monkeypatch.setenv(SHARED_GPU, envs[0][SHARED_GPU])  # as the worker process starts
    assert not meters_energy()
    monkeypatch.delenv(SHARED_GPU)
    assert meters_energy()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_worker_processes_train_on_their_pinned_gpus(write_spec, tmp_path):
    spec = write_spec(spec_in(device="cuda", executor={"name": "processes", "workers_per_gpu": 2}))
    run_ok(str(spec), "--runs-dir", str(tmp_path / "runs"))
    assert_exactly_the_plan(f"journal://{(tmp_path / 'runs' / 'tiny' / 'journal.log').resolve()}")
    sessions = json.loads((tmp_path / "runs" / "tiny" / "manifest.json").read_text())["sessions"][1:]
    pinned = Counter(s["hardware"]["cuda_visible_devices"] for s in sessions)
    assert pinned == Counter({gpu: 2 for gpu in visible_gpus()})
