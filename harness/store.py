"""The run directory and the Optuna storage: the single source of truth for trials.

Trials live in the storage (SQLite in the run directory unless the spec names another URL; a
journal file there when several processes share it); the directory holds the manifest (spec,
hash, versions, commit, hardware, one entry per session) and the exported frames.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ContextManager

import optuna
import pandas as pd
import sqlalchemy
import torch
from filelock import FileLock, Timeout

from harness import journal, sqlite
from harness.budget import counts_against_budget, trial_epochs
from harness.errors import HarnessError, cause_line
from harness.options import Options
from harness.patience import PatientStorage
from harness.plan import Cell, Plan
from harness.plugins import plugin_sources
from harness.positions import position
from harness.registry import Registry
from harness.space import positions, without_positions
from harness.strategy import strategies
from harness.task import tasks

PACKAGES = ("harness", "torch", "torchvision", "optuna", "numpy", "pandas", "scikit-learn", "transformers", "tokenizers")
HEARTBEAT_SECONDS = 60
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # names this process in the manifest and on its trials
SHARE_SQLITE_ADVICE = ("SQLite cannot be shared between worker processes (its locks fail under concurrent writers and "
                       "queued trials get popped twice, see Optuna's FAQ); use a journal file on local disk "
                       "(storage: journal:///path/journal.log; the default of the processes and ray executors) "
                       "or PostgreSQL (storage: postgresql://user@host/db) for many machines")


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_commit(where: Path) -> str | None:
    """The harness checkout's commit, with `+dirty` when it has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=where, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def cpu_model() -> str:
    """The processor's model name: Linux leaves `platform.processor()` empty, and CPU numbers depend on it."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return models[0] if models else platform.processor() or platform.machine()


def hardware(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu": cpu_model(), "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads(),  # CPU float sums depend on it
                            "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")  # a pinned worker's GPU
    return info


def resolved_options(plan: Plan) -> dict[str, Any]:
    """Every task's, strategy's and the executor's options, defaults filled in: the spec names only what it
    changes, and another checkout's defaults may differ."""
    from harness.executor import executors  # executors run plans from a store, so they import this module

    def named(registry: Registry, obj: Options) -> dict[str, Any]:
        return {"name": registry.name_of(type(obj)), **obj.model_dump(mode="json")}

    return {"tasks": {run.label: named(tasks, run.task) for run in plan.tasks},
            "strategies": {run.label: named(strategies, run.strategy) for run in plan.strategies},
            "executor": named(executors, plan.executor)}


