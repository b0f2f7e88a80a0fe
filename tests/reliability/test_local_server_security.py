"""The local Airbyte itself: loopback by default, credentials on every route, fuzzed by schema.

The fuzzing uses schemathesis over Airbyte's own Public API OpenAPI file
(tests/airbyte_api_specs/public-api.yaml), restricted to the operations the local server
implements, a few examples each: no 5xx, and every response matches the documented schema.
"""

from __future__ import annotations

import base64
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from local_airbyte.config_api import ENDPOINTS as HANDLERS
from reliability_helpers import control

SPECS = Path(__file__).resolve().parents[1] / "airbyte_api_specs"
OPEN = {
    "/api/v1/health",
    "/api/v1/applications/token",
    "/api/public/v1/health",
    "/api/public/v1/applications/token",
}


def test_bound_to_loopback_by_default(local_airbyte_factory: Any) -> None:
    server = local_airbyte_factory()
    assert server.host == "127.0.0.1"
    (sock,) = server._server.servers[0].sockets  # the listening socket uvicorn serves on
    assert sock.getsockname()[0] == "127.0.0.1"
    assert sock.family == socket.AF_INET
    assert httpx.get(f"{server.url}/api/v1/health").status_code == 200


def _routes(server: Any) -> list[tuple[str, str]]:
    app = server._server.config.app.app  # LocalAirbyteApp -> FastAPI
    out = []
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        # Newer FastAPI keeps included routers as one entry each; walk into them.
        original = getattr(route, "original_router", None)
        if original is not None:
            prefix = getattr(original, "prefix", "")
            for inner in original.routes:
                if prefix and not inner.path.startswith(prefix):
                    inner = _Prefixed(prefix, inner)
                pending.append(inner)
            continue
        for method in sorted(getattr(route, "methods", ()) or ()):
            if method == "HEAD":
                continue
            if route.path == "/api/v1/{action:path}":
                # The Config API is one dispatching route: expand it to every action it serves.
                out += [("POST", f"/api/v1/{action}") for action in HANDLERS]
            else:
                out.append((method, route.path))
    return sorted(set(out))


class _Prefixed:
    def __init__(self, prefix: str, route: Any) -> None:
        self.path = prefix + route.path
        self.methods = getattr(route, "methods", ())


@pytest.mark.parametrize("mode", ["basic", "client-credentials"])
def test_every_route_refuses_missing_or_wrong_credentials(
    local_airbyte_factory: Any, mode: str
) -> None:
    server = local_airbyte_factory(auth=mode, seed="sample")
    routes = _routes(server)
    assert len(routes) > 50
    wrong = {
        "basic": "Basic " + base64.b64encode(b"airbyte:wrong").decode(),
        "client-credentials": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
    }[mode]
    checked = 0
    for method, path in routes:
        url = server.url + path.replace("{", "").replace("}", "")
        url = url.replace("jobId", "1").replace("Id", str(uuid.uuid4()))
        for headers in ({}, {"Authorization": wrong}):
            response = httpx.request(method, url, headers=headers, json={})
            if path in OPEN:
                assert response.status_code != 401, (method, path)
                continue
            assert response.status_code == 401, (method, path, headers, response.text)
            checked += 1
    assert checked >= 2 * (len(routes) - len(OPEN))


@pytest.mark.timeout(120)
def test_schema_fuzzing_finds_no_server_error_and_no_schema_break(
    local_airbyte_factory: Any,
) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    server = local_airbyte_factory(seed="sample", test_controls=True)
    # A finished job and a running one, so job routes have something to find.
    control(
        server, "POST", f"connections/{server.sample_connection_id}/sync_duration", {"seconds": 600}
    )
    schema = schemathesis.openapi.from_path(str(SPECS / "public-api.yaml"))
    implemented = {
        "GET /health",
        "GET /workspaces",
        "GET /workspaces/{workspaceId}",
        "GET /sources",
        "GET /sources/{sourceId}",
        "GET /destinations",
        "GET /destinations/{destinationId}",
        "GET /connections",
        "GET /connections/{connectionId}",
        "PATCH /connections/{connectionId}",
        "GET /streams",
        "GET /jobs",
        "POST /jobs",
        "GET /jobs/{jobId}",
        "DELETE /jobs/{jobId}",
    }
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if hasattr(result, "ok") and result.ok().label in implemented
    ]
    assert {op.label for op in operations} == implemented
    problems: list[str] = []
    calls: list[int] = []
    for operation in operations:

        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            response = case.call(base_url=server.public_api_url, timeout=10)
            calls.append(response.status_code)
            try:
                case.validate_response(
                    response, checks=[not_a_server_error, response_schema_conformance]
                )
            except Exception as exc:  # collect every operation's failures, then report
                problems.append(f"{case.operation.label}: {str(exc)[:600]}")

        fuzz()
    assert problems == []
    assert len(calls) >= 5 * len(operations)
    assert any(code < 300 for code in calls) and any(code >= 400 for code in calls)
