"""Optuna's journal file storage for many worker processes on one machine, with the heartbeat it lacks.

SQLite must not be shared between processes (Optuna's FAQ: its locks, and queued trials popped
twice); the journal file is Optuna's answer for one machine: every worker appends operations to
one log under a file lock. Optuna gives RDB storages a heartbeat so a trial whose worker died is
found and failed; here the heartbeat is a trial system attribute, behind the same interface, so
`optuna.storages.fail_stale_trials` works on both.

A worker killed while appending leaves a torn last line; the next append would glue onto it and
make the log unreadable. Workers already running cut such a line off before they append (its
operation never completed); a new session refuses the file and names `harness repair-journal`,
which cuts it off keeping a copy.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
from optuna.storages._heartbeat import BaseHeartbeat  # the interface RDBStorage implements; not re-exported
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage
from optuna.storages.journal._storage import JournalOperation  # the log's operation codes; not re-exported
from optuna.trial import FrozenTrial, TrialState

from harness.errors import HarnessError

PREFIX = "journal://"  # journal:///abs/path/journal.log or journal://relative/path
HEARTBEAT_KEY = "heartbeat"
StaleCallback = Callable[[optuna.Study, FrozenTrial], None]


class HealingFileBackend(JournalFileBackend):
    """Optuna's journal file backend, cutting off a torn last line (a writer killed mid-append) before it appends."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        with locked(Path(self._file_path)):
            cut_torn_tail(Path(self._file_path))
        super().append_logs(logs)


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal storage whose running trials record a heartbeat, as Optuna's RDB storage does."""

    def __init__(self, path: Path, heartbeat_interval: int, stale_callback: StaleCallback | None = None) -> None:
        super().__init__(HealingFileBackend(str(path)))
        self.path = path
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = 2 * heartbeat_interval  # Optuna's default for RDB storages
        self.stale_callback = stale_callback

    def set_trial_attrs(self, trial_id: int, user: Mapping[str, Any], system: Mapping[str, Any]) -> None:
        """Several user and system attributes in one append to the log (one lock, one sync to disk), each
        logged as the operation Optuna's `set_trial_user_attr` (or `set_trial_system_attr`) logs."""
        worker = self._replay_result.worker_id
        logs = [{"op_code": op, "worker_id": worker, "trial_id": trial_id, field: {key: value}}
                for op, field, attrs in ((JournalOperation.SET_TRIAL_USER_ATTR, "user_attr", user),
                                         (JournalOperation.SET_TRIAL_SYSTEM_ATTR, "system_attr", system))
                for key, value in attrs.items()]
        with self._thread_lock:
            self._backend.append_logs(logs)
            self._sync_with_backend()

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_KEY, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running if now - last_sign_of_life(t) > self.grace_period]

    def get_heartbeat_interval(self) -> int:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> StaleCallback | None:
        return self.stale_callback


def last_sign_of_life(trial: FrozenTrial) -> float:
    """The trial's last heartbeat, or its start if it died before the first one."""
    started = trial.datetime_start.replace(tzinfo=trial.datetime_start.tzinfo or timezone.utc).timestamp()
    return trial.system_attrs.get(HEARTBEAT_KEY, started)


def journal_path(url: str) -> Path:
    return Path(url.removeprefix(PREFIX))


def open_journal(path: Path, heartbeat_interval: int, stale_callback: StaleCallback | None = None
                 ) -> HeartbeatJournalStorage:
    """The journal at `path` (created if missing, its folder must exist); a torn or corrupted log is refused."""
    if not path.parent.is_dir():
        raise HarnessError(f"cannot open storage {PREFIX}{path}: folder {path.parent} does not exist")
    with locked(path):
        torn = ends_torn(path)
    if torn:
        raise HarnessError(f"journal {path} ends in a torn line (a worker was killed, or the disk filled, while writing it); "
                           f"run `harness repair-journal {path}` to cut it off (a backup is kept)")
    try:
        return HeartbeatJournalStorage(path, heartbeat_interval, stale_callback)
    except (ValueError, KeyError) as error:  # what replaying an unreadable log raises
        raise HarnessError(f"journal {path} is corrupted ({type(error).__name__}: {error}); "
                           "restore it from a backup or move it away to start afresh") from None


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock Optuna's writers of the journal at `path` take."""
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def ends_torn(path: Path) -> bool:
    """True when the log's last line lacks its newline (call under the lock, so a line a live worker is
    still writing is not mistaken for a torn one)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as log:
        log.seek(-1, 2)
        return log.read(1) != b"\n"


def cut_torn_tail(path: Path) -> None:
    """Truncate the log after its last complete line (call under the lock)."""
    if ends_torn(path):
        with path.open("r+b") as log:
            log.truncate(log.read().rfind(b"\n") + 1)


def repair(path: Path) -> Path | None:
    """Cut a torn last line off the journal, keeping a copy of the file first; the copy's path, or
    None when there was nothing to repair."""
    if not path.is_file():
        raise HarnessError(f"no journal file at {path}")
    with locked(path):
        if not ends_torn(path):
            return None
        backup = path.with_name(f"{path.name}.torn-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
        try:
            shutil.copy2(path, backup)
        except OSError as error:  # a full disk, most likely what tore the line
            backup.unlink(missing_ok=True)
            raise HarnessError(f"cannot keep a copy of {path} before cutting it ({error.strerror}); nothing changed: "
                               "free some space there (or copy the file elsewhere yourself) and repair it again"
                               ) from None
        cut_torn_tail(path)
        return backup