class RunStore:
    """One run: its directory under `runs_root/<spec name>` and its Optuna storage."""

    def __init__(self, plan: Plan, runs_root: Path, run_dir: Path | None = None) -> None:
        self.plan = plan
        self.dir = Path(run_dir) if run_dir is not None else Path(runs_root) / plan.spec.name
        self.url = plan.spec.storage or self.default_url()
        self._storage: optuna.storages.BaseStorage | None = None

    def default_url(self) -> str:
        """The run directory's own storage: the file already there, else SQLite for one process and a
        journal file when the executor's workers share it."""
        sqlite, log = self.dir / "studies.db", self.dir / "journal.log"
        if log.exists() or (self.plan.executor.shares_storage and not sqlite.exists()):
            return f"{journal.PREFIX}{log.resolve()}"
        return f"sqlite:///{sqlite.resolve()}"

    def check_shareable(self) -> None:
        """Refuse a SQLite storage when several processes would write to it."""
        if self.url.startswith("sqlite:"):
            raise HarnessError(f"storage {self.url}: {SHARE_SQLITE_ADVICE}")

    def check_writable(self) -> None:
        """Refuse a run directory this process cannot write in (a read-only copy or mount) before anything is
        opened: the manifest, the locks and a file storage are written there."""
        if self.dir.is_dir() and not os.access(self.dir, os.W_OK):
            raise HarnessError(f"run directory {self.dir} is not writable, and a run writes its manifest, locks and "
                               "storage file there; make it writable, or copy it (cp -r) to a writable place and run "
                               "that copy")

    def sole_writer(self) -> ContextManager:
        """Hold a SQLite storage for this process alone while the body runs, and refuse it when another process
        holds it: nothing serialises claims on SQLite, so two processes ran grid points twice and past the budget."""
        if not self.url.startswith("sqlite:///"):
            return nullcontext()
        if self.plan.spec.storage is None:
            self.dir.mkdir(parents=True, exist_ok=True)  # the default storage file lives there
        database = Path(self.url.removeprefix("sqlite:///"))
        if not database.parent.is_dir():
            return nullcontext()  # opening the storage says so
        return held_alone(database.with_name(f".{database.name}.lock"),
                          f"another process is running on storage {self.url}: wait for it to end, or, to share a "
                          f"run, note that {SHARE_SQLITE_ADVICE}")

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def check_same_spec(self) -> str | None:
        """Refuse to mix two different specs in one run directory or study; nothing existing is touched.

        A run of another spec that holds no trial (it stopped at its first: a data set not there, a column named
        wrongly) is replaced, and its spec hash returned: there is nothing in it to lose, and the fix its error
        asked for is a changed spec."""
        spec_hash = self.plan.spec.hash()
        recorded = self.recorded_hash()
        replaced = None
        if recorded is not None and recorded != spec_hash:
            if self.holds_trials(recorded):
                raise HarnessError(f"{self.dir} holds a run of another spec (hash {recorded}, this spec {spec_hash}); "
                                   "give this spec another `name:`, use --runs-dir, or --force-new to move the old "
                                   "run aside")
            self.manifest_path.unlink()
            replaced = recorded
        elif (changed := self.space_change() or self.params_not_drawn()) is not None and self.holds_trials(spec_hash):
            raise HarnessError(f"{self.dir} holds trials drawn in another search space than the tasks state now "
                               f"({changed}): the harness or a plugin changed since the run started, and a resumed "
                               "run would mix the two; resume it with the version it started with (its manifest "
                               "names the git commit), or start anew: give the spec another `name:`, or use "
                               "--force-new to move the run directory aside where it holds its own storage")
        self.check_storage()
        return replaced

    def space_change(self) -> str | None:
        """Where a task's search space as the manifest recorded it differs from the one the task states now, in
        words; None where they agree or where the manifest recorded none (a run made before manifests did)."""
        recorded = self.recorded_manifest().get("spaces", {})
        for run in self.plan.tasks:
            now = run.space.rows()
            then = recorded.get(run.label, now)
            for name in dict.fromkeys(row[0] for row in [*then, *now]):
                if rows_of(then, name) != rows_of(now, name):
                    return (f"{run.label}'s {name} was {rows_of(then, name) or 'not searched'} when the run started, "
                            f"and is {rows_of(now, name) or 'not searched'} now")
        return None

    def params_not_drawn(self) -> str | None:
        """For a run whose manifest recorded no spaces (made before manifests did): a parameter its trials hold that
        its task's space no longer draws, in words; None if there is none, or no run."""
        manifest = self.recorded_manifest()
        if not manifest or "spaces" in manifest:
            return None
        try:
            storage = open_storage(recorded_storage(self.dir, manifest))
        except HarnessError:
            return None  # opening the storage again says why
        spaces = {run.label: run.space for run in self.plan.tasks}
        for summary in optuna.get_all_study_summaries(storage):
            space = spaces.get(summary.user_attrs.get("task"))
            if summary.user_attrs.get("spec_hash") != manifest["spec_hash"] or space is None:
                continue
            held = {name for trial in optuna.load_study(study_name=summary.study_name, storage=storage).trials
                    for name in trial.params}
            if extra := sorted(held - space.drawn_names()):
                return f"{summary.user_attrs['task']}'s trials hold {', '.join(extra)}, which its space no longer draws"
        return None

    def holds_trials(self, spec_hash: str) -> bool:
        """Whether the run directory's run of `spec_hash` stored any trial, in the storage its manifest names; one
        that cannot be opened is taken to hold some."""
        try:
            storage = open_storage(recorded_storage(self.dir, self.recorded_manifest()))
        except HarnessError:
            return True
        return any(summary.n_trials for summary in optuna.get_all_study_summaries(storage)
                   if summary.user_attrs.get("spec_hash") == spec_hash)

    def check_storage(self) -> None:
        """Open the storage (an unreachable one fails here) and refuse one that holds this run's studies for
        another spec; an empty one is taken over (`study` labels it)."""
        spec_hash = self.plan.spec.hash()
        names = {self.study_name(cell) for cell in self.plan.cells}
        for summary in optuna.get_all_study_summaries(self.storage):
            recorded = summary.user_attrs.get("spec_hash")
            if summary.study_name in names and recorded != spec_hash and summary.n_trials:
                raise HarnessError(f"storage {self.url} already holds study {summary.study_name!r} of another spec "
                                   f"(hash {recorded}, this spec {spec_hash}); give this spec another `name:`")

    def recorded_hash(self) -> str | None:
        """The spec hash in the run directory's manifest, if there is one."""
        return self.recorded_manifest().get("spec_hash")

    def recorded_manifest(self) -> dict[str, Any]:
        """The run directory's manifest; empty if there is none."""
        if not self.manifest_path.exists():
            return {}
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or "spec_hash" not in manifest:
            raise HarnessError(f"{self.manifest_path} is not a readable manifest; move the run directory away")
        return manifest

    def move_aside(self) -> Path:
        """Rename an existing run directory (its trials and storage file go with it) so a new run starts."""
        aside = self.dir.with_name(f"{self.dir.name}.{self.recorded_hash() or 'old'}")
        suffix = 1
        while aside.exists():
            aside, suffix = aside.with_name(f"{self.dir.name}.{self.recorded_hash() or 'old'}-{suffix}"), suffix + 1
        self.dir.rename(aside)
        self.url = self.plan.spec.storage or self.default_url()
        return aside

    def record_session(self, device: torch.device, spec_dir: Path | None = None) -> None:
        """Write the manifest on the first session; later sessions (resumes, workers) are appended to it."""
        session = {"worker": WORKER, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "packages": package_versions(), "git_commit": git_commit(Path(__file__).parent),
                   "hardware": hardware(device), "plugins": plugin_sources(self.plan.spec.plugins)}

        def add(manifest: dict[str, Any]) -> None:
            manifest["spec"] = self.plan.spec.model_dump(mode="json")  # the latest executor's options
            manifest["spec_hash"] = self.plan.spec.hash()
            manifest["resolved"] = resolved_options(self.plan)
            manifest["spaces"] = {run.label: run.space.rows() for run in self.plan.tasks}  # as searched, overrides in
            if spec_dir is not None:
                manifest["spec_dir"] = str(spec_dir.resolve())  # where workers find the spec's plugins
            manifest["storage"] = self.url  # the latest session's, which a report reads
            manifest.setdefault("sessions", []).append(session)

        self.update_manifest(add)

    @contextmanager
    def session(self, device: torch.device, spec_dir: Path | None = None) -> Iterator[None]:
        """One session in the manifest around the body, marked complete, interrupted or failed at its end."""
        self.record_session(device, spec_dir)
        status = "failed"
        try:
            yield
            status = "complete"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            try:
                self.end_session(status)
            except OSError:
                if status == "complete":
                    raise  # else the error that ended the session (a full disk, most likely this one too) is told

    def end_session(self, status: str) -> None:
        """Mark this process's latest session as ended ("complete", "interrupted" or "failed")."""

        def end(manifest: dict[str, Any]) -> None:
            mine = [s for s in manifest.get("sessions", []) if s.get("worker") == WORKER]
            if mine:
                mine[-1].update(ended=datetime.now(timezone.utc).isoformat(timespec="seconds"), status=status)

        self.update_manifest(end)

    def update_manifest(self, change: Any) -> None:
        """Read, change and atomically replace the manifest under a file lock: many workers write it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with FileLock(self.dir / ".manifest.lock"):
            manifest = json.loads(self.manifest_path.read_text()) if self.manifest_path.exists() else {}
            change(manifest)
            partial = self.manifest_path.with_name(f".manifest.{os.getpid()}.json")
            try:
                partial.write_text(json.dumps(manifest, indent=2))
            except OSError:
                partial.unlink(missing_ok=True)  # a full disk: the manifest stays as it was
                raise
            os.replace(partial, self.manifest_path)

    @property
    def storage(self) -> optuna.storages.BaseStorage:
        if self._storage is None:
            if self.plan.spec.storage is None:
                self.dir.mkdir(parents=True, exist_ok=True)  # the default storage file lives there
            executor = self.plan.executor
            self._storage = open_storage(self.url, executor.heartbeat_seconds, executor.retries)
        return self._storage

    def study_name(self, cell: Cell) -> str:
        """Prefixed with the run's name, so many runs can share one database."""
        return f"{self.plan.spec.name}/{cell.study_name}"

    def study(self, cell: Cell) -> optuna.Study:
        """The cell's study, created on first use and labelled with its cell so reports need no plan (the
        labels a process killed while writing them left out are written by the next, and an empty study of
        another spec is labelled anew: `check_storage` refused one that holds trials)."""
        study = optuna.create_study(storage=self.storage, study_name=self.study_name(cell), direction="maximize",
                                    load_if_exists=True)
        labels = {"task": cell.task.label, "strategy": cell.strategy.label, "seed": cell.seed,
                  "spec_hash": self.plan.spec.hash()}
        recorded = study.user_attrs
        relabel = recorded.get("spec_hash") not in (None, labels["spec_hash"])
        for key, value in labels.items():
            if relabel or key not in recorded:
                study.set_user_attr(key, value)
        return study

    def existing_trials(self, cell: Cell) -> list[optuna.trial.FrozenTrial]:
        """The cell's trials, or none if its study does not exist yet."""
        if self.study_name(cell) not in optuna.get_all_study_names(self.storage):
            return []
        return optuna.load_study(study_name=self.study_name(cell), storage=self.storage).get_trials(deepcopy=False)


