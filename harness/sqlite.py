"""SQLite as a run's storage: a damaged file refused before anything writes to it, and a new file made in
write-ahead-log mode.

In its default (rollback-journal) mode SQLite syncs the disk twice a commit, for the journal and for
the database, and a trial commits some twenty transactions (Optuna writes each parameter and report in
its own). In write-ahead-log mode a commit is one append to `studies.db-wal` and one sync, still
durable: a committed trial survives a killed process and a power cut alike. Readers (reports, a
status query) no longer block the writer either. The log is folded into `studies.db` when the last
connection closes; while a run is open, or after it was killed, copy the run directory, not the
database file alone. A database created before in the rollback-journal mode keeps its mode.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from harness.errors import HarnessError


def check_file(path: Path) -> None:
    """Refuse a SQLite file that is not a sound database, read-only, before anything writes to it."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.OperationalError as error:  # not opened, so not known to be damaged
        raise HarnessError(f"cannot open {path} ({error}); SQLite writes beside a database in write-ahead-log mode "
                           f"even to read it, so check that {path.parent} is writable") from None
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

