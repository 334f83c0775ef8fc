"""A throwaway PostgreSQL server: a temporary data directory, a loopback port, started with the
Debian `postgresql` package's own initdb and pg_ctl, as an unprivileged user when run as root
(PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from importlib.util import find_spec
from contextlib import contextmanager

import sqlalchemy

SERVER_USER = "nobody"


def binary(name: str) -> str | None:
    """A PostgreSQL program, on the PATH or where Debian puts it."""
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def available() -> bool:
    """The server programs and the driver SQLAlchemy's postgresql:// uses (psycopg 3) are installed."""
    return binary("initdb") is not None and binary("pg_ctl") is not None and find_spec("psycopg") is not None


def as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_data_folders: dict[str, str] = {}  # a running server's URL -> its data directory


@contextmanager
def temporary_server() -> Iterator[str]:
    """Start a server; yields the URL of its `postgres` database (no password, loopback only)."""
    initdb = binary("initdb")
    if initdb is None or binary("pg_ctl") is None:
        raise FileNotFoundError("PostgreSQL server programs not found (Debian: apt-get install postgresql)")
    home = tempfile.mkdtemp(prefix="harness-pg-")
    if os.geteuid() == 0:
        os.chown(home, pwd.getpwnam(SERVER_USER).pw_uid, -1)
    data, port = os.path.join(home, "data"), free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}"
    try:
        subprocess.run(as_server_user([initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"]),
                       check=True, capture_output=True)
        _data_folders[url] = data
        start(url)
        yield url
    finally:
        stop(url, "immediate")
        _data_folders.pop(url, None)
        shutil.rmtree(home, ignore_errors=True)


def start(server: str) -> None:
    """Start the stopped `temporary_server` at `server`'s URL, on its port; returns once it takes connections."""
    data, port = _data_folders[server], sqlalchemy.engine.make_url(server).port
    home = os.path.dirname(data)
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(as_server_user([binary("pg_ctl"), "-D", data, "-o", options, "-l", os.path.join(home, "log"), "-w",
                                   "start"]), check=True, capture_output=True)


def stop(server: str, mode: str = "fast") -> None:
    """Stop the `temporary_server` at `server`'s URL ("fast": every session ended, its transaction aborted)."""
    if server in _data_folders:
        subprocess.run(as_server_user([binary("pg_ctl"), "-D", _data_folders[server], "-m", mode, "stop"]),
                       capture_output=True, check=False)


@contextmanager
def stopped(server: str) -> Iterator[None]:
    """The `temporary_server` at `server`'s URL stopped while the body runs, as a restart stops a production
    server: every session ended and its transaction aborted. Started again on the same port after."""
    stop(server)
    try:
        yield
    finally:
        start(server)


def create_database(server: str, name: str) -> str:
    """A new empty database on `server`; its URL."""
    engine = sqlalchemy.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return f"{server}/{name}"
