"""Both dialects parse into the same models; URLs resolve to the right dialect."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from client_payloads import (
    CONFIG_CONNECTION,
    CONN,
    PUBLIC_CONNECTION,
    ROOT,
    WS,
    MakeClient,
    config_job,
    public_job,
)
from pydantic import ValidationError

from dagster_airbyte_assets.client import AirbyteConnection, AirbyteJob, RetryPolicy, resolve_urls
from dagster_airbyte_assets.client._config_api import parse_config_connection, parse_config_job
from dagster_airbyte_assets.client._public_api import (
    parse_public_connection,
    parse_public_job,
    parse_public_schedule,
)
from dagster_airbyte_assets.errors import AirbyteConfigurationError


def test_config_connection_parses_catalog_schedule_and_namespace() -> None:
    conn = parse_config_connection(CONFIG_CONNECTION)
    assert conn.namespace_definition == "customformat"
    assert conn.prefix == "pg_"
    assert conn.has_json_schemas
    assert conn.schedule.schedule_type == "cron"
    assert conn.schedule.cron_expression == "0 0 * * * ?"
    assert conn.schedule.cron_time_zone == "UTC"
    customers, orders = conn.streams
    assert customers.json_schema is not None
    assert customers.json_schema["properties"]["email"]["type"] == ["null", "string"]
    assert (customers.sync_mode, customers.destination_sync_mode) == ("incremental", "append_dedup")
    assert customers.primary_key == [["id"]]
    assert customers.cursor_field == ["updated_at"]
    assert not orders.selected
    assert [s.name for s in conn.selected_streams] == ["customers"]


def test_public_connection_matches_config_where_the_dialect_allows() -> None:
    pub = parse_public_connection(PUBLIC_CONNECTION)
    cfg = parse_config_connection(CONFIG_CONNECTION)
    assert pub.namespace_definition == "customformat"  # custom_format normalised
    assert pub.schedule == cfg.schedule  # "0 0 * * * ? UTC" split into expression + zone
    assert not pub.has_json_schemas
    (stream,) = pub.streams
    assert stream.json_schema is None and stream.selected
    assert (stream.sync_mode, stream.destination_sync_mode) == ("incremental", "append_dedup")
    assert stream.primary_key == cfg.streams[0].primary_key


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"scheduleType": "manual"}, ("manual", None, None, None, None)),
        (
            {"scheduleType": "basic", "basicTiming": "Every 24 HOURS"},
            ("basic", 24, "hours", None, None),
        ),
        (
            {"scheduleType": "cron", "cronExpression": "0 0 12 * * ? Europe/Paris"},
            ("cron", None, None, "0 0 12 * * ?", "Europe/Paris"),
        ),
        (
            {"scheduleType": "cron", "cronExpression": "0 0 12 ? * MON-FRI 2030"},
            ("cron", None, None, "0 0 12 ? * MON-FRI 2030", None),
        ),
    ],
    ids=["manual", "basic", "cron-with-zone", "cron-with-year"],
)
def test_public_schedule(payload: dict[str, Any], expected: tuple[Any, ...]) -> None:
    s = parse_public_schedule(payload)
    assert (
        s.schedule_type,
        s.basic_units,
        s.basic_time_unit,
        s.cron_expression,
        s.cron_time_zone,
    ) == expected


def test_legacy_config_schedule() -> None:
    body = {**CONFIG_CONNECTION, "scheduleType": None, "scheduleData": None}
    body["schedule"] = {"units": 6, "timeUnit": "hours"}
    s = parse_config_connection(body).schedule
    assert (s.schedule_type, s.basic_units, s.basic_time_unit) == ("basic", 6, "hours")


def test_config_job_keeps_stats_attempts_and_failure_reason() -> None:
    job = parse_config_job(config_job(status="failed"))
    assert job.job_id == 42 and job.connection_id == CONN and job.job_type == "sync"
    assert job.rows_synced == 100 and job.bytes_synced == 4000
    assert job.created_at.tzinfo is not None and job.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert job.duration_seconds == 522
    (stats,) = job.stream_stats
    assert (stats.stream_name, stats.records_committed, stats.bytes_emitted) == (
        "customers",
        100,
        4096,
    )
    assert job.failure_reason == "Source connector failed: bad password"
    assert job.attempts[0].failure_reason == job.failure_reason
    assert job.is_terminal and not job.succeeded


def test_public_job() -> None:
    job = parse_public_job(public_job(status="succeeded"))
    assert job.bytes_synced == 4000 and job.rows_synced == 100  # bytesSynced, not bytesScanned
    assert job.stream_stats == [] and job.attempts == []
    assert job.updated_at is not None and job.updated_at.minute == 43  # Java's "T12:43Z"
    assert job.succeeded and job.is_terminal


@pytest.mark.parametrize(
    "status", ["pending", "queued", "running", "incomplete", "paused_by_admin"]
)
def test_unknown_and_non_terminal_statuses_are_still_running(status: str) -> None:
    job = parse_public_job(public_job(status=status))
    assert job.status == status
    assert not job.is_terminal
    assert job.is_known_status == (status != "paused_by_admin")


def test_unknown_status_is_kept_with_one_warning(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = make_client(
        lambda r: httpx.Response(200, json=config_job(status="waiting_for_capacity")), api="config"
    )
    with caplog.at_level(logging.WARNING, logger="dagster_airbyte_assets.client"):
        first = client.get_job(42)
        client.get_job(42)
    assert first.status == "waiting_for_capacity" and not first.is_terminal
    assert sum("unknown status" in r.getMessage() for r in caplog.records) == 1


def test_models_round_trip_through_json() -> None:
    conn = parse_config_connection(CONFIG_CONNECTION)
    job = parse_config_job(config_job())
    assert (
        AirbyteConnection.model_validate(json.loads(json.dumps(conn.model_dump(mode="json"))))
        == conn
    )
    assert AirbyteJob.model_validate(json.loads(json.dumps(job.model_dump(mode="json")))) == job
    with pytest.raises(ValidationError):  # frozen
        conn.name = "x"  # type: ignore[misc]


def test_destination_keeps_no_secret_configuration(make_client: MakeClient) -> None:
    body = {
        "destinationId": "d1",
        "name": "Warehouse",
        "destinationType": "postgres",
        "definitionId": "25c5221d-dce2-4163-ade9-739ef790f503",
        "workspaceId": WS,
        "createdAt": 1,
        "configuration": {"host": "db", "database": "dw", "schema": "raw", "password": "hunter2"},
    }
    client, _ = make_client(lambda r: httpx.Response(200, json=body))
    dest = client.get_destination("d1")
    assert (dest.destination_type, dest.database, dest.schema_name) == ("postgres", "dw", "raw")
    assert "hunter2" not in dest.model_dump_json()


def test_config_destination_type_from_definition_or_name(make_client: MakeClient) -> None:
    body = {
        "destinationId": "d1",
        "name": "BQ",
        "destinationName": "BigQuery",
        "destinationDefinitionId": "00000000-0000-0000-0000-000000000000",
        "workspaceId": WS,
        "connectionConfiguration": {"project_id": "proj", "dataset_id": "ds"},
    }
    client, _ = make_client(lambda r: httpx.Response(200, json=body), api="config")
    dest = client.get_destination("d1")
    assert (dest.destination_type, dest.database, dest.schema_name) == ("bigquery", "proj", "ds")


@pytest.mark.parametrize(
    ("url", "api", "dialect", "config_url", "public_url"),
    [
        ("http://h:8000", None, "public", "http://h:8000/api/v1", "http://h:8000/api/public/v1"),
        (
            "http://h:8000/",
            "config",
            "config",
            "http://h:8000/api/v1",
            "http://h:8000/api/public/v1",
        ),
        (
            "http://h:8001/api/v1",
            None,
            "config",
            "http://h:8001/api/v1",
            "http://h:8001/api/public/v1",
        ),
        (
            "http://h/x/api/public/v1/",
            None,
            "public",
            "http://h/x/api/v1",
            "http://h/x/api/public/v1",
        ),
        (
            "https://api.airbyte.com/v1",
            None,
            "public",
            "https://cloud.airbyte.com/api/v1",
            "https://api.airbyte.com/v1",
        ),
    ],
    ids=["root", "root-forced-config", "config-api", "public-api", "cloud"],
)
def test_url_rules(
    url: str, api: str | None, dialect: str, config_url: str, public_url: str
) -> None:
    resolved = resolve_urls(url, api)
    assert (resolved.dialect, resolved.config_api_url, resolved.public_api_url) == (
        dialect,
        config_url,
        public_url,
    )


def test_bad_url_or_api_is_a_configuration_error() -> None:
    with pytest.raises(AirbyteConfigurationError):
        resolve_urls("localhost:8000")
    with pytest.raises(AirbyteConfigurationError):
        resolve_urls("http://h:8000", "graphql")


def test_ui_links(make_client: MakeClient) -> None:
    client, _ = make_client(lambda r: httpx.Response(200, json={}))
    assert client.ui_url == ROOT
    assert (
        client.job_ui_url(WS, CONN, 7)
        == f"{ROOT}/workspaces/{WS}/connections/{CONN}/job-history#7::0"
    )
    assert client.connection_ui_url(WS, CONN) == f"{ROOT}/workspaces/{WS}/connections/{CONN}/status"


def test_public_get_connection_uses_config_schemas_when_reachable(make_client: MakeClient) -> None:
    def app(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/connections/get":
            return httpx.Response(200, json=CONFIG_CONNECTION)
        return httpx.Response(200, json=PUBLIC_CONNECTION)

    client, rec = make_client(app)
    conn = client.get_connection(CONN)
    assert conn.has_json_schemas and rec.paths() == ["POST /api/v1/connections/get"]


def test_public_get_connection_falls_back_with_a_warning(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    def app(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v1/"):
            return httpx.Response(404, text="<html>Not Found</html>")
        return httpx.Response(200, json=PUBLIC_CONNECTION)

    client, rec = make_client(app)
    with caplog.at_level(logging.WARNING, logger="dagster_airbyte_assets.client"):
        for _ in range(5):
            conn = client.get_connection(CONN)
    assert not conn.has_json_schemas and conn.streams[0].json_schema is None
    # Set aside only after three answers in a row say it is not there (never after one).
    assert rec.paths().count("POST /api/v1/connections/get") == 3
    assert rec.paths().count(f"GET /api/public/v1/connections/{CONN}") == 5
    assert any("column schemas" in r.getMessage() for r in caplog.records)


def test_one_garbled_config_answer_does_not_switch_the_config_api_off(
    make_client: MakeClient,
) -> None:
    answers = iter([httpx.Response(200, text='{"connectionId": "x", "na')])

    def app(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v1/"):
            return next(answers, None) or httpx.Response(200, json=CONFIG_CONNECTION)
        return httpx.Response(200, json=PUBLIC_CONNECTION)

    client, rec = make_client(app, retry=RetryPolicy.none())
    first = client.get_connection(CONN)  # cut-off body read once more: the Config answer wins
    second = client.get_connection(CONN)
    assert first.has_json_schemas and second.has_json_schemas
    assert rec.paths().count("POST /api/v1/connections/get") == 3
