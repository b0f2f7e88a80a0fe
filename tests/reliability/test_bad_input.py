"""Bad input, each case ending in the exact error type and its key message, never a hang.

Everything talks HTTP to a real server: the local Airbyte, or (for what it never sends: HTML
pages, broken JSON, nulls everywhere) a tiny stdlib HTTP server. Every test has a timeout mark,
and every failure case asserts that nothing was reported as success.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from reliability_helpers import (
    build_assets,
    clone_sample_connection,
    config_api,
    control,
    duckdb_count,
    free_port,
    jobs_of,
    materialized_metadata,
    tiny_http_server,
    wait_until,
)

from dagster_airbyte_assets import (
    AirbyteClient,
    AirbyteWorkspace,
    DagsterAirbyteTranslator,
    airbyte_assets,
    build_airbyte_assets_definitions,
    sync_and_wait,
)
from dagster_airbyte_assets._sync import AirbyteSyncFailure
from dagster_airbyte_assets.errors import (
    AirbyteAuthenticationError,
    AirbyteConfigurationError,
    AirbyteConnectError,
    AirbyteConnectionInactiveError,
    AirbyteError,
    AirbyteJobFailedError,
    AirbyteJobTimeoutError,
    AirbyteNotAirbyteError,
    AirbyteNotFoundError,
    AirbyteScheduleError,
)
from dagster_airbyte_assets.schedules import build_airbyte_schedules
from dagster_airbyte_assets.translator import AirbyteStreamProps, MetadataKeys

FAST: dict[str, Any] = {"request_max_retries": 1, "retry_timeout": 3.0, "request_timeout": 5.0}


# -- where Airbyte is, and whether it is Airbyte at all ------------------------------------------


@pytest.mark.timeout(30)
def test_nothing_listening_is_a_connect_error_naming_the_url() -> None:
    port = free_port()
    workspace = AirbyteWorkspace(url=f"http://127.0.0.1:{port}", **FAST)
    with pytest.raises(AirbyteConnectError) as caught:
        workspace.verify()
    assert f"Cannot reach Airbyte at http://127.0.0.1:{port}/api/public/v1/workspaces" in str(
        caught.value
    )
    assert "check the URL, that the server is running" in str(caught.value)


@pytest.mark.timeout(30)
def test_nothing_listening_when_loading_assets_says_no_saved_state(tmp_path: Path) -> None:
    port = free_port()
    workspace = AirbyteWorkspace(url=f"http://127.0.0.1:{port}", **FAST)
    with pytest.raises(AirbyteConfigurationError) as caught:
        build_airbyte_assets_definitions(workspace=workspace, state_path=tmp_path / "s.json")
    assert str(caught.value).startswith("Cannot build Airbyte assets: Cannot reach Airbyte")
    assert "No saved state exists at" in str(caught.value)
    assert isinstance(caught.value.__cause__, AirbyteConnectError)


@pytest.mark.timeout(30)
def test_wrong_path_on_a_real_airbyte_is_not_found(local_airbyte: Any) -> None:
    workspace = AirbyteWorkspace(url=f"{local_airbyte.url}/airbyte", **FAST)
    with pytest.raises(AirbyteNotFoundError) as caught:
        workspace.verify()
    assert caught.value.status_code == 404
    assert "/airbyte/api/public/v1/workspaces" in str(caught.value)


@pytest.mark.timeout(30)
def test_a_web_page_is_not_airbyte() -> None:
    page = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
    with tiny_http_server(lambda m, p, b: (200, "text/html", page)) as url:
        workspace = AirbyteWorkspace(url=url, **FAST)
        with pytest.raises(AirbyteNotAirbyteError) as caught:
            workspace.verify()
    assert "non-JSON body (text/html)" in str(caught.value)
    assert "is this an Airbyte server and the right URL?" in str(caught.value)


@pytest.mark.timeout(30)
def test_a_web_page_with_an_error_status_is_not_airbyte() -> None:
    page = b"<html><body>Not Found</body></html>"
    with tiny_http_server(lambda m, p, b: (404, "text/html", page)) as url:
        workspace = AirbyteWorkspace(url=url, **FAST)
        with pytest.raises(AirbyteNotAirbyteError) as caught:
            workspace.verify()
    assert "answered 404 without a JSON body" in str(caught.value)


@pytest.mark.timeout(30)
def test_malformed_json_is_not_airbyte() -> None:
    broken = b'{"data": [{"workspaceId": "1234", "name": '
    with tiny_http_server(lambda m, p, b: (200, "application/json", broken)) as url:
        workspace = AirbyteWorkspace(url=url, **FAST)
        with pytest.raises(AirbyteNotAirbyteError) as caught:
            workspace.verify()
    assert "answered 200 with a non-JSON body (application/json)" in str(caught.value)


# -- credentials -------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_wrong_basic_credentials(local_airbyte_factory: Any) -> None:
    server = local_airbyte_factory(auth="basic")
    workspace = AirbyteWorkspace(
        url=server.config_api_url, username="airbyte", password="not-the-password", **FAST
    )
    with pytest.raises(AirbyteAuthenticationError) as caught:
        workspace.verify()
    assert caught.value.status_code == 401
    assert "Airbyte refused the credentials (401); check `username` / `password`" in str(
        caught.value
    )
    assert "Invalid username or password" in str(caught.value)


@pytest.mark.timeout(30)
def test_wrong_client_credentials(local_airbyte_factory: Any) -> None:
    server = local_airbyte_factory(auth="client-credentials")
    workspace = AirbyteWorkspace(
        url=server.url, client_id="local-client", client_secret="not-the-secret", **FAST
    )
    with pytest.raises(AirbyteAuthenticationError) as caught:
        workspace.verify()
    assert "rejected the client credentials; check `client_id` / `client_secret`" in str(
        caught.value
    )
    assert caught.value.status_code == 400


@pytest.mark.timeout(30)
def test_wrong_static_token(local_airbyte_factory: Any) -> None:
    server = local_airbyte_factory(auth="client-credentials")
    workspace = AirbyteWorkspace(url=server.url, token="eyJ.not.a-token", **FAST)
    with pytest.raises(AirbyteAuthenticationError) as caught:
        workspace.verify()
    assert "check `token`" in str(caught.value)
    assert caught.value.status_code == 401


# -- unknown ids -------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_unknown_workspace(local_airbyte: Any) -> None:
    missing = str(uuid.uuid4())
    workspace = AirbyteWorkspace(url=local_airbyte.url, workspace_id=missing, **FAST)
    with pytest.raises(AirbyteNotFoundError) as caught:
        workspace.verify()
    assert caught.value.resource_id == missing
    assert f"Airbyte has no workspace {missing}" in str(caught.value)


@pytest.mark.timeout(30)
def test_unknown_connection_sync(local_airbyte: Any) -> None:
    missing = str(uuid.uuid4())
    client = AirbyteClient.from_url(local_airbyte.url, retry=None)
    with pytest.raises(AirbyteNotFoundError) as caught:
        sync_and_wait(client, missing, poll_interval=0.5)
    assert missing in str(caught.value)
    assert "refresh the saved state" in str(caught.value).lower()


@pytest.mark.timeout(30)
def test_unknown_connection_for_airbyte_assets(local_airbyte: Any, tmp_path: Path) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(AirbyteConfigurationError) as caught:
        airbyte_assets(
            connection_id=missing,
            workspace=AirbyteWorkspace(url=local_airbyte.url),
            state_path=tmp_path / "s.json",
        )
    assert f"Airbyte connection {missing} is not in workspace" in str(caught.value)
    assert "Sample Data → DuckDB" in str(caught.value)  # lists what exists


# -- catalogs ----------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_connection_with_no_selected_streams(
    local_airbyte: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sample = config_api(
        local_airbyte, "connections/get", {"connectionId": local_airbyte.sample_connection_id}
    )
    streams = [
        {**s, "config": {**s["config"], "selected": False}}
        for s in sample["syncCatalog"]["streams"]
    ]
    body = {k: sample[k] for k in ("sourceId", "destinationId", "namespaceDefinition", "status")}
    body.update(name="nothing selected", scheduleType="manual", syncCatalog={"streams": streams})
    empty = config_api(local_airbyte, "connections/create", body)["connectionId"]
    caplog.set_level(logging.WARNING, "dagster_airbyte_assets")
    workspace, assets = build_assets(local_airbyte, tmp_path)
    assert len(assets) == 1  # only the sample connection
    assert f"'nothing selected' ({empty}) has no selected streams" in caplog.text
    with pytest.raises(AirbyteConfigurationError) as caught:
        airbyte_assets(connection_id=empty, workspace=workspace, state_path=tmp_path / "x.json")
    assert "or has no selected streams" in str(caught.value)


@pytest.mark.postgres
@pytest.mark.timeout(60)
def test_stream_names_with_spaces_dots_and_unicode(
    local_airbyte: Any, pg_database: Any, tmp_path: Path
) -> None:
    tables = {"order items": 3, "events.v2": 2, "café crème": 4, "Ünïcode 表": 1}
    with pg_database.connect() as con:
        for table, rows in tables.items():
            con.execute(f'CREATE TABLE "{table}" (id integer primary key, note text)')
            for i in range(rows):
                con.execute(f'INSERT INTO "{table}" VALUES (%s, %s)', (i, f"row {i} ✓"))
    client = AirbyteClient.from_url(local_airbyte.config_api_url)
    definitions = {d.name: d.definition_id for d in client.list_source_definitions()}
    source = client.create_source(
        local_airbyte.workspace_id,
        "Postgres names",
        definitions["Postgres"],
        {
            "host": pg_database.host,
            "port": pg_database.port,
            "database": pg_database.database,
            "username": pg_database.user,
            "schemas": ["public"],
        },
    )
    destinations = {d.name: d.definition_id for d in client.list_destination_definitions()}
    duck_path = str(tmp_path / "names.duckdb")
    destination = client.create_destination(
        local_airbyte.workspace_id,
        "DuckDB names",
        destinations["DuckDB"],
        {"destination_path": duck_path, "schema": "odd"},
    )
    connection = client.create_connection(
        source.source_id, destination.destination_id, name="odd names"
    )
    assert {s.name for s in connection.streams} == set(tables)

    workspace, assets = build_assets(
        local_airbyte,
        tmp_path,
        poll_interval=1.0,
        connection_selector=lambda c: c.connection_id == connection.connection_id,
    )
    keys = {key for a in assets for key in a.keys}
    # Airbyte's DuckDB destination names tables with airbyte_cdk.sql's LowerCaseNormalizer:
    # every character outside [a-z0-9] becomes "_", accents included (not dropped).
    expected = {"order_items", "events_v2", "caf__cr_me", "_n_code__"}
    assert keys == {dg.AssetKey(["odd", name]) for name in expected}
    result = dg.materialize(assets, resources={"airbyte": workspace})
    assert result.success
    metadata = materialized_metadata(result)
    keys_by_stream = {
        spec.metadata[MetadataKeys.STREAM_NAME]: spec.key for a in assets for spec in a.specs
    }
    assert set(keys_by_stream) == set(tables)
    for stream, rows in tables.items():
        key = keys_by_stream[stream]
        assert metadata[key][MetadataKeys.ROW_COUNT] == rows
        # The key's table is the table the destination created.
        assert duckdb_count(duck_path, "odd", key.path[-1]) == rows


@pytest.mark.timeout(30)
def test_two_streams_on_one_key_name_both_connections(local_airbyte: Any, tmp_path: Path) -> None:
    twin = clone_sample_connection(local_airbyte, "Sample twin", "")
    with pytest.raises(AirbyteConfigurationError) as caught:
        build_assets(local_airbyte, tmp_path)
    text = str(caught.value)
    assert "Two Airbyte streams land on asset key 'raw/" in text
    assert f"'Sample Data → DuckDB' ({local_airbyte.sample_connection_id})" in text
    assert f"'Sample twin' ({twin})" in text


@pytest.mark.timeout(30)
def test_unconvertible_cron_is_a_schedule_error(local_airbyte: Any, tmp_path: Path) -> None:
    sample = config_api(
        local_airbyte, "connections/get", {"connectionId": local_airbyte.sample_connection_id}
    )
    body = {
        k: sample[k]
        for k in ("sourceId", "destinationId", "namespaceDefinition", "status", "syncCatalog")
    }
    body.update(
        name="every 30 seconds past",
        prefix="cron_",
        scheduleType="cron",
        scheduleData={"cron": {"cronExpression": "30 0 * * * ?", "cronTimeZone": "UTC"}},
    )
    config_api(local_airbyte, "connections/create", body)
    workspace = AirbyteWorkspace(url=local_airbyte.url)
    state = tmp_path / "state.json"
    assets = build_airbyte_assets_definitions(workspace=workspace, state_path=state)
    with pytest.raises(AirbyteScheduleError) as caught:
        build_airbyte_schedules(workspace=workspace, assets=assets, state_path=state)
    assert "Cannot convert the Quartz cron '30 0 * * * ?' (UTC)" in str(caught.value)
    assert "'every 30 seconds past'" in str(caught.value)
    assert "the seconds field is '30'" in str(caught.value)


_NULLY_CONNECTION: dict[str, Any] = {
    "connectionId": "8c6d0a4e-0000-4000-8000-000000000001",
    "name": "nully",
    "sourceId": "8c6d0a4e-0000-4000-8000-000000000002",
    "destinationId": "8c6d0a4e-0000-4000-8000-000000000003",
    "workspaceId": "8c6d0a4e-0000-4000-8000-000000000004",
    "status": "active",
    "namespaceDefinition": None,
    "namespaceFormat": None,
    "prefix": None,
    "scheduleType": None,
    "scheduleData": None,
    "syncCatalog": {
        "streams": [
            {
                "stream": {
                    "name": "users",
                    "namespace": None,
                    "jsonSchema": None,
                    "supportedSyncModes": None,
                    "sourceDefinedPrimaryKey": None,
                },
                "config": {
                    "syncMode": "full_refresh",
                    "destinationSyncMode": "overwrite",
                    "cursorField": None,
                    "primaryKey": None,
                    "aliasName": None,
                    "selected": True,
                },
            },
            # Only the required keys: every optional one missing.
            {"stream": {"name": "bare"}, "config": {"selected": True}},
        ]
    },
}
_NULLY_JOB: dict[str, Any] = {
    "job": {
        "id": 7,
        "configType": "sync",
        "configId": _NULLY_CONNECTION["connectionId"],
        "status": "succeeded",
        "createdAt": 1_700_000_000,
        "updatedAt": 1_700_000_060,
        "startedAt": None,
        "aggregatedStats": None,
        "streamAggregatedStats": None,
    },
    "attempts": [
        {
            "attempt": {
                "id": 0,
                "status": "succeeded",
                "createdAt": 1_700_000_000,
                "updatedAt": 1_700_000_060,
                "endedAt": None,
                "recordsSynced": None,
                "bytesSynced": None,
                "totalStats": None,
                "streamStats": None,
                "failureSummary": None,
            },
            "logs": None,
        },
        {"attempt": {"id": 1, "status": "succeeded"}},
    ],
}


@pytest.mark.timeout(30)
def test_null_and_missing_optional_fields_parse(tmp_path: Path) -> None:
    def answer(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        if path.endswith("/connections/list"):
            return (
                200,
                "application/json",
                json.dumps({"connections": [_NULLY_CONNECTION]}).encode(),
            )
        if path.endswith("/connections/get"):
            return 200, "application/json", json.dumps(_NULLY_CONNECTION).encode()
        if path.endswith("/jobs/get_without_logs"):
            return 200, "application/json", json.dumps(_NULLY_JOB).encode()
        return 404, "application/json", b'{"message": "no such route"}'

    with tiny_http_server(answer) as url:
        client = AirbyteClient.from_url(f"{url}/api/v1")
        (connection,) = client.list_connections(_NULLY_CONNECTION["workspaceId"])
        job = client.get_job(7)
    assert [s.name for s in connection.streams] == ["users", "bare"]
    assert connection.prefix in ("", None)
    assert connection.schedule.schedule_type == "manual"
    assert job.status == "succeeded" and job.is_terminal
    assert job.rows_synced is None and job.stream_stats in ((), [])
    specs = [
        DagsterAirbyteTranslator().get_asset_spec(AirbyteStreamProps(connection, s, None, None))
        for s in connection.streams
    ]
    assert [spec.key.path[-1] for spec in specs] == ["users", "bare"]


@pytest.mark.timeout(60)
def test_enormous_catalog_two_thousand_streams(local_airbyte: Any, tmp_path: Path) -> None:
    sample = config_api(
        local_airbyte, "connections/get", {"connectionId": local_airbyte.sample_connection_id}
    )
    template = sample["syncCatalog"]["streams"][0]
    columns = {f"column_{j}": {"type": ["null", "string"]} for j in range(20)}
    streams = [
        {
            "stream": {
                **template["stream"],
                "name": f"stream_{i:04d}",
                "jsonSchema": {"type": "object", "properties": columns},
            },
            "config": {**template["config"], "aliasName": f"stream_{i:04d}"},
        }
        for i in range(2000)
    ]
    body = {k: sample[k] for k in ("sourceId", "destinationId", "namespaceDefinition", "status")}
    body.update(
        name="huge", prefix="huge_", scheduleType="manual", syncCatalog={"streams": streams}
    )
    huge = config_api(local_airbyte, "connections/create", body)["connectionId"]
    # "Does not hang" is the test's timeout mark; how fast it loads is for the benchmarks.
    workspace, assets = build_assets(
        local_airbyte, tmp_path, connection_selector=lambda c: c.connection_id == huge
    )
    (definition,) = assets
    assert len(definition.keys) == 2000
    dg.Definitions(assets=assets, resources={"airbyte": workspace}).resolve_all_job_defs()
    spec = next(s for s in definition.specs if s.key == dg.AssetKey(["raw", "huge_stream_1999"]))
    columns = spec.metadata[MetadataKeys.COLUMN_SCHEMA].columns
    assert len([c for c in columns if not c.name.startswith("_airbyte_")]) == 20


# -- jobs that go wrong while waited on -------------------------------------------------------


@pytest.mark.timeout(60)
def test_job_that_disappears_mid_wait(local_airbyte: Any, tmp_path: Path) -> None:
    connection_id = local_airbyte.sample_connection_id
    control(local_airbyte, "POST", f"connections/{connection_id}/sync_duration", {"seconds": 30})
    workspace, assets = build_assets(local_airbyte, tmp_path, poll_interval=1.0)

    def delete_when_running() -> None:
        job = wait_until(
            lambda: next((j for j in jobs_of(local_airbyte, connection_id)), None), 20, "a job"
        )
        time.sleep(1.0)
        control(local_airbyte, "DELETE", f"jobs/{job['id']}")

    deleter = threading.Thread(target=delete_when_running)
    deleter.start()
    with pytest.raises(AirbyteSyncFailure) as caught:
        dg.materialize(assets, resources={"airbyte": workspace})
    deleter.join(20)
    assert isinstance(caught.value.error, AirbyteNotFoundError)
    assert "Airbyte has no job" in str(caught.value.error)
    assert jobs_of(local_airbyte, connection_id) == []


@pytest.mark.timeout(60)
def test_poll_timeout_cancels_the_job(local_airbyte: Any, tmp_path: Path) -> None:
    connection_id = local_airbyte.sample_connection_id
    control(local_airbyte, "POST", f"connections/{connection_id}/sync_duration", {"seconds": 60})
    workspace, assets = build_assets(local_airbyte, tmp_path, poll_interval=1.0, poll_timeout=2.0)
    with pytest.raises(AirbyteSyncFailure) as caught:
        dg.materialize(assets, resources={"airbyte": workspace})
    assert isinstance(caught.value.error, AirbyteJobTimeoutError)
    assert "did not finish within poll_timeout=2s" in str(caught.value)
    (job,) = jobs_of(local_airbyte, connection_id)
    assert job["status"] == "cancelled"


@pytest.mark.timeout(60)
def test_failed_job_carries_airbyte_reason(local_airbyte: Any, tmp_path: Path) -> None:
    connection_id = local_airbyte.sample_connection_id
    control(
        local_airbyte,
        "POST",
        f"connections/{connection_id}/fail_next_attempts",
        {"count": 3, "message": "Source disk is on fire"},
    )
    workspace, assets = build_assets(local_airbyte, tmp_path, poll_interval=1.0)
    with pytest.raises(AirbyteSyncFailure) as caught:
        dg.materialize(assets, resources={"airbyte": workspace})
    assert isinstance(caught.value.error, AirbyteJobFailedError)
    assert "failed after 3 attempt(s): Source disk is on fire" in str(caught.value)
    (job,) = jobs_of(local_airbyte, connection_id)
    assert job["status"] == "failed"


# -- every bad setting or id is refused before any job starts -------------------------------------
#
# Each case tries to materialize the sample connection (or to start its sync) with one thing
# wrong, against a real server: it must fail with its typed error naming what to fix, and the
# server's job list must not have changed. One server serves every case.

SECRET = "SENTINEL-pw-in-url-3c1d"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from local_airbyte import LocalAirbyte

    with LocalAirbyte(
        tmp_path_factory.mktemp("bad-input"), seed="sample", test_controls=True
    ) as server:
        yield server


def _all_job_ids(server: Any) -> list[int]:
    body = {"configTypes": ["sync", "reset_connection"]}
    return sorted(j["job"]["id"] for j in config_api(server, "jobs/list", body)["jobs"])


def _materialize(server: Any, tmp_path: Path, **settings: Any) -> None:
    """Build the resource and the assets (from a fresh snapshot), then run them."""
    workspace = AirbyteWorkspace(**{"url": server.url, **FAST, **settings})
    assets = build_airbyte_assets_definitions(
        workspace=workspace, state_path=tmp_path / f"s-{uuid.uuid4().hex}.json"
    )
    dg.materialize(assets, resources={"airbyte": workspace})


def _setting(**settings: Any) -> Any:
    return lambda server, tmp_path: _materialize(server, tmp_path, **settings)


def _sync(connection_id: str | None = None, **kwargs: Any) -> Any:
    def attempt(server: Any, tmp_path: Path) -> None:
        with AirbyteClient.from_url(server.url, retry=None) as client:
            sync_and_wait(client, connection_id or server.sample_connection_id, **kwargs)

    return attempt


def _inactive(server: Any, tmp_path: Path) -> None:
    cid = server.sample_connection_id
    config_api(server, "connections/update", {"connectionId": cid, "status": "inactive"})
    try:
        with AirbyteClient.from_url(server.config_api_url, retry=None) as client:
            sync_and_wait(client, cid, poll_interval=0.5)
    finally:
        config_api(server, "connections/update", {"connectionId": cid, "status": "active"})


def _inactive_public(server: Any, tmp_path: Path) -> None:
    cid = server.sample_connection_id
    config_api(server, "connections/update", {"connectionId": cid, "status": "inactive"})
    try:
        workspace = AirbyteWorkspace(url=server.url, **FAST)
        assets = build_airbyte_assets_definitions(
            workspace=workspace, state_path=tmp_path / f"s-{uuid.uuid4().hex}.json"
        )
        try:
            dg.materialize(assets, resources={"airbyte": workspace})
        except AirbyteSyncFailure as failure:
            raise failure.error from failure
    finally:
        config_api(server, "connections/update", {"connectionId": cid, "status": "active"})


def _foreign_json(server: Any, tmp_path: Path) -> None:
    answer = json.dumps({"hello": "world", "items": []}).encode()
    with tiny_http_server(lambda m, p, b: (200, "application/json", answer)) as url:
        _materialize(server, tmp_path, url=url)


def _foreign_json_404(server: Any, tmp_path: Path) -> None:
    answer = json.dumps({"error": "nope"}).encode()
    with tiny_http_server(lambda m, p, b: (404, "application/json", answer)) as url:
        _materialize(server, tmp_path, url=url)


def _html(server: Any, tmp_path: Path) -> None:
    page = b"<html><body>Sign in</body></html>"
    with tiny_http_server(lambda m, p, b: (200, "text/html", page)) as url:
        _materialize(server, tmp_path, url=url)


def _bad_refresh(server: Any, tmp_path: Path) -> None:
    workspace = AirbyteWorkspace(url=server.url, **FAST)
    build_airbyte_assets_definitions(
        workspace=workspace,
        state_path=tmp_path / "s.json",
        refresh="sometimes",  # type: ignore[arg-type]
    )


def _wrong_password(server: Any, tmp_path: Path) -> None:
    # The local Airbyte has no auth here: a wrong password on a server that checks is in
    # test_wrong_basic_credentials; this case checks the partial-credentials refusal instead.
    _materialize(server, tmp_path, password="only-a-password")


BAD: list[tuple[str, Any, type[Exception], str]] = [
    (
        "url-no-scheme",
        _setting(url="localhost:8000"),
        AirbyteConfigurationError,
        "`url` must be an http(s) URL",
    ),
    (
        "url-ftp",
        _setting(url="ftp://airbyte:8000"),
        AirbyteConfigurationError,
        "`url` must be an http(s) URL",
    ),
    (
        "url-userinfo",
        _setting(url=f"http://airbyte:{SECRET}@localhost:8000"),
        AirbyteConfigurationError,
        "set `username` and `password`",
    ),
    (
        "url-bad-port",
        _setting(url="http://localhost:99999"),
        AirbyteConfigurationError,
        "`url` has an invalid port",
    ),
    ("url-empty", _setting(url=""), AirbyteConfigurationError, "`url` must be an http(s) URL"),
    (
        "api-unknown",
        _setting(api="graphql"),
        AirbyteConfigurationError,
        "`api` must be 'config' or 'public'",
    ),
    (
        "config-url-userinfo",
        _setting(config_api_url=f"http://u:{SECRET}@h/api/v1"),
        AirbyteConfigurationError,
        "`config_api_url` must not contain credentials",
    ),
    (
        "public-url-scheme",
        _setting(public_api_url="localhost/api/public/v1"),
        AirbyteConfigurationError,
        "`public_api_url` must be an http(s) URL",
    ),
    (
        "ui-url-userinfo",
        _setting(ui_url=f"https://u:{SECRET}@ui"),
        AirbyteConfigurationError,
        "`ui_url` must not contain credentials",
    ),
    (
        "workspace-not-uuid",
        _setting(workspace_id="my-workspace"),
        AirbyteConfigurationError,
        "`workspace_id` must be an Airbyte workspace id",
    ),
    (
        "workspace-traversal",
        _setting(workspace_id="../workspaces"),
        AirbyteConfigurationError,
        "`workspace_id` must be an Airbyte workspace id",
    ),
    (
        "poll-interval-zero",
        _setting(poll_interval=0),
        AirbyteConfigurationError,
        "`poll_interval` must be a number of seconds above 0",
    ),
    (
        "poll-interval-negative",
        _setting(poll_interval=-1.0),
        AirbyteConfigurationError,
        "`poll_interval` must be a number of seconds above 0",
    ),
    (
        "poll-interval-nan",
        _setting(poll_interval=float("nan")),
        AirbyteConfigurationError,
        "`poll_interval` must be",
    ),
    (
        "poll-timeout-zero",
        _setting(poll_timeout=0),
        AirbyteConfigurationError,
        "`poll_timeout` must be a number of seconds above 0",
    ),
    (
        "poll-timeout-negative",
        _setting(poll_timeout=-5),
        AirbyteConfigurationError,
        "`poll_timeout` must be",
    ),
    (
        "outage-timeout-zero",
        _setting(outage_timeout=0),
        AirbyteConfigurationError,
        "`outage_timeout` must be",
    ),
    (
        "request-timeout-zero",
        _setting(request_timeout=0),
        AirbyteConfigurationError,
        "`request_timeout` must be",
    ),
    (
        "request-timeout-inf",
        _setting(request_timeout=float("inf")),
        AirbyteConfigurationError,
        "`request_timeout` must be",
    ),
    (
        "retry-timeout-negative",
        _setting(retry_timeout=-1),
        AirbyteConfigurationError,
        "`retry_timeout` must be",
    ),
    (
        "retries-negative",
        _setting(request_max_retries=-1),
        AirbyteConfigurationError,
        "`request_max_retries` must be a whole number of at least 0",
    ),
    (
        "retries-fraction",
        _setting(request_max_retries=1.5),
        AirbyteConfigurationError,
        "`request_max_retries` must be a whole number",
    ),
    (
        "pool-zero",
        _setting(max_concurrent_requests=0),
        AirbyteConfigurationError,
        "`max_concurrent_requests` must be a whole number of at least 1",
    ),
    (
        "cancel-flag-string",
        _setting(cancel_on_termination="yes"),
        AirbyteConfigurationError,
        "`cancel_on_termination` must be True or False",
    ),
    (
        "two-auth-modes",
        _setting(username="u", password="p", token="t"),
        AirbyteConfigurationError,
        "Set one way to authenticate, not several",
    ),
    (
        "basic-and-client",
        _setting(client_id="c", client_secret="s", password="p", username="u"),
        AirbyteConfigurationError,
        "not several",
    ),
    (
        "password-alone",
        _wrong_password,
        AirbyteConfigurationError,
        "`password` is set but `username` is not",
    ),
    (
        "client-id-alone",
        _setting(client_id="c"),
        AirbyteConfigurationError,
        "`client_id` is set but `client_secret` is not",
    ),
    (
        "username-colon",
        _setting(username="a:b", password="p"),
        AirbyteConfigurationError,
        "`username` must not contain ':'",
    ),
    (
        "token-newline",
        _setting(token="abc\ndef"),
        AirbyteConfigurationError,
        "`token` contains a control character",
    ),
    (
        "refresh-sometimes",
        _bad_refresh,
        AirbyteConfigurationError,
        "refresh must be 'if_missing', 'always' or 'never'",
    ),
    (
        "sync-poll-interval-negative",
        _sync(poll_interval=-1),
        AirbyteConfigurationError,
        "poll_interval must be",
    ),
    (
        "sync-poll-timeout-zero",
        _sync(poll_timeout=0),
        AirbyteConfigurationError,
        "poll_timeout must be above 0",
    ),
    (
        "sync-outage-timeout-negative",
        _sync(outage_timeout=-3),
        AirbyteConfigurationError,
        "outage_timeout must be",
    ),
    (
        "sync-job-type-unknown",
        _sync(job_type="rebuild"),
        AirbyteConfigurationError,
        "job_type must be one of",
    ),
    (
        "connection-unknown",
        _sync("9d8c7b6a-0000-4000-8000-000000000009"),
        AirbyteNotFoundError,
        "Refresh the saved state",
    ),
    (
        "connection-traversal",
        _sync("../workspaces"),
        AirbyteConfigurationError,
        "connection id must be an Airbyte id (a UUID), not '../workspaces'",
    ),
    (
        "connection-inactive-config",
        _inactive,
        AirbyteConnectionInactiveError,
        "its status is 'inactive'",
    ),
    (
        "connection-inactive-public",
        _inactive_public,
        AirbyteConnectionInactiveError,
        "enable it in Airbyte",
    ),
    ("server-foreign-json", _foreign_json, AirbyteConfigurationError, "not an Airbyte"),
    (
        "server-foreign-json-404",
        _foreign_json_404,
        AirbyteConfigurationError,
        "JSON that is not an Airbyte error",
    ),
    ("server-html", _html, AirbyteConfigurationError, "is this an Airbyte server"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "attempt", "error", "fragment"), BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_refused_before_any_job_starts(
    shared_server: Any,
    tmp_path: Path,
    name: str,
    attempt: Any,
    error: type[Exception],
    fragment: str,
) -> None:
    before = _all_job_ids(shared_server)
    control(shared_server, "DELETE", "requests")
    with pytest.raises(error) as caught:
        attempt(shared_server, tmp_path)
    text = str(caught.value)
    assert fragment in text, text
    assert SECRET not in text + repr(caught.value)
    assert _all_job_ids(shared_server) == before  # nothing started, nothing left behind
    served = control(shared_server, "GET", "requests").json()["by_route"]
    starts = [
        r for r in served if r in ("POST /api/v1/connections/sync", "POST /api/public/v1/jobs")
    ]
    # Only an inactive connection is asked (Airbyte is what knows it is inactive), once.
    assert (
        starts == ([] if "inactive" not in name else starts) and sum(served[r] for r in starts) <= 1
    ), served


def test_at_least_thirty_bad_inputs() -> None:
    assert len(BAD) >= 30


@pytest.mark.timeout(30)
def test_an_id_cannot_reach_another_endpoint(shared_server: Any) -> None:
    control(shared_server, "DELETE", "requests")
    with AirbyteClient.from_url(shared_server.url, retry=None) as client:
        with pytest.raises(AirbyteError):
            client.dialect.get_connection("../workspaces")
        with pytest.raises(AirbyteError):
            client.dialect.get_connection("..")
    served = control(shared_server, "GET", "requests").json()["by_route"]
    assert not any(route.startswith("GET /api/public/v1/workspaces") for route in served), served
