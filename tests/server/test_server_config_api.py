"""The Config API of the local Airbyte over HTTP, every response checked against the spec."""

from __future__ import annotations

import duckdb
import httpx
from local_airbyte_helpers import config_post, wait_for_job
from openapi_validation import assert_matches_component, assert_matches_schema

CFG = "config-api"


def _ok(server, path, body, spec=CFG):  # type: ignore[no-untyped-def]
    response = config_post(server, path, body)
    assert response.status_code == 200, response.text
    assert_matches_schema(spec, f"/v1{path}", "post", 200, response.json())
    return response.json()


def test_sample_sync_lands_rows_in_duckdb(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    job = _ok(
        local_airbyte, "/connections/sync", {"connectionId": local_airbyte.sample_connection_id}
    )
    assert isinstance(job["job"]["id"], int)
    info = wait_for_job(local_airbyte, job["job"]["id"])
    assert_matches_schema(CFG, "/v1/jobs/get_without_logs", "post", 200, info)
    assert info["job"]["status"] == "succeeded"
    assert info["attempts"][0]["attempt"]["status"] == "succeeded"
    with_logs = _ok(local_airbyte, "/jobs/get", {"id": job["job"]["id"]})
    assert with_logs["attempts"][0]["logs"]["logLines"]
    stats = info["job"]["aggregatedStats"]
    assert stats["recordsCommitted"] == stats["recordsEmitted"] > 0
    by_stream = {s["streamName"]: s for s in info["job"]["streamAggregatedStats"]}
    assert set(by_stream) == {"customers", "products", "orders"}
    db = duckdb.connect(str(local_airbyte.state_dir / "local.duckdb"), read_only=True)
    try:
        count = db.execute("SELECT count(*) FROM raw.orders").fetchone()
        meta = db.execute(
            "SELECT _airbyte_raw_id, _airbyte_meta FROM raw.orders LIMIT 1"
        ).fetchone()
    finally:
        db.close()
    assert count is not None and count[0] == by_stream["orders"]["recordsCommitted"]
    assert meta is not None and meta[0]


def test_workspaces_and_definitions(local_airbyte, local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    old = local_airbyte_factory(airbyte_version="1.6")  # the last release with workspaces/list
    listed = _ok(old, "/workspaces/list", {}, spec="config-api-v1.6.0")
    assert [w["workspaceId"] for w in listed["workspaces"]] == [old.workspace_id]
    _ok(local_airbyte, "/workspaces/get", {"workspaceId": local_airbyte.workspace_id})
    sources = _ok(local_airbyte, "/source_definitions/list", {})["sourceDefinitions"]
    assert "Sample Data" in {d["name"] for d in sources}
    dests = _ok(local_airbyte, "/destination_definitions/list", {})["destinationDefinitions"]
    assert "DuckDB" in {d["name"] for d in dests}


def test_source_and_destination_crud_masks_secrets(local_airbyte, pg_database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws = local_airbyte.workspace_id
    defs = _ok(local_airbyte, "/source_definitions/list", {})["sourceDefinitions"]
    pg_def = next(d for d in defs if d["name"] == "Postgres")["sourceDefinitionId"]
    config = {
        "host": pg_database.host,
        "port": pg_database.port,
        "database": pg_database.database,
        "username": pg_database.user,
        "password": "s3cret-value",
        "schemas": ["public"],
    }
    with pg_database.connect() as conn:
        conn.execute("CREATE TABLE items (id int primary key, updated_at timestamptz)")
        conn.execute("INSERT INTO items VALUES (1, now())")
    created = _ok(
        local_airbyte,
        "/sources/create",
        {
            "sourceDefinitionId": pg_def,
            "connectionConfiguration": config,
            "workspaceId": ws,
            "name": "pg",
        },
    )
    source_id = created["sourceId"]
    assert created["connectionConfiguration"]["password"] == "**********"
    got = _ok(local_airbyte, "/sources/get", {"sourceId": source_id})
    assert "s3cret" not in str(got)
    listed = _ok(local_airbyte, "/sources/list", {"workspaceId": ws})
    assert source_id in {s["sourceId"] for s in listed["sources"]}
    # Sending the mask back keeps the stored password: the check still connects.
    updated = _ok(
        local_airbyte,
        "/sources/update",
        {
            "sourceId": source_id,
            "name": "pg2",
            "connectionConfiguration": got["connectionConfiguration"],
        },
    )
    assert updated["name"] == "pg2"
    check = _ok(local_airbyte, "/sources/check_connection", {"sourceId": source_id})
    assert check["status"] == "succeeded", check
    discovered = _ok(local_airbyte, "/sources/discover_schema", {"sourceId": source_id})
    names = {s["stream"]["name"] for s in discovered["catalog"]["streams"]}
    assert "items" in names
    assert "s3cret" not in str(discovered)

    bad = _ok(
        local_airbyte,
        "/sources/create",
        {
            "sourceDefinitionId": pg_def,
            "connectionConfiguration": {**config, "port": 1},
            "workspaceId": ws,
            "name": "unreachable",
        },
    )
    failed = _ok(local_airbyte, "/sources/check_connection", {"sourceId": bad["sourceId"]})
    assert failed["status"] == "failed" and failed["message"]
    assert "s3cret" not in str(failed)

    ddefs = _ok(local_airbyte, "/destination_definitions/list", {})["destinationDefinitions"]
    duck = next(d for d in ddefs if d["name"] == "DuckDB")["destinationDefinitionId"]
    dest = _ok(
        local_airbyte,
        "/destinations/create",
        {
            "destinationDefinitionId": duck,
            "connectionConfiguration": {"destination_path": str(tmp_path / "x.duckdb")},
            "workspaceId": ws,
            "name": "duck",
        },
    )
    dest_id = dest["destinationId"]
    _ok(local_airbyte, "/destinations/get", {"destinationId": dest_id})
    _ok(local_airbyte, "/destinations/list", {"workspaceId": ws})
    _ok(
        local_airbyte,
        "/destinations/update",
        {
            "destinationId": dest_id,
            "name": "duck2",
            "connectionConfiguration": dest["connectionConfiguration"],
        },
    )
    assert (
        _ok(local_airbyte, "/destinations/check_connection", {"destinationId": dest_id})["status"]
        == "succeeded"
    )
    for path, body in (
        ("/destinations/delete", {"destinationId": dest_id}),
        ("/sources/delete", {"sourceId": source_id}),
    ):
        assert config_post(local_airbyte, path, body).status_code == 204
    missing = config_post(local_airbyte, "/sources/get", {"sourceId": source_id})
    assert missing.status_code == 404
    assert_matches_schema(CFG, "/v1/sources/get", "post", 404, missing.json())


def test_connection_crud_with_seed_bodies(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    sample = _ok(
        local_airbyte, "/connections/get", {"connectionId": local_airbyte.sample_connection_id}
    )
    created = _ok(
        local_airbyte,
        "/connections/create",
        {
            "sourceId": sample["sourceId"],
            "destinationId": sample["destinationId"],
            "syncCatalog": {
                "streams": [
                    {
                        "stream": {"name": "orders"},
                        "config": {
                            "syncMode": "incremental",
                            "cursorField": ["updated_at"],
                            "destinationSyncMode": "append",
                            "selected": True,
                        },
                    }
                ]
            },
            "schedule": {"units": 24, "timeUnit": "hours"},
            "name": "copy",
            "namespaceDefinition": "source",
            "status": "active",
            "prefix": "copy_",
        },
    )
    stream = created["syncCatalog"]["streams"][0]["stream"]
    assert stream["jsonSchema"]["properties"], "jsonSchema filled from discovery"
    assert created["scheduleType"] == "basic"
    assert created["scheduleData"]["basicSchedule"] == {"units": 24, "timeUnit": "hours"}
    # The seeds' update: get, modify the legacy schedule, post the whole object back.
    got = _ok(local_airbyte, "/connections/get", {"connectionId": created["connectionId"]})
    got["schedule"]["units"] = 6
    updated = _ok(local_airbyte, "/connections/update", got)
    assert updated["scheduleData"]["basicSchedule"]["units"] == 6
    listed = _ok(local_airbyte, "/connections/list", {"workspaceId": local_airbyte.workspace_id})
    assert len(listed["connections"]) == 2
    job = _ok(local_airbyte, "/connections/reset", {"connectionId": created["connectionId"]})
    assert job["job"]["configType"] == "reset_connection"
    assert wait_for_job(local_airbyte, job["job"]["id"])["job"]["status"] == "succeeded"
    assert (
        config_post(
            local_airbyte, "/connections/delete", {"connectionId": created["connectionId"]}
        ).status_code
        == 204
    )
    # A deleted connection is deprecated, not gone (ConnectionHelper.deleteConnection).
    deleted = _ok(local_airbyte, "/connections/get", {"connectionId": created["connectionId"]})
    assert deleted["status"] == "deprecated"
    ws = {"workspaceId": local_airbyte.workspace_id}
    listed = _ok(local_airbyte, "/connections/list", ws)["connections"]
    assert created["connectionId"] not in {c["connectionId"] for c in listed}
    everything = _ok(local_airbyte, "/connections/list_all", ws)["connections"]
    assert created["connectionId"] in {c["connectionId"] for c in everything}


def test_jobs_list_conflicts_and_errors(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    cid = local_airbyte.sample_connection_id
    httpx.post(f"{local_airbyte.url}/_local/connections/{cid}/sync_duration", json={"seconds": 5})
    job_id = _ok(local_airbyte, "/connections/sync", {"connectionId": cid})["job"]["id"]
    again = config_post(local_airbyte, "/connections/sync", {"connectionId": cid})
    assert again.status_code == 409
    assert again.json()["message"] == f"A sync is already running for: {cid}"
    assert_matches_component(CFG, "KnownExceptionInfo", again.json())
    cancelled = _ok(local_airbyte, "/jobs/cancel", {"id": job_id})
    assert cancelled["job"]["status"] == "cancelled"
    failure = cancelled["attempts"][-1]["attempt"]["failureSummary"]["failures"][0]
    assert failure["failureType"] == "manual_cancellation"
    # Cancelling a finished job signals the connection's workflow, which has nothing running:
    # 200 with the job unchanged (TemporalClient.startNewCancellation, v0.50.0 to main).
    finished = _ok(local_airbyte, "/jobs/cancel", {"id": job_id})
    assert finished["job"]["status"] == "cancelled"
    listed = _ok(local_airbyte, "/jobs/list", {"configTypes": ["sync"], "configId": cid})
    assert listed["totalJobCount"] == 1 and listed["jobs"][0]["job"]["id"] == job_id
    none = _ok(
        local_airbyte,
        "/jobs/list",
        {"configTypes": ["sync"], "configId": cid, "statuses": ["succeeded"]},
    )
    assert none["jobs"] == []

    # An unknown job id is DefaultJobPersistence.getJob's RuntimeException: a 500.
    unknown_job = config_post(local_airbyte, "/jobs/get", {"id": 999999})
    assert unknown_job.status_code == 500 and set(unknown_job.json()) == {"errorId"}
    for path, body in (
        ("/connections/get", {"connectionId": "00000000-0000-0000-0000-000000000001"}),
        ("/workspaces/get", {"workspaceId": "00000000-0000-0000-0000-000000000001"}),
    ):
        response = config_post(local_airbyte, path, body)
        assert response.status_code == 404, path
        assert_matches_schema(CFG, f"/v1{path}", "post", 404, response.json())
    # Bodies Jackson cannot bind: Micronaut's 400 before any handler.
    for path, body in (
        ("/jobs/get", {"id": "abc"}),
        ("/connections/create", {"sourceId": "nope"}),
    ):
        response = config_post(local_airbyte, path, body)
        assert response.status_code == 400, path
        assert response.json()["message"] == "Bad Request"
    # A required property missing: bean validation, 400 with only an errorId (v2.0.0+).
    missing = config_post(
        local_airbyte, "/sources/create", {"workspaceId": local_airbyte.workspace_id}
    )
    assert missing.status_code == 400 and set(missing.json()) == {"errorId"}
    broken = httpx.post(
        f"{local_airbyte.config_api_url}/jobs/get",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 400 and broken.json()["message"] == "Invalid JSON"
    health = httpx.get(f"{local_airbyte.config_api_url}/health")
    assert health.json() == {"available": True}
    assert_matches_schema(CFG, "/v1/health", "get", 200, health.json())
