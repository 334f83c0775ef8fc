"""SQLite as a run's storage: a damaged file refused before anything writes to it, and commits that
do not wait for the disk.

In its default mode SQLite syncs the disk on every commit (its rollback journal, then the database:
about 1 ms a commit on the CPU machine of benchmarks/RESULTS.md, against 0.01 ms without), and a trial
commits some twenty transactions (Optuna writes each parameter and report in its own). So a new
database is created in write-ahead-log mode, with `synchronous=NORMAL`: a commit appends to
`studies.db-wal` and the disk is synced at checkpoints only. A committed trial survives its process
being killed (the log is in the file system; the next open reads it); a power cut or an
operating-system crash may lose the last transactions but cannot corrupt the database, and the
trials they held run again on resume. The log is folded into `studies.db` when the last connection
closes; while a run is open, or after it was killed, copy the run directory, not the database file
alone. A database created before in the rollback-journal mode keeps its mode and its full syncing.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import sqlalchemy

from harness.errors import HarnessError


def check_file(path: Path) -> None:
    """Refuse a SQLite file that is not a sound database, read-only, before anything writes to it."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as error:
        verdict = str(error)
    if verdict != "ok":
        raise HarnessError(f"{path} is a corrupted SQLite file ({verdict}); restore it from a backup, or move it "
                           "away to start the run afresh")


def create_in_wal_mode(path: Path) -> None:
    """Make a database that does not exist yet in write-ahead-log mode (SQLite keeps the mode in the file);
    an existing one, or one whose folder is missing (the storage's own error says so), is left alone."""
    if path.parent.is_dir() and not (path.is_file() and path.stat().st_size):
        with closing(sqlite3.connect(path)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")


def relax_syncing(engine: sqlalchemy.engine.Engine) -> None:
    """Sync a write-ahead-log database at checkpoints only, on every connection `engine` opens from now on."""
    sqlalchemy.event.listen(engine, "connect", sync_at_checkpoints)
    engine.dispose()  # the connections it opened before reopen with the listener


def sync_at_checkpoints(connection: sqlite3.Connection, _record: Any) -> None:
    if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        connection.execute("PRAGMA synchronous=NORMAL")
