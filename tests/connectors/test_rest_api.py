from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest
from connector_helpers import configured, max_cursor, read_all, sync
from local_airbyte.connectors import default_registry
from local_airbyte.connectors.base import ConnectorError
from local_airbyte.connectors.duckdb import DuckDBDestination
from local_airbyte.connectors.rest_api import RestApiSource

API_KEY = "key-abc-123"
CUSTOMERS = [
    {
        "id": i,
        "name": f"c{i}",
        "score": 1.5 if i % 2 else 2,
        "vip": i == 1,
        "address": {"city": "Paris"} if i < 3 else None,
        "updated_at": f"2024-01-0{i}T00:00:00Z",
    }
    for i in range(1, 6)
]


class _Api(BaseHTTPRequestHandler):
    seen_headers: list[dict[str, str]] = []

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        type(self).seen_headers.append(dict(self.headers))
        bearer = self.headers.get("Authorization") == f"Bearer {API_KEY}"
        if not bearer and self.headers.get("X-API-Key") != API_KEY:
            self._send(401, {"error": "unauthorized"})
            return
        page = int(query.get("page", ["1"])[0])
        if url.path == "/customers":  # body pagination: {"data": {"items": [...]}, "next": ...}
            chunk = CUSTOMERS[(page - 1) * 2 : page * 2]
            nxt = f"/customers?page={page + 1}" if page * 2 < len(CUSTOMERS) else None
            self._send(200, {"data": {"items": chunk}, "next": nxt})
        elif url.path == "/plain":  # a bare list, Link-header pagination
            headers = {"Link": '</plain?page=2>; rel="next"'} if page == 1 else {}
            self._send(200, [{"n": page}], headers)
        else:
            self._send(404, {"error": "not found"})


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _config(api: str, **extra: Any) -> dict[str, Any]:
    return {
        "url": f"{api}/customers",
        "api_key": API_KEY,
        "method": "GET",
        "records_path": "data.items",
        "primary_key": "id",
        "cursor_field": "updated_at",
        **extra,
    }


def test_registry_has_every_connector() -> None:
    registry = default_registry()
    assert {s.name for s in registry.sources.values()} == {"Sample Data", "Postgres", "REST API"}
    assert {d.destination_type for d in registry.destinations.values()} == {
        "duckdb",
        "postgres",
        "s3",
    }
    for connector in [*registry.sources.values(), *registry.destinations.values()]:
        props = connector.spec()["properties"]
        for secret in connector.secret_fields:
            if secret in props:
                assert props[secret]["airbyte_secret"] is True


def test_discover_infers_schema(api: str) -> None:
    (stream,) = RestApiSource().discover(_config(api))
    assert stream.name == "customers"
    assert stream.source_defined_primary_key == (("id",),)
    assert stream.default_cursor_field == ("updated_at",)
    props = stream.json_schema["properties"]
    assert props["id"] == {"type": ["null", "integer"]}
    assert props["score"] == {"type": ["null", "number"]}
    assert props["vip"] == {"type": ["null", "boolean"]}
    assert props["address"] == {"type": ["null", "object"]}
    assert props["updated_at"] == {"type": ["null", "string"], "format": "date-time"}


def test_read_follows_next_links_and_filters_incrementally(api: str) -> None:
    config = _config(api, stream_name="people")
    (found,) = RestApiSource().discover(config)
    assert found.name == "people"
    rows = read_all(RestApiSource(), config, configured(found, sync_mode="incremental"))
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    newer = read_all(
        RestApiSource(), config, configured(found, sync_mode="incremental"), "2024-01-03T00:00:00Z"
    )
    assert [r["id"] for r in newer] == [4, 5]


def test_plain_list_link_header_and_custom_key_header(api: str) -> None:
    config = {"url": f"{api}/plain", "api_key": API_KEY, "api_key_header": "X-API-Key"}
    (found,) = RestApiSource().discover(config)
    _Api.seen_headers.clear()
    assert read_all(RestApiSource(), config, configured(found)) == [{"n": 1}, {"n": 2}]
    assert all("Authorization" not in h for h in _Api.seen_headers)


def test_check_failures_are_clear_and_hide_the_key(api: str) -> None:
    RestApiSource().check(_config(api))
    with pytest.raises(ConnectorError, match="401 Unauthorized: check api_key") as err:
        RestApiSource().check(_config(api, api_key="wrong-secret-key"))
    assert "wrong-secret-key" not in str(err.value)
    with pytest.raises(ConnectorError, match="404"):
        RestApiSource().check(_config(api, url=f"{api}/missing"))
    with pytest.raises(ConnectorError, match=r"records_path 'data\.rows' not found"):
        RestApiSource().discover(_config(api, records_path="data.rows"))
    with pytest.raises(ConnectorError, match="must be an http"):
        RestApiSource().check({"url": "ftp://x"})
    with pytest.raises(ConnectorError, match="ConnectError"):
        RestApiSource().check({"url": "http://127.0.0.1:1/x", "api_key": "k"})


def test_rest_api_into_duckdb(api: str, tmp_path: Path) -> None:
    config = _config(api)
    (found,) = RestApiSource().discover(config)
    stream = configured(found, "append_dedup", sync_mode="incremental")
    destination = {"destination_path": str(tmp_path / "api.duckdb")}
    rows = sync(RestApiSource(), config, DuckDBDestination(), destination, stream)
    again = sync(
        RestApiSource(),
        config,
        DuckDBDestination(),
        destination,
        stream,
        max_cursor(rows, "updated_at"),
    )
    assert again == []
    with duckdb.connect(destination["destination_path"], read_only=True) as con:
        result = con.execute(
            "SELECT id, address->>'city' FROM main.customers ORDER BY id"
        ).fetchall()
    assert result == [(1, "Paris"), (2, "Paris"), (3, None), (4, None), (5, None)]
