"""Fixtures shared by every test module.

PostgreSQL tests use the server on this machine (127.0.0.1:5432, trust auth). Where it is
missing they skip, except under ``CI=true``, where a missing database is a failure: CI must
never go green by skipping the tests that matter.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")


@dataclass(frozen=True)
class PostgresDatabase:
    """A throw-away database on the test PostgreSQL server."""

    host: str
    port: int
    user: str
    database: str

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.database}"

    def connect(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.dsn, autocommit=True)


def _admin_connection():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


@contextlib.contextmanager
def _throwaway_database() -> Iterator[PostgresDatabase]:
    try:
        admin = _admin_connection()
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_HOST}:{PG_PORT} is required under CI=true: {exc}")
        pytest.skip(f"PostgreSQL not available at {PG_HOST}:{PG_PORT}: {exc}")
    name = f"dab_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PostgresDatabase(PG_HOST, PG_PORT, PG_USER, name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database() -> Iterator[PostgresDatabase]:
    """A fresh, empty database; dropped afterwards."""
    with _throwaway_database() as database:
        yield database


@pytest.fixture
def warehouse_database() -> Iterator[PostgresDatabase]:
    """A second fresh database, for tests that need a source and a destination."""
    with _throwaway_database() as database:
        yield database


# -- local Airbyte ------------------------------------------------------------------------------


@pytest.fixture
def local_airbyte_factory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Start LocalAirbyte servers on free ports (``state_dir`` defaults to a fresh tmp dir).

    Every server started through the factory is stopped at teardown.
    """
    from local_airbyte import LocalAirbyte

    servers: list[LocalAirbyte] = []

    def start(**kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("state_dir", tmp_path_factory.mktemp("local-airbyte"))
        kwargs.setdefault("port", 0)
        server = LocalAirbyte(**kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def local_airbyte(local_airbyte_factory):  # type: ignore[no-untyped-def]
    """A seeded local Airbyte (Sample Data → DuckDB), test controls on, no auth."""
    return local_airbyte_factory(seed="sample", test_controls=True, auth="none")
