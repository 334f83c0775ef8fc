"""Exactly the planned trials, however many workers share a study.

Optuna alone does not guarantee it: `n_trials` counts per worker, `MaxTrialsCallback` races, and
a resumed study gets one more trial per worker. So a worker claims each trial under a lock held
in the storage itself (a PostgreSQL or MySQL advisory lock, a file lock beside a journal file):
under it, trials whose worker died are failed, the budget is checked with the running trials
counted as if they will spend their share, the strategy's fixed configurations are queued once,
and the trial is created (or popped from the queue) and marked as this worker's. Training then
runs outside the lock, with a heartbeat.
"""

from __future__ import annotations

import enum
import hashlib
import os
import socket
import threading
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any, ContextManager

import optuna
import sqlalchemy
from filelock import FileLock
from optuna.storages._heartbeat import BaseHeartbeat  # the interface RDBStorage implements; not re-exported
from optuna.trial import FrozenTrial, TrialState

from harness.attrs import write_trial_attrs
from harness.budget import Budget, Spent
from harness.errors import connection_lost
from harness.journal import HeartbeatJournalStorage
from harness.patience import patiently
from harness.store import WORKER

WORKER_KEY = "worker"  # trial system attribute: the "host:pid" that runs it
STARTED_KEY = "worker_started"  # and when that process started, to tell it from a later one given its pid


class Slot(enum.Enum):
    DONE = "the cell's budget is spent"
    BUSY = "the rest of the budget is being spent by running trials"


def cell_lock(storage: optuna.storages.BaseStorage, name: str) -> ContextManager:
    """A lock every worker of `storage` sees, whoever and wherever it is; released if its holder dies."""
    if isinstance(storage, HeartbeatJournalStorage):
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        return FileLock(storage.path.with_name(f".{storage.path.name}.{digest}.lock"))
    if isinstance(storage, optuna.storages.RDBStorage) and storage.engine.dialect.name in ADVISORY_LOCKS:
        return advisory_lock(storage.engine, name)
    return nullcontext()  # SQLite: one process only (refused for shared executors)


ADVISORY_LOCKS = {  # held by the transaction (PostgreSQL) or the connection (MySQL): a dead worker frees it
    "postgresql": ("SELECT pg_advisory_xact_lock(:key)", None),
    "mysql": ("SELECT GET_LOCK(:key, -1)", "SELECT RELEASE_LOCK(:key)"),
}


@contextmanager
def advisory_lock(engine: sqlalchemy.engine.Engine, name: str) -> Iterator[None]:
    acquire, release = ADVISORY_LOCKS[engine.dialect.name]
    digest = hashlib.sha256(f"harness:{name}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True) if release is None else digest.hex()[:60]
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(acquire), {"key": key})
        try:
            yield
        finally:
            if release is not None:
                connection.execute(sqlalchemy.text(release), {"key": key})


def claim(study: optuna.Study, storage: optuna.storages.BaseStorage, budget: Budget,
          prepare: Callable[[list[FrozenTrial]], Mapping[str, Any]], sweep_epochs: float = 0.0) -> optuna.Trial | Slot:
    """A new trial of this worker's if the budget has room for it, else why not. `prepare` sees the
    study's trials under the lock, just before the trial is created (to queue configurations), and returns
    the user attributes a trial not taken from the queue gets, written under the lock with its worker's.

    A running trial counts as spending its full `epochs`, and before them its range test's sweep: the one
    it recorded (planned before the sweep starts, taken once it ends), or `sweep_epochs` while it has not.

    A claim cut off by a lost connection starts again once the database is back (harness.patience), and fails
    the trial it had created, as a dead worker's."""
    abandoned: list[int] = []
    return patiently(storage, claim_once, study, storage, budget, prepare, sweep_epochs, abandoned)


