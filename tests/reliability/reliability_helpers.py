"""Helpers for the reliability suite: plain HTTP to the local Airbyte, real tables, real runs."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions

__all__ = [
    "TERMINAL",
    "build_assets",
    "clone_sample_connection",
    "config_api",
    "control",
    "duckdb_count",
    "free_port",
    "jobs_of",
    "materialized_metadata",
    "sample_duckdb_path",
    "tiny_http_server",
    "wait_until",
]

TERMINAL = ("succeeded", "failed", "cancelled")


def config_api(server: Any, path: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """``POST /api/v1/<path>``; raises on an error status (these calls are the test's own)."""
    response = httpx.post(f"{server.config_api_url}/{path}", json=body, timeout=60, **kw)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def control(server: Any, method: str, path: str, body: Any = None) -> httpx.Response:
    """A test control under ``/_local/`` (no faults apply to these)."""
    response = httpx.request(method, f"{server.url}/_local/{path}", json=body, timeout=30)
    response.raise_for_status()
    return response


def jobs_of(server: Any, connection_id: str, **kw: Any) -> list[dict[str, Any]]:
    """Every job of a connection, any type (``jobs/list``), newest first."""
    body = {
        "configTypes": ["sync", "reset_connection", "refresh", "clear"],
        "configId": connection_id,
    }
    jobs: list[dict[str, Any]] = [
        j["job"] for j in config_api(server, "jobs/list", body, **kw)["jobs"]
    ]
    return jobs


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def clone_sample_connection(server: Any, name: str, prefix: str) -> str:
    """A new Sample Data -> DuckDB connection (same source and destination), via the API."""
    sample = config_api(server, "connections/get", {"connectionId": server.sample_connection_id})
    body = {
        key: sample[key]
        for key in ("sourceId", "destinationId", "namespaceDefinition", "status", "syncCatalog")
    }
    body.update(name=name, prefix=prefix, scheduleType="manual")
    return str(config_api(server, "connections/create", body)["connectionId"])


def sample_duckdb_path(server: Any) -> str:
    connection = config_api(
        server, "connections/get", {"connectionId": server.sample_connection_id}
    )
    destination = config_api(
        server, "destinations/get", {"destinationId": connection["destinationId"]}
    )
    return str(destination["connectionConfiguration"]["destination_path"])


def duckdb_count(path: str, schema: str, table: str) -> int:
    with duckdb.connect(path, read_only=True) as con:
        row = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
    assert row is not None
    return int(row[0])


def build_assets(
    server: Any, tmp_path: Path, **kwargs: Any
) -> tuple[AirbyteWorkspace, list[dg.AssetsDefinition]]:
    selector = kwargs.pop("connection_selector", None)
    workspace = AirbyteWorkspace(url=kwargs.pop("url", server.url), **kwargs)
    assets = build_airbyte_assets_definitions(
        workspace=workspace,
        state_path=tmp_path / f"airbyte-state-{time.monotonic_ns()}.json",
        connection_selector=selector,
    )
    return workspace, assets


def materialized_metadata(
    result: dg.ExecuteInProcessResult,
) -> dict[dg.AssetKey, dict[str, Any]]:
    out: dict[dg.AssetKey, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        out[mat.asset_key] = {k: v.value for k, v in mat.metadata.items()}
    return out


def free_port() -> int:
    """A port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Handler = Callable[[str, str, bytes], tuple[int, str, bytes]]


@contextlib.contextmanager
def tiny_http_server(handle: Handler) -> Iterator[str]:
    """A stdlib HTTP server on loopback answering with ``handle(method, path, body)``.

    For what the local Airbyte never sends (HTML pages, broken JSON, nulls everywhere).
    """

    class _Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, content_type, payload = handle(
                self.command, self.path, self.rfile.read(length) if length else b""
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