@contextmanager
def held_alone(lock_path: Path, refusal: str) -> Iterator[None]:
    """A file lock held while the body runs; taken already, `refusal` is the error."""
    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise HarnessError(refusal) from None
    try:
        yield
    finally:
        lock.release()


def rows_of(rows: list[list[str]], name: str) -> str:
    """A parameter's rows of a search-space table (`Space.rows`), in words."""
    return "; ".join(f"{values} (default {default})" + ("" if used == "always" else f" when {used}")
                     for param, values, default, used in rows if param == name)


def recorded_storage(run_dir: Path, manifest: dict[str, Any]) -> str:
    """The storage URL a run's manifest records; for a file storage, the run directory's own file whenever it has
    one: the manifest says where the run was written, but the directory is what the user points at, and a moved
    or copied run (cp -r runs/a runs/b) must read and extend its own trials, not the original's."""
    url = manifest["storage"]
    for prefix, name in (("sqlite:///", "studies.db"), (journal.PREFIX, "journal.log")):
        if url.startswith(prefix) and (run_dir / name).exists():
            return f"{prefix}{(run_dir / name).resolve()}"
    return url


def open_storage(url: str, heartbeat_seconds: int = HEARTBEAT_SECONDS, retries: int = 0
                 ) -> optuna.storages.BaseStorage:
    """The storage at `url` (a journal file or any SQLAlchemy URL), with heartbeats so a trial whose
    process died is recognised, and `retries` re-runs of such a trial's configuration."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=retries) if retries else None
        if url.startswith(journal.PREFIX):
            return journal.open_journal(journal.journal_path(url), heartbeat_seconds, retry)
        file = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
        if file is not None:
            sqlite.check_file(file)
        try:
            if file is not None:
                sqlite.create_in_wal_mode(file)
                return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_seconds,
                                                  heartbeat_stale_trial_callback=retry)
            return PatientStorage(url, patience=heartbeat_seconds, heartbeat_interval=heartbeat_seconds,
                                  heartbeat_stale_trial_callback=retry)
        except Exception as error:  # SQLAlchemy raises many kinds; all mean the same to the user
            raise HarnessError(f"cannot open storage {shown(url)}: {cause_line(error)}") from None


def shown(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def frames(storage: optuna.storages.BaseStorage, spec_hash: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy results frame (one row per trial that spent budget) and curves frame (one row per trial-epoch).

    Read from the storage alone (each study's user attributes name its run and cell), so a report
    needs neither the spec nor the plugins that ran it. `compile_seconds` (NaN unless the trial ran with
    `compile: true`) is the first training step's time, which compiles the model for training; recompiles
    for evaluation or other batch shapes fall in the epochs' seconds. `position_*` columns hold where in its
    optimizer's range each rate was drawn (0 at the range's low end, 1 at its high end, on its scale).
    """
    rows, curve_rows = [], []
    for summary in optuna.get_all_study_summaries(storage):
        if summary.user_attrs.get("spec_hash") != spec_hash:
            continue  # another run sharing the database
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        cell = {k: study.user_attrs[k] for k in ("task", "strategy", "seed")}
        note = study.user_attrs.get("strategy_note", "")
        for trial in filter(counts_against_budget, study.get_trials(deepcopy=False)):
            key = {**cell, "trial": position(trial)}
            attrs = trial.user_attrs
            curve = attrs.get("curve", [])
            rows.append({**key, "state": trial.state.name,
                         "val_accuracy": trial.value if trial.value is not None else math.nan,
                         "test_accuracy": attrs.get("test_accuracy", math.nan),
                         "epochs": trial_epochs(trial), "extra_epochs": attrs.get("extra_epochs", 0.0),
                         "seconds": trial.duration.total_seconds() if trial.duration else math.nan,
                         "train_seed": attrs.get("train_seed"), "fail_reason": attrs.get("fail_reason"),
                         "strategy_note": note,
                         "device_seconds": attrs.get("device_seconds", math.nan),
                         "energy_joules": attrs.get("energy_joules", math.nan),
                         "compile_seconds": attrs.get("compile_seconds", math.nan),
                         **{f"param_{k}": v
                            for k, v in attrs.get("config", without_positions(trial.params)).items()},
                         **{f"position_{k}": v for k, v in positions(trial.params).items()}})
            curve_rows += [{**key, **record} for record in curve]
    return pd.DataFrame(rows), pd.DataFrame(curve_rows)
