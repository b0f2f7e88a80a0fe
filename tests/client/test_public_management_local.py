"""The seeds' management calls through the client in the ``public`` dialect, against the server.

Create source / destination / connection, check, discover, change schedule and status, sync.
Checks, discovery and definition lists have no Public API shape, so the client sends them to
the Config API; everything else must go to ``/api/public/v1``, which the request counters show.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dagster_airbyte_assets.client import AirbyteClient, AirbyteSchedule, RetryPolicy

local_airbyte = pytest.importorskip("local_airbyte")

FAST = RetryPolicy(attempts=3, timeout=10.0, wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)
PUBLIC = "/api/public/v1"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    with local_airbyte.LocalAirbyte(tmp_path / "state", test_controls=True) as la:
        yield la


@pytest.fixture
def client(server: Any) -> Iterator[AirbyteClient]:
    with AirbyteClient.from_url(server.url, api="public", retry=FAST) as c:
        assert c.api == "public"
        yield c


def _routes(server: Any) -> dict[str, int]:
    counts: dict[str, int] = httpx.get(f"{server.url}/_local/requests").json()["by_route"]
    return counts


def test_seed_workflow_in_the_public_dialect(
    client: AirbyteClient, server: Any, tmp_path: Path
) -> None:
    ws = server.workspace_id
    sample = next(d for d in client.list_source_definitions() if d.name == "Sample Data")
    duck = next(d for d in client.list_destination_definitions() if d.name == "DuckDB")

    source = client.create_source(ws, "Faker", sample.definition_id, {"records_per_sync": 5})
    assert source.source_type == "faker" and source.workspace_id == ws
    destination = client.create_destination(
        ws,
        "Warehouse",
        duck.definition_id,
        {"destination_path": str(tmp_path / "warehouse.duckdb"), "schema": "landing"},
    )
    assert destination.destination_type == "duckdb" and destination.schema_name == "landing"
    assert client.get_source(source.source_id) == source
    assert client.get_destination(destination.destination_id) == destination

    check = client.check_source(source.source_id)
    assert check.succeeded, check.message
    assert client.check_destination(destination.destination_id).succeeded
    broken = client.create_destination(
        ws, "Broken", duck.definition_id, {"destination_path": str(tmp_path / "no" / "x.duckdb")}
    )
    failed = client.check_destination(broken.destination_id)
    assert not failed.succeeded and "does not exist" in (failed.message or "")

    streams = client.discover_source_schema(source.source_id)
    assert {s.name for s in streams} == {"customers", "products", "orders"}
    chosen = [
        s if s.name != "products" else s.model_copy(update={"selected": False}) for s in streams
    ]

    connection = client.create_connection(
        source.source_id,
        destination.destination_id,
        name="Faker → Warehouse",
        streams=chosen,
        schedule=AirbyteSchedule(
            schedule_type="cron", cron_expression="0 0 6 * * ?", cron_time_zone="Europe/Paris"
        ),
        prefix="faker_",
        namespace_definition="customformat",
        namespace_format="team_${SOURCE_NAMESPACE}",
    )
    assert connection.name == "Faker → Warehouse" and connection.prefix == "faker_"
    assert connection.namespace_definition == "customformat"
    assert connection.namespace_format == "team_${SOURCE_NAMESPACE}"
    assert connection.schedule.cron_expression == "0 0 6 * * ?"
    assert connection.schedule.cron_time_zone == "Europe/Paris"
    assert {s.name for s in connection.streams} == {"customers", "orders"}
    assert all(s.sync_mode == "incremental" for s in connection.streams)
    listed = client.list_connections(ws)
    assert [c.connection_id for c in listed] == [connection.connection_id]

    cid = connection.connection_id
    updated = client.update_connection(
        cid,
        schedule=AirbyteSchedule(
            schedule_type="cron", cron_expression="0 15 7 ? * MON-FRI", cron_time_zone="UTC"
        ),
    )
    assert updated.schedule.cron_expression == "0 15 7 ? * MON-FRI"
    assert updated.status == "active"
    paused = client.update_connection(cid, status="inactive")
    assert paused.status == "inactive" and paused.schedule == updated.schedule
    manual = client.update_connection(cid, schedule=AirbyteSchedule(), status="active")
    assert manual.schedule.schedule_type == "manual" and manual.status == "active"

    job = client.start_sync(cid)
    for _ in range(300):
        job = client.get_job(job.job_id)
        if job.is_terminal:
            break
        time.sleep(0.05)
    assert job.succeeded and job.rows_synced
    assert {s.stream_name for s in job.stream_stats} == {"customers", "orders"}

    routes = _routes(server)
    for route in (
        f"POST {PUBLIC}/sources",
        f"POST {PUBLIC}/destinations",
        f"POST {PUBLIC}/connections",
        f"PATCH {PUBLIC}/connections/{cid}",
        f"POST {PUBLIC}/jobs",
    ):
        assert routes.get(route), (route, routes)
    # Writes and the start go through the Public API; reads may use the Config API, whose
    # connections/list is complete where the Public API's pages are not (REAL-BEHAVIOUR §3.12).
    # The one exception: a cron in Europe/Paris, which the Public API cannot set (it schedules
    # crons in UTC only), is set through the Config API right after the Public create.
    writes = ("create", "sync", "reset", "delete")
    assert not any(r.startswith(f"POST /api/v1/connections/{w}") for r in routes for w in writes)
    assert routes.get("POST /api/v1/connections/update") == 1


def test_basic_schedule_goes_through_the_config_api(client: AirbyteClient, server: Any) -> None:
    """The Public API's request schedule has no ``basic``: the client uses the Config API."""
    sample = next(d for d in client.list_source_definitions() if d.name == "Sample Data")
    duck = next(d for d in client.list_destination_definitions() if d.name == "DuckDB")
    ws = server.workspace_id
    source = client.create_source(ws, "Faker", sample.definition_id, {})
    destination = client.create_destination(
        ws, "Duck", duck.definition_id, {"destination_path": str(server.state_dir / "d.duckdb")}
    )
    connection = client.create_connection(source.source_id, destination.destination_id)
    assert {s.name for s in connection.streams} == {"customers", "products", "orders"}
    hourly = AirbyteSchedule(schedule_type="basic", basic_units=6, basic_time_unit="hours")
    updated = client.update_connection(connection.connection_id, schedule=hourly)
    assert updated.schedule.schedule_type == "basic" and updated.schedule.basic_units == 6
    public = client.get_connection(connection.connection_id)
    assert public.schedule == updated.schedule
    assert _routes(server).get("POST /api/v1/connections/update") == 1
