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


# -- Airbyte version profiles -------------------------------------------------------------------
#
# A test that takes the ``local_airbyte_profile`` fixture (a profile name, see
# ``local_airbyte.PROFILES``) runs once per selected profile; ``profiled_local_airbyte`` is a
# seeded server of that profile. Selection:
#
# - ``--airbyte-profiles=all`` (the default) or a comma list, e.g. ``--airbyte-profiles=1.6,2.0``
#   (or the ``LOCAL_AIRBYTE_PROFILES`` environment variable);
# - ``@pytest.mark.airbyte_profiles("1.8", "2.0")`` keeps only those names, and
#   ``@pytest.mark.airbyte_profiles(public_api=True)`` only profiles whose ``Profile`` fields have
#   those values (``config_api``, ``public_api``, ``job_level_stats``...), both combinable.
#
# Every such test also gets the ``profile_matrix`` marker, so ``-m "not profile_matrix"`` runs
# the suite on the default profile alone.


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--airbyte-profiles",
        default=os.environ.get("LOCAL_AIRBYTE_PROFILES", "all"),
        help="Local Airbyte version profiles for profile-parametrized tests: 'all' or a comma list.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "airbyte_profiles(*names, **fields): run a profile-parametrized test only on these profiles",
    )
    config.addinivalue_line(
        "markers", "profile_matrix: parametrized over local Airbyte version profiles"
    )


def selected_profiles(config: pytest.Config, marker: pytest.Mark | None = None) -> list[str]:
    """The profile names a test runs on: the option's selection, filtered by its marker."""
    from local_airbyte import PROFILES
    from local_airbyte.profiles import get_profile

    option = str(config.getoption("--airbyte-profiles") or "all")
    names = list(PROFILES) if option == "all" else [n.strip() for n in option.split(",") if n]
    for name in names:
        get_profile(name)  # a typo fails loudly instead of silently selecting nothing
    if marker is not None:
        if marker.args:
            names = [n for n in names if n in marker.args]
        for field, wanted in marker.kwargs.items():
            names = [n for n in names if getattr(get_profile(n), field) == wanted]
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "local_airbyte_profile" not in metafunc.fixturenames:
        return
    names = selected_profiles(
        metafunc.config, metafunc.definition.get_closest_marker("airbyte_profiles")
    )
    params = [pytest.param(n, marks=pytest.mark.profile_matrix, id=f"airbyte-{n}") for n in names]
    if not params:
        skip = pytest.mark.skip(reason="no selected profile fits this test")
        params = [pytest.param(None, marks=[pytest.mark.profile_matrix, skip], id="airbyte-none")]
    metafunc.parametrize("local_airbyte_profile", params)


@pytest.fixture
def profiled_local_airbyte(local_airbyte_factory, local_airbyte_profile: str):  # type: ignore[no-untyped-def]
    """A seeded local Airbyte of ``local_airbyte_profile``, test controls on, no auth."""
    return local_airbyte_factory(
        seed="sample", test_controls=True, auth="none", airbyte_version=local_airbyte_profile
    )
