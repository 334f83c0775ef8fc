"""A trial's writes: several attributes in one transaction (or one journal append) that land as Optuna's
own would, a claimed trial's position written with its worker's mark, and SQLite storages in write-ahead-log
mode that keep every commit when the process is killed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from harness.attrs import set_user_attrs, write_trial_attrs
from harness.budget import Budget
from harness.claims import claim
from harness.store import open_storage

ATTRS = {"train_seed": 7, "config": {"lr": 0.1, "optimizer": "sgd"}, "curve": [{"epoch": 1, "val_accuracy": 0.5}]}


def url_of(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}" if kind == "sqlite" else f"journal://{tmp_path / 'journal.log'}"


def pragma(database: Path, name: str) -> str | int:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_several_attributes_land_as_set_user_attr_would_leave_them(kind, tmp_path):
    study = optuna.create_study(storage=open_storage(url_of(kind, tmp_path)), study_name="writes")
    trial = study.ask()
    set_user_attrs(trial, ATTRS)
    write_trial_attrs(study._storage, trial._trial_id, system={"worker": "host:1", "worker_started": "42"})
    assert trial.user_attrs == ATTRS  # as `trial.set_user_attr` shows them before the trial ends
    study.tell(trial, 0.5)

    reopened = optuna.load_study(study_name="writes", storage=open_storage(url_of(kind, tmp_path))).trials[0]
    assert reopened.user_attrs == ATTRS
    assert {"worker": "host:1", "worker_started": "42"}.items() <= reopened.system_attrs.items()


def test_several_attributes_are_one_transaction_on_a_database(tmp_path):
    storage = open_storage(url_of("sqlite", tmp_path))
    trial = optuna.create_study(storage=storage).ask()
    commits = []
    sqlalchemy.event.listen(storage.engine, "commit", commits.append)
    set_user_attrs(trial, ATTRS)
    assert len(commits) == 1
    for key, value in ATTRS.items():  # what Optuna alone does: one each
        trial.set_user_attr(key, value)
    assert len(commits) == 1 + len(ATTRS)


def test_several_attributes_are_one_append_to_a_journal(tmp_path):
    log = tmp_path / "journal.log"
    trial = optuna.create_study(storage=open_storage(url_of("journal", tmp_path))).ask()
    appends = []
    backend = trial.storage._backend
    original = backend.append_logs
    backend.append_logs = lambda logs: (appends.append(len(logs)), original(logs))
    set_user_attrs(trial, ATTRS)
    assert appends == [len(ATTRS)]  # one lock and one sync for all three operations
    assert log.read_text().count('"user_attr"') == len(ATTRS)


def test_a_claimed_trial_gets_its_position_with_its_workers_mark_in_one_append_under_the_lock(tmp_path):
    storage = open_storage(url_of("journal", tmp_path))
    study = optuna.create_study(storage=storage, study_name="claims")
    study.enqueue_trial({"lr": 0.1}, user_attrs={"position": 3})
    appends = []
    backend = storage._backend
    original = backend.append_logs
    backend.append_logs = lambda logs: (appends.append(logs), original(logs))
    queued, fresh = (claim(study, storage, Budget(epochs=1, trials=4), lambda trials: {"position": 9})
                     for _ in range(2))

    marks = [logs for logs in appends if any(log.get("system_attr", {}).keys() & {"worker"} for log in logs)]
    assert [[next(iter(log.get("user_attr", log.get("system_attr")))) for log in logs] for logs in marks] == [
        ["worker", "worker_started"], ["position", "worker", "worker_started"]]  # a queued trial keeps its own
    assert (queued.user_attrs, fresh.user_attrs) == ({"position": 3}, {"position": 9})
    reread = optuna.load_study(study_name="claims", storage=open_storage(url_of("journal", tmp_path))).trials
    assert [t.user_attrs["position"] for t in reread] == [3, 9]


def test_a_new_sqlite_storage_logs_ahead_and_still_syncs_every_commit_an_old_one_keeps_its_mode(tmp_path):
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    storage = open_storage(f"sqlite:///{new}")
    assert pragma(new, "journal_mode") == "wal"
    with storage.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: a commit is on the disk

    optuna.storages.RDBStorage(f"sqlite:///{old}")  # made in SQLite's default mode, as earlier runs were
    open_storage(f"sqlite:///{old}")
    assert pragma(old, "journal_mode") == "delete"


def test_a_trial_told_just_before_the_process_is_killed_is_kept(tmp_path):
    database = tmp_path / "studies.db"
    killed = (f"import os, optuna\nfrom harness.store import open_storage\n"
              f"study = optuna.create_study(storage=open_storage('sqlite:///{database}'), study_name='kept')\n"
              f"trial = study.ask()\ntrial.set_user_attr('curve', [0.5])\nstudy.tell(trial, 0.5)\n"
              f"os._exit(0)  # no clean-up: the connection is never closed, as when the process is killed\n")
    subprocess.run([sys.executable, "-c", killed], check=True, cwd=Path(__file__).parents[1])
    assert (tmp_path / "studies.db-wal").exists()  # the commits are in the log, not yet in the database file

    (trial,) = optuna.load_study(study_name="kept", storage=open_storage(f"sqlite:///{database}")).trials
    assert (trial.state, trial.value, trial.user_attrs) == (optuna.trial.TrialState.COMPLETE, 0.5, {"curve": [0.5]})
