"""Fixtures for the PostgreSQL tests: a real server started once per session (see harness.testing.postgres)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import count

import pytest

from harness.testing import postgres

_databases = count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    if not postgres.available():
        pytest.skip("PostgreSQL server programs or psycopg not found (apt-get install postgresql, as .ci/run does; "
                    "pip install -e '.[test]')")
    with postgres.temporary_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database on the session's server, so tests never see each other's studies."""
    return postgres.create_database(postgres_server, f"test_{os.getpid()}_{next(_databases)}")
