"""The harness's own parts, without running a benchmark: the floor's round trip, the stub's
replay, the request log's attribution and its counting helpers. Nothing here is timed."""

from __future__ import annotations

import asyncio
from typing import Any

import dagster as dg
import httpx
import pytest

from bench.floor import build, describe, fingerprint
from bench.requestlog import (
    RequestLog,
    per_minute_max,
    request_key,
    side_of_agent,
    union_seconds,
)
from bench.stub import StubServer


def _specs(prefix: str) -> list[dg.AssetSpec]:
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("id", "integer", constraints=dg.TableColumnConstraints(nullable=False)),
            dg.TableColumn("name", "string", description="who", tags={"pii": "yes"}),
        ]
    )
    return [
        dg.AssetSpec(
            key=["raw", f"{prefix}_{i}"],
            deps=[dg.AssetKey(["upstream", prefix])],
            description=f"stream {i}",
            group_name=prefix,
            kinds={"airbyte", "duckdb"},
            tags={"team": "data"},
            owners=["team:data"],
            metadata={
                "text": "plain",
                "count": 3,
                "flag": True,
                "url": dg.MetadataValue.url("http://127.0.0.1:9999/connections/x"),
                "typed_text": dg.MetadataValue.text("typed"),
                "json": dg.MetadataValue.json({"a": [1, 2]}),
                "dagster/column_schema": schema,
                "wrapped_schema": dg.MetadataValue.table_schema(schema),
            },
        )
        for i in range(3)
    ]


def _assets() -> list[dg.AssetsDefinition]:
    built = []
    for prefix in ("one", "two"):

        @dg.multi_asset(
            name=f"sync_{prefix}",
            specs=_specs(prefix),
            can_subset=True,
            required_resource_keys={"airbyte"},
            op_tags={"kind": "sync"},
        )
        def _sync(context):  # type: ignore[no-untyped-def]  # Dagster reads hints: none
            raise NotImplementedError

        built.append(_sync)
    return built


def test_the_floor_rebuilds_exactly_the_specs_it_was_given() -> None:
    ours = _assets()
    result = build(describe(ours))
    assert result.fallbacks == []
    assert [a.op.name for a in result.assets] == ["sync_one", "sync_two"]
    assert all(a.can_subset for a in result.assets)
    assert fingerprint(result.assets) == fingerprint(ours)
    rebuilt = next(iter(result.assets[0].specs))
    assert (
        rebuilt.metadata["dagster/column_schema"]
        == ours[0].specs_by_key[rebuilt.key].metadata["dagster/column_schema"]
    )


def test_fingerprint_sees_a_changed_metadata_value_but_not_the_server_port() -> None:
    ours = _assets()
    assert fingerprint(ours, "http://127.0.0.1:9999") == fingerprint(
        build(describe(ours)).assets, "http://127.0.0.1:9999"
    )
    changed = [a.map_asset_specs(lambda s: s.merge_attributes(metadata={"count": 4})) for a in ours]
    assert fingerprint(changed) != fingerprint(ours)


def test_unknown_metadata_goes_through_serdes_and_is_named() -> None:
    spec = dg.AssetSpec("a", metadata={"ts": dg.MetadataValue.notebook("n.ipynb"), "n": None})
    lineage = dg.TableColumnLineage({"id": [dg.TableColumnDep(dg.AssetKey("b"), "id")]})
    spec = spec.merge_attributes(metadata={"dagster/column_lineage": lineage})

    @dg.multi_asset(name="one", specs=[spec])
    def _one():  # type: ignore[no-untyped-def]
        raise NotImplementedError

    result = build(describe([_one]))
    assert result.fallbacks == ["a metadata dagster/column_lineage"]
    assert fingerprint(result.assets) == fingerprint([_one])


