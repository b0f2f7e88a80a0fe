"""Fixtures of the fault suite: one local Airbyte per auth mode for each module, and the
per-fault-kind report after the session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fault_report import LAST_RUN, LEDGER, WRITE_ENV, should_write
from server_side import ServerSide


class AirbyteServers:
    """Local Airbytes (Sample Data -> DuckDB, test controls on), one per auth mode, started
    on first use and stopped at the end of the module."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._servers: dict[str, Any] = {}
        self._sides: dict[str, ServerSide] = {}

    def get(self, auth: str) -> Any:
        from local_airbyte import LocalAirbyte

        with self._lock:
            if auth not in self._servers:
                server = LocalAirbyte(
                    self._factory.mktemp(f"airbyte-{auth}"),
                    port=0,
                    auth=auth,
                    seed="sample",
                    test_controls=True,
                )
                self._servers[auth] = server.start()
                self._sides[auth] = ServerSide(server)
            return self._servers[auth]

    def side(self, auth: str) -> ServerSide:
        self.get(auth)
        return self._sides[auth]

    def stop(self) -> None:
        for side in self._sides.values():
            side.close()
        for server in self._servers.values():
            server.stop()


@pytest.fixture(scope="module")
def airbyte_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirbyteServers]:
    servers = AirbyteServers(tmp_path_factory)
    yield servers
    servers.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not LEDGER.outcomes:
        return
    terminalreporter.section("fault injection: outcomes per fault kind, and per phase")
    terminalreporter.write_line(LEDGER.table("kind"))
    terminalreporter.write_line("")
    terminalreporter.write_line(LEDGER.table("phase"))
    if should_write():
        LEDGER.write()
        terminalreporter.write_line(f"written to {LAST_RUN}")
    else:
        terminalreporter.write_line(f"(set {WRITE_ENV}=1 to write {LAST_RUN.name})")