def claim_once(study: optuna.Study, storage: optuna.storages.BaseStorage, budget: Budget,
               prepare: Callable[[list[FrozenTrial]], Mapping[str, Any]], sweep_epochs: float,
               abandoned: list[int]) -> optuna.Trial | Slot:
    """One try at `claim`; the trial it creates is in `abandoned` until the lock is released."""
    with cell_lock(storage, study.study_name), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Heartbeat of storage")  # meant for `optimize`, says Optuna; we beat here
        trials = fail_stale(study, storage, abandoned)
        abandoned.clear()
        spent = Spent.of(trials)
        if budget.exhausted(spent):
            return Slot.DONE
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if budget.exhausted(replace(spent, trials=spent.trials + len(running), epochs=spent.epochs + sum(
                budget.epochs + t.user_attrs.get("extra_epochs", sweep_epochs) for t in running))):
            return Slot.BUSY
        fresh = prepare(trials)
        trial = study.ask()
        abandoned.append(trial._trial_id)
        user = {key: value for key, value in fresh.items() if key not in trial.user_attrs}  # a queued trial has its own
        write_trial_attrs(storage, trial._trial_id, user=user,
                          system={WORKER_KEY: WORKER, STARTED_KEY: process_started(os.getpid())})
        trial._cached_frozen_trial.user_attrs.update(user)
        if isinstance(storage, BaseHeartbeat):
            storage.record_heartbeat(trial._trial_id)
    abandoned.clear()
    return trial


def fail_stale(study: optuna.Study, storage: optuna.storages.BaseStorage,
               abandoned: Collection[int] = ()) -> list[FrozenTrial]:
    """Fail running trials whose worker died: no heartbeat within the grace period (Optuna's check), or,
    at once, a worker process on this host that no longer exists, or a trial no worker marked as its own
    (its claimer was killed between creating and marking it: under the claim lock, no live one is), or one
    of `abandoned` (its claim was cut off). Their failure spends no budget.

    Returns the study's trials as they are after (read once more only when one was failed here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    dead = [t for t in trials if t.state == TrialState.RUNNING
            and (WORKER_KEY not in t.system_attrs or t._trial_id in abandoned
                 or worker_is_dead(t.system_attrs[WORKER_KEY], t.system_attrs.get(STARTED_KEY)))]
    for trial in dead:
        try:
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it ended meanwhile
        retry = storage.get_heartbeat_stale_trial_callback() if isinstance(storage, BaseHeartbeat) else None
        if retry is not None:
            retry(study, storage.get_trial(trial._trial_id))
    return study.get_trials(deepcopy=False) if dead else trials


def worker_is_dead(worker: str, started: str | None = None) -> bool:
    """True for a "host:pid" of this host whose process is gone, or whose pid now belongs to a process
    that started at another time (another host's: only its heartbeat tells)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if not process_exists(int(pid)):
        return True
    now = process_started(int(pid))
    return started is not None and now is not None and now != started


def process_exists(pid: int) -> bool:
    """Whether `pid` is a live process on this host (another user's too: signalling it is then refused); a
    zombie, dead but not yet reaped by its parent (a `processes` worker killed while its siblings run), is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = process_stat(pid)
    return fields is None or fields[0] != "Z"  # field 3, the state


def process_started(pid: int) -> str | None:
    """When a process started, in clock ticks since boot (Linux's /proc; None elsewhere)."""
    fields = process_stat(pid)
    return fields[19] if fields else None  # field 22


def process_stat(pid: int) -> list[str] | None:
    """The fields of Linux's /proc/PID/stat from the third on, after the command name (None elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


@contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, trial: optuna.Trial) -> Iterator[None]:
    """Record the trial's heartbeat every interval while the body runs, as `Study.optimize` does."""
    if not (isinstance(storage, BaseHeartbeat) and storage.get_heartbeat_interval()):
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(storage.get_heartbeat_interval()):
            try:
                storage.record_heartbeat(trial._trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                return
            except Exception as error:
                if connection_lost(error):  # past the storage's patience: the trial's next write stops the run
                    return
                raise

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