@pytest.mark.parametrize(
    ("agent", "side"),
    [
        ("dagster-airbyte-assets/0.1.0", "ours"),
        ("", "ours"),
        ("python-httpx/0.28.1", "ours"),
        ("dagster", "theirs"),
        ("python-requests/2.32.0", "theirs"),
        ("bench-admin", "admin"),
        ("curl/8", "other"),
    ],
)
def test_side_of_agent(agent: str, side: str) -> None:
    assert side_of_agent(agent) == side


def test_request_key_is_canonical() -> None:
    assert request_key("POST", "/api/v1/x/", b"", b'{"b": 1, "a": 2}') == request_key(
        "POST", "/api/v1/x", b"", b'{"a":2,"b":1}'
    )
    assert request_key("GET", "/c", b"limit=2&workspaceIds=w", b"") == request_key(
        "GET", "/c", b"workspaceIds=w&limit=2", b""
    )
    assert request_key("GET", "/c", b"limit=2", b"") != request_key("GET", "/c", b"limit=3", b"")


def test_per_minute_max_and_union() -> None:
    assert per_minute_max([]) == 0
    assert per_minute_max([0, 10, 59.9, 60, 61, 200]) == 4  # 10, 59.9, 60, 61
    assert union_seconds([(0, 1), (0.5, 2), (3, 4)]) == 3
    assert union_seconds([(0, 10), (1, 2)]) == 10


async def _echo(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


def test_request_log_attributes_ids_and_records_answers() -> None:
    log = RequestLog()
    app = log.wrap(_echo)
    log.start_recording()
    connection = "6dc32c06-3bea-48a4-ba9b-1c2a6b5d4deb"

    async def call(path: str, body: bytes, agent: bytes, query: bytes = b"") -> None:
        messages = [{"type": "http.request", "body": body}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            return None

        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": query,
            "headers": [(b"user-agent", agent)],
        }
        await app(scope, receive, send)

    asyncio.run(call("/api/v1/jobs/get", b'{"id": 42}', b"dagster"))
    asyncio.run(call(f"/api/public/v1/connections/{connection}", b"", b"python-httpx/1"))
    asyncio.run(call("/api/public/v1/jobs", b"", b"dagster", b"connectionId=c1"))
    asyncio.run(call("/_local/faults", b"", b"dagster"))
    requests = log.requests()
    assert [r.ids for r in requests] == [("42",), (connection,), ("c1",)]
    assert [r.side for r in requests] == ["theirs", "ours", "theirs"]
    assert log.counts() == {"ours": 1, "theirs": 2, "other": 0}
    answers = log.recorded()
    assert len(answers) == 3
    assert {a.body for a in answers.values()} == {b'{"ok": true}'}


def test_stub_replays_recorded_answers_and_counts_misses() -> None:
    log = RequestLog()
    log.start_recording()
    recorded_base = "http://127.0.0.1:1234"
    body = f'{{"data": [], "next": "{recorded_base}/api/public/v1/connections?offset=2"}}'

    async def page(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})

    app = log.wrap(page)

    async def record() -> None:
        messages = [{"type": "http.request", "body": b""}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            return None

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/api/public/v1/connections",
            "query_string": b"workspaceIds=w&limit=2",
            "headers": [],
        }
        await app(scope, receive, send)

    asyncio.run(record())
    with StubServer(log.recorded(), recorded_base) as stub:
        hit = httpx.get(
            f"{stub.url}/api/public/v1/connections",
            params={"limit": 2, "workspaceIds": "w"},
            headers={"User-Agent": "dagster"},
        )
        miss = httpx.get(f"{stub.url}/api/public/v1/connections", params={"limit": 3})
    assert hit.status_code == 200
    assert hit.headers["content-type"] == "application/json"
    assert hit.json()["next"] == f"{stub.url}/api/public/v1/connections?offset=2"
    assert miss.status_code == 404
    assert stub.misses == ["GET /api/public/v1/connections"]
    assert stub.log.counts()["theirs"] == 1
