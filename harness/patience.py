"""A worker rides through a restart of its database server instead of ending the run.

A PostgreSQL or MySQL server restarts in seconds to a minute (an upgrade, a managed database's fail-over),
and every worker on every machine would otherwise stop at its next storage call, each cutting its trial
short. Here a storage call that finds the connection lost is tried again, with pauses doubling up to 5 s,
for `patience` seconds: one heartbeat interval, so that a trial whose heartbeats the outage held back is
still inside its grace of two intervals when the first worker back checks it. Past that the error stands,
and the run stops with one message as for any storage failure; a process that gave up once does not wait
again while it stops.

A server that takes a connection but never answers (hung, or behind a dead proxy) would hold a connection
attempt forever, so each attempt is given `CONNECT_SECONDS`, unless the URL sets `connect_timeout` itself.

A commit can reach the server just as the connection drops, landing unconfirmed: trying a trial's end again
then finds it ended, which is taken as done where it ended as asked (`set_trial_state_values`).

Calls made inside one `patiently` are retried as one: a claim (harness.claims) holds a lock the lost
connection released, so it starts again under a new lock rather than go on from its middle.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import optuna
import sqlalchemy
from optuna.trial import TrialState

from harness.errors import cause_line, connection_lost

log = logging.getLogger(__name__)
T = TypeVar("T")
LONGEST_PAUSE = 5.0
CONNECT_SECONDS = 10
TIMED_DRIVERS = ("psycopg", "psycopg2", "pymysql", "mysqldb")  # each takes `connect_timeout` in seconds
_inside = threading.local()  # whether this thread is already in a call that will be tried again whole
_notices = threading.Lock()  # one notice of an outage for the whole process, whichever thread sees it first


class PatientStorage(optuna.storages.RDBStorage):
    """Optuna's storage on a database server, every public call tried again while the connection is lost."""

    def __init__(self, url: str, patience: float, **kwargs: Any) -> None:
        self.patience, self.gave_up = patience, False  # before Optuna's set-up, whose calls come through here
        self.lost_since: float | None = None  # while the connection is lost: when this process found it so
        # a pooled connection a restart cut fails once, is dropped, and is tried anew
        super().__init__(url, engine_kwargs=bounded_connect(url), **kwargs)

    def patiently(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call(*args, **kwargs)`, again while the connection is lost, for `patience` seconds at most."""
        if getattr(_inside, "call", False) or self.gave_up:
            return call(*args, **kwargs)
        _inside.call = True
        deadline, pause = None, 0.25  # counted from the first loss: a claim may have waited long for its lock
        try:
            while True:
                try:
                    result = call(*args, **kwargs)
                except Exception as error:
                    if not connection_lost(error):
                        raise
                    if deadline is None:
                        deadline = time.monotonic() + self.patience
                    left = deadline - time.monotonic()
                    if left <= 0 or self.gave_up:  # or another thread of the process did
                        self.gave_up = True
                        raise
                    self.notice_lost(error)
                    time.sleep(min(pause, left))
                    pause = min(2 * pause, LONGEST_PAUSE)
                else:
                    self.notice_back()
                    return result
        finally:
            _inside.call = False

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        """Optuna's, tried again as every call is. A try after one whose connection was lost that finds the trial
        finished already, in the very state and values asked, takes it as done: the lost one's commit had landed."""
        tries = 0

        def attempt() -> bool:
            nonlocal tries
            tries += 1
            try:
                return optuna.storages.RDBStorage.set_trial_state_values(self, trial_id, state, values)
            except optuna.exceptions.UpdateFinishedTrialError:
                if tries > 1 and self.finished_as(trial_id, state, values):
                    return True
                raise

        return self.patiently(attempt)

    def finished_as(self, trial_id: int, state: TrialState, values: Sequence[float] | None) -> bool:
        """Whether the trial is stored finished in `state`, with `values` where given."""
        trial = self.get_trial(trial_id)
        return trial.state == state and (values is None or trial.values == list(values))

    def notice_lost(self, error: Exception) -> None:
        """Say that the connection is lost, once an outage, whichever of the process's threads finds it first."""
        with _notices:
            if self.lost_since is None:
                self.lost_since = time.monotonic()
                log.warning("lost the connection to the storage (%s); trying again for up to %.0f s",
                            cause_line(error), self.patience)

    def notice_back(self) -> None:
        """Say that the connection is back, once an outage."""
        if self.lost_since is None:
            return
        with _notices:
            if self.lost_since is not None:
                log.warning("the storage is back after %.0f s", time.monotonic() - self.lost_since)
                self.lost_since = None


def bounded_connect(url: str) -> dict[str, Any]:
    """SQLAlchemy engine arguments giving each connection attempt `CONNECT_SECONDS`, where the driver takes them."""
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_driver_name() not in TIMED_DRIVERS or "connect_timeout" in parsed.query:
        return {}
    return {"connect_args": {"connect_timeout": CONNECT_SECONDS}}


def _tried_again(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def call(self: PatientStorage, *args: Any, **kwargs: Any) -> T:
        return self.patiently(method, self, *args, **kwargs)

    return call


for _name, _method in vars(optuna.storages.RDBStorage).items():
    if callable(_method) and not _name.startswith("_") and _name not in vars(PatientStorage):  # unless done above
        setattr(PatientStorage, _name, _tried_again(_method))


def patiently(storage: optuna.storages.BaseStorage, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`call` retried as one while `storage`'s connection is lost (see above); at once on other storages."""
    backend = backend_of(storage)
    return backend.patiently(call, *args, **kwargs) if isinstance(backend, PatientStorage) else call(*args, **kwargs)


def backend_of(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """The storage itself behind the cache Optuna puts in front of a study's database storage."""
    return storage._backend if isinstance(storage, optuna.storages._CachedStorage) else storage
