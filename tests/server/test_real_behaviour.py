"""Each fact of /work/shared/airbyte-api/REAL-BEHAVIOUR.md, reproduced by the local Airbyte.

Test names carry the fact's section number (``test_1_1_...`` is §1 fact 1); the docstrings say
which upstream file the behaviour comes from. Everything goes over HTTP, as a client would.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from local_airbyte_helpers import config_post, wait_for_job
from openapi_validation import assert_matches_component, assert_matches_schema

CFG = "config-api"
PROBLEMS = "public-api-problems"


def _ok(server: Any, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = config_post(server, path, body or {})
    assert response.status_code == 200, (path, response.text)
    result: dict[str, Any] = response.json()
    return result


def _control(server: Any, path: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{server.url}/_local/{path}", json=body)
    assert response.status_code == 200, response.text


def _sync(server: Any, connection_id: str | None = None) -> int:
    body = {"connectionId": connection_id or server.sample_connection_id}
    job_id: int = _ok(server, "/connections/sync", body)["job"]["id"]
    return job_id


def _catalog(server: Any, connection_id: str) -> dict[str, Any]:
    return _ok(server, "/connections/get", {"connectionId": connection_id})


# -- §1 jobs and their statistics -----------------------------------------------------------------


def test_1_1_jobs_get_carries_no_job_statistics(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``JobConverter.getJobRead`` never sets aggregatedStats/streamAggregatedStats."""
    job_id = _sync(local_airbyte)
    wait_for_job(local_airbyte, job_id)
    info = _ok(local_airbyte, "/jobs/get", {"id": job_id})
    assert_matches_schema(CFG, "/v1/jobs/get", "post", 200, info)
    assert info["job"]["status"] == "succeeded"
    assert "aggregatedStats" not in info["job"] and "streamAggregatedStats" not in info["job"]


def test_1_2_attempt_stream_stats_without_namespace_once_the_attempt_ended(
    local_airbyte_factory, pg_database, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """``JobConverter.getAttemptStreamStats`` (~306-327): streamName and four stats, from the
    attempt's sync summary: nothing while it runs, no streamNamespace, no bytesCommitted."""
    server = local_airbyte_factory(test_controls=True)
    with pg_database.connect() as conn:
        conn.execute("CREATE TABLE items (id int primary key, updated_at timestamptz)")
        conn.execute("INSERT INTO items SELECT g, now() FROM generate_series(1, 7) g")
    connection_id = _postgres_to_duckdb(server, pg_database, tmp_path, namespaceDefinition="source")
    _control(server, f"connections/{connection_id}/sync_duration", {"seconds": 1.5})
    job_id = _sync(server, connection_id)
    running = None
    for _ in range(200):
        running = _ok(server, "/jobs/get", {"id": job_id})
        if running["attempts"]:
            break
        time.sleep(0.02)
    assert running is not None and running["attempts"], "the attempt never started"
    attempt = running["attempts"][0]["attempt"]
    assert attempt["status"] == "running"
    assert "totalStats" not in attempt and "streamStats" not in attempt
    wait_for_job(server, job_id)
    attempt = _ok(server, "/jobs/get", {"id": job_id})["attempts"][0]["attempt"]
    (entry,) = attempt["streamStats"]
    assert set(entry) == {"streamName", "stats"} and entry["streamName"] == "items"
    assert set(entry["stats"]) == {
        "bytesEmitted",
        "recordsEmitted",
        "stateMessagesEmitted",
        "recordsCommitted",
    }
    assert entry["stats"]["recordsEmitted"] == entry["stats"]["recordsCommitted"] == 7
    # The hydrated view has the namespace (the stats table keeps it).
    hydrated = _ok(server, "/jobs/get_without_logs", {"id": job_id})["attempts"][0]["attempt"]
    assert hydrated["streamStats"][0]["streamNamespace"] == "public"


def test_1_2_aggregation_sums_incremental_attempts_and_keeps_the_last_full_refresh(
    local_airbyte,
) -> None:  # type: ignore[no-untyped-def]
    """``StatsAggregationHelper.getAggregatedStats``: incremental streams sum their attempts,
    full refresh streams count the last attempt only."""
    cid = local_airbyte.sample_connection_id
    connection = _catalog(local_airbyte, cid)
    for item in connection["syncCatalog"]["streams"]:
        if item["stream"]["name"] == "customers":
            item["config"].update(syncMode="full_refresh", destinationSyncMode="overwrite")
    _ok(local_airbyte, "/connections/update", connection)
    # Attempt 0 commits the first stream (customers), then the source fails.
    _control(
        local_airbyte,
        f"connections/{cid}/fail_next_attempts",
        {"count": 1, "after_streams": 1, "message": "source fell over"},
    )
    job_id = _sync(local_airbyte)
    info = wait_for_job(local_airbyte, job_id)
    assert [a["attempt"]["status"] for a in info["attempts"]] == ["failed", "succeeded"]
    first = {s["streamName"]: s["stats"] for s in info["attempts"][0]["attempt"]["streamStats"]}
    assert first["customers"]["recordsCommitted"] == 105
    totals = {s["streamName"]: s["recordsCommitted"] for s in info["job"]["streamAggregatedStats"]}
    assert totals == {"customers": 105, "products": 30, "orders": 205}  # not 210 customers
    assert info["job"]["aggregatedStats"]["recordsCommitted"] == 340
    failed = info["attempts"][0]["attempt"]["failureSummary"]
    assert failed["partialSuccess"] is True


def test_1_3_jobs_get_returns_logs_sized_like_real_ones(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """``JobConverter.getAttemptLogs`` (~84-111) reads every attempt's log on each ``jobs/get``
    (up to 1,000,000 lines); ``get_without_logs`` and ``get_light`` do not."""
    server = local_airbyte_factory(seed="sample", log_lines=20_000)
    job_id = _sync(server)
    wait_for_job(server, job_id)
    with_logs = config_post(server, "/jobs/get", {"id": job_id})
    lines = with_logs.json()["attempts"][0]["logs"]["logLines"]
    assert len(lines) == 20_000 and any("Sync succeeded" in line for line in lines)
    without = config_post(server, "/jobs/get_without_logs", {"id": job_id})
    assert "logs" not in without.json()["attempts"][0]
    assert len(without.content) * 100 < len(with_logs.content)
    light = _ok(server, "/jobs/get_light", {"id": job_id})
    assert set(light) == {"job"} and "aggregatedStats" not in light["job"]


def test_1_3_hydrated_statistics_on_jobs_list_and_get_without_logs(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``hydrateWithStats`` runs for ``jobs/list`` and ``jobs/get_without_logs`` (v0.52.0+)."""
    job_id = _sync(local_airbyte)
    wait_for_job(local_airbyte, job_id)
    without = _ok(local_airbyte, "/jobs/get_without_logs", {"id": job_id})
    assert_matches_schema(CFG, "/v1/jobs/get_without_logs", "post", 200, without)
    listed = _ok(
        local_airbyte,
        "/jobs/list",
        {"configTypes": ["sync"], "configId": local_airbyte.sample_connection_id},
    )
    assert_matches_schema(CFG, "/v1/jobs/list", "post", 200, listed)
    for job in (without["job"], listed["jobs"][0]["job"]):
        assert job["aggregatedStats"]["recordsCommitted"] == 340
        assert {s["streamName"] for s in job["streamAggregatedStats"]} == {
            "customers",
            "products",
            "orders",
        }
    attempt = listed["jobs"][0]["attempts"][0]
    assert set(attempt["totalStats"]) == {
        "bytesEmitted",
        "recordsEmitted",
        "recordsCommitted",
        "recordsRejected",
    }


def test_1_4_public_job_has_totals_but_no_attempts(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``JobResponseMapper``: rowsSynced/bytesSynced (committed), duration, lastUpdatedAt only
    once finished; no attempts, no failure reason, no per-stream numbers."""
    api = local_airbyte.public_api_url
    cid = local_airbyte.sample_connection_id
    _control(local_airbyte, f"connections/{cid}/sync_duration", {"seconds": 1})
    created = httpx.post(f"{api}/jobs", json={"connectionId": cid, "jobType": "sync"}).json()
    assert "lastUpdatedAt" not in created
    wait_for_job(local_airbyte, created["jobId"])
    done = httpx.get(f"{api}/jobs/{created['jobId']}").json()
    assert_matches_schema("public-api", "/jobs/{jobId}", "get", 200, done)
    assert done["rowsSynced"] == 340 and done["bytesSynced"] > 0 and "lastUpdatedAt" in done
    assert set(done) == {
        "jobId",
        "status",
        "jobType",
        "startTime",
        "connectionId",
        "lastUpdatedAt",
        "duration",
        "bytesSynced",
        "rowsSynced",
    }


def test_1_5_incomplete_is_not_terminal_and_cloud_queues(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """``incomplete`` between attempts; ``queued`` before running on Cloud (main,
    ``JobCreationAndStatusUpdateHelper.kt`` ~543-575)."""
    server = local_airbyte_factory(seed="sample", test_controls=True, retry_delay=1.0)
    _control(server, f"connections/{server.sample_connection_id}/fail_next_attempts", {"count": 1})
    job_id = _sync(server)
    seen = _statuses(server, job_id)
    assert "incomplete" in seen and seen[-1] == "succeeded"

    cloud = local_airbyte_factory(seed="sample", airbyte_version="cloud", queue_seconds=1.0)
    created = httpx.post(
        f"{cloud.public_api_url}/jobs",
        json={"connectionId": cloud.sample_connection_id, "jobType": "sync"},
    ).json()
    seen = _statuses(cloud, created["jobId"])
    assert seen.index("queued") < seen.index("running") and seen[-1] == "succeeded"


def _statuses(server: Any, job_id: int) -> list[str]:
    seen: list[str] = []
    for _ in range(600):
        status = _ok(server, "/jobs/get_light", {"id": job_id})["job"]["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("succeeded", "failed", "cancelled"):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never finished: {seen}")


@pytest.mark.parametrize(("version", "refused"), [("0.50", {"refresh", "clear"}), ("0.63", set())])
def test_1_6_job_types_by_version(local_airbyte_factory, version, refused) -> None:  # type: ignore[no-untyped-def]
    """``JobConfigType``: no refresh before v0.58.0, no clear before v0.60.0; an unknown value
    fails Jackson's binding of ``jobs/list``: Micronaut's 400."""
    server = local_airbyte_factory(seed="sample", airbyte_version=version)
    for config_type in ("sync", "reset_connection", "refresh", "clear"):
        response = config_post(
            server,
            "/jobs/list",
            {"configTypes": [config_type], "configId": server.sample_connection_id},
        )
        if config_type in refused:
            assert response.status_code == 400, config_type
            assert "Unexpected value" in response.text
        else:
            assert response.status_code == 200, (config_type, response.text)


def test_1_7_public_refresh_is_422_and_clear_runs_a_reset(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``JobsController.publicCreateJob``: refresh -> 422 "Refreshes are not supported in the
    public API"; clear -> ``jobService.reset`` (a ``reset`` job). Config ``connections/refresh``
    requires ``refreshMode`` and answers ``{job}``."""
    api = local_airbyte.public_api_url
    cid = local_airbyte.sample_connection_id
    refresh = httpx.post(f"{api}/jobs", json={"connectionId": cid, "jobType": "refresh"})
    assert refresh.status_code == 422
    assert refresh.json()["data"]["message"] == "Refreshes are not supported in the public API"
    assert_matches_component(PROBLEMS, "UnprocessableEntityProblemResponse", refresh.json())
    clear = httpx.post(f"{api}/jobs", json={"connectionId": cid, "jobType": "clear"})
    assert clear.status_code == 200 and clear.json()["jobType"] == "reset"
    info = wait_for_job(local_airbyte, clear.json()["jobId"])
    assert info["job"]["configType"] == "reset_connection"
    assert info["job"]["resetConfig"]["streamsToReset"]

    no_mode = config_post(local_airbyte, "/connections/refresh", {"connectionId": cid})
    assert no_mode.status_code == 400
    refreshed = _ok(
        local_airbyte, "/connections/refresh", {"connectionId": cid, "refreshMode": "Truncate"}
    )
    assert refreshed["job"]["configType"] == "refresh" and "attempts" not in refreshed
    assert_matches_schema(CFG, "/v1/connections/refresh", "post", 200, refreshed)
    done = wait_for_job(local_airbyte, refreshed["job"]["id"])
    assert done["job"]["status"] == "succeeded"


# -- §2 starting a sync ---------------------------------------------------------------------------


def test_2_8_already_running_is_409_on_both_apis(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """Config: ``ValueConflictKnownException`` (``SchedulerHandler.kt`` ~697-703); Public:
    ``try-again-later`` (``ConfigClientErrorHandler.kt`` ~94-97)."""
    cid = local_airbyte.sample_connection_id
    _control(local_airbyte, f"connections/{cid}/sync_duration", {"seconds": 30})
    _sync(local_airbyte)
    config = config_post(local_airbyte, "/connections/sync", {"connectionId": cid})
    assert config.status_code == 409
    assert config.json()["message"] == f"A sync is already running for: {cid}"
    public = httpx.post(
        f"{local_airbyte.public_api_url}/jobs", json={"connectionId": cid, "jobType": "sync"}
    )
    assert public.status_code == 409 and public.json()["title"] == "try-again-later"
    assert_matches_component(PROBLEMS, "TryAgainLaterConflictProblemResponse", public.json())


def test_2_9_inactive_connection_is_refused_not_already_running(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``submitManualSyncToWorker``: "Can only sync an active connection", an
    IllegalStateException: Public 409 ``state-conflict`` "Could not fulfill request"; Config
    500 with only an ``errorId`` (v2.0.0)."""
    cid = local_airbyte.sample_connection_id
    api = local_airbyte.public_api_url
    assert httpx.patch(f"{api}/connections/{cid}", json={"status": "inactive"}).status_code == 200
    public = httpx.post(f"{api}/jobs", json={"connectionId": cid, "jobType": "sync"})
    assert public.status_code == 409 and public.json()["title"] == "state-conflict"
    assert public.json()["data"]["message"] == "Could not fulfill request"
    assert_matches_component(PROBLEMS, "StateConflictProblemResponse", public.json())
    config = config_post(local_airbyte, "/connections/sync", {"connectionId": cid})
    assert config.status_code == 500 and set(config.json()) == {"errorId"}
    listed = _ok(local_airbyte, "/jobs/list", {"configTypes": ["sync"], "configId": cid})
    assert listed["totalJobCount"] == 0  # refused before any job existed


def test_2_10_each_accepted_start_is_exactly_one_new_job(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """No idempotency key: every accepted start is a new job with a higher id; a refused one
    (409) creates none. A client must look for its job afterwards."""
    cid = local_airbyte.sample_connection_id
    first = _sync(local_airbyte)
    wait_for_job(local_airbyte, first)
    second = _sync(local_airbyte)
    assert second > first
    wait_for_job(local_airbyte, second)
    listed = _ok(local_airbyte, "/jobs/list", {"configTypes": ["sync"], "configId": cid})
    assert [j["job"]["id"] for j in listed["jobs"]] == [second, first]


# -- §3 lists and pages ---------------------------------------------------------------------------


def test_3_11_config_connections_list_is_everything_unpaginated(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``ConnectionsHandler.listConnectionsForWorkspace``: every connection, with its catalog."""
    httpx.post(f"{local_airbyte.url}/_local/bulk", json={"connections": 150, "streams": 2})
    listed = _ok(local_airbyte, "/connections/list", {"workspaceId": local_airbyte.workspace_id})
    assert len(listed["connections"]) == 151
    assert all(c["syncCatalog"]["streams"] for c in listed["connections"])


def _public_pages(server: Any, path: str, key: str, limit: int) -> list[list[str]]:
    pages = []
    url: str = f"{server.public_api_url}{path}?limit={limit}"
    while url:
        body = httpx.get(url).json()
        if not body["data"]:
            break
        pages.append([item[key] for item in body["data"]])
        url = body["next"]
    return pages


def test_3_12_public_pages_come_in_an_unstable_order(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """LIMIT/OFFSET with no ORDER BY (``ConnectionServiceJooqImpl.kt`` ~966-1036): pages of one
    listing overlap and skip rows. Deterministic per ``list_seed``."""
    runs = []
    for _ in range(2):
        server = local_airbyte_factory(test_controls=True, list_seed=7)
        ids = httpx.post(f"{server.url}/_local/bulk", json={"connections": 40}).json()
        pages = _public_pages(server, "/connections", "connectionId", limit=7)
        seen = [i for page in pages for i in page]
        assert len(seen) == 40  # as many rows as exist...
        assert len(set(seen)) < 40  # ...but some twice and others never
        assert set(seen) < set(ids["connectionIds"])
        runs.append([ids["connectionIds"].index(i) for i in seen])
    assert runs[0] == runs[1]  # the same seed pages the same way


@pytest.mark.parametrize(("version", "paginated"), [("1.6", False), ("1.8", True)])
def test_3_13_sources_list_cursor_pagination_from_1_8(
    local_airbyte_factory, version, paginated
) -> None:  # type: ignore[no-untyped-def]
    """v1.8.0: ``sources/list`` pages by cursor, 20 by default, sorted by name then id
    (``SourceHandler.kt@v1.8.0:340-405``); before, the whole workspace."""
    server = local_airbyte_factory(airbyte_version=version)
    definitions = _ok(server, "/source_definitions/list")["sourceDefinitions"]
    faker = next(d for d in definitions if d["name"] == "Sample Data")["sourceDefinitionId"]
    for n in range(25):
        _ok(
            server,
            "/sources/create",
            {
                "sourceDefinitionId": faker,
                "workspaceId": server.workspace_id,
                "name": f"source {n:02d}",
                "connectionConfiguration": {},
            },
        )
    first = _ok(server, "/sources/list", {"workspaceId": server.workspace_id})
    if not paginated:
        assert len(first["sources"]) == 25 and "page_size" not in first
        return
    names = [s["name"] for s in first["sources"]]
    assert names == [f"source {n:02d}" for n in range(20)]
    assert first["page_size"] == 20 and first["num_connections"] == 25
    rest = _ok(
        server,
        "/sources/list",
        {"workspaceId": server.workspace_id, "cursor": first["sources"][-1]["sourceId"]},
    )
    assert [s["name"] for s in rest["sources"]] == [f"source {n:02d}" for n in range(20, 25)]


def test_3_14_public_connection_lists_only_selected_streams(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``CatalogConverter`` (~98, ~288): the configured catalog holds selected streams only."""
    cid = local_airbyte.sample_connection_id
    api = local_airbyte.public_api_url
    patched = httpx.patch(
        f"{api}/connections/{cid}",
        json={"configurations": {"streams": [{"name": "orders"}]}},
    )
    assert patched.status_code == 200, patched.text
    assert [s["name"] for s in patched.json()["configurations"]["streams"]] == ["orders"]
    assert [
        s["stream"]["name"] for s in _catalog(local_airbyte, cid)["syncCatalog"]["streams"]
    ] == ["orders"]


# -- §4 names, namespaces, schemas ----------------------------------------------------------------


def _postgres_to_duckdb(server: Any, pg: Any, tmp_path: Any, **fields: Any) -> str:
    definitions = _ok(server, "/source_definitions/list")["sourceDefinitions"]
    pg_def = next(d for d in definitions if d["name"] == "Postgres")["sourceDefinitionId"]
    source = _ok(
        server,
        "/sources/create",
        {
            "sourceDefinitionId": pg_def,
            "workspaceId": server.workspace_id,
            "name": "pg",
            "connectionConfiguration": {
                "host": pg.host,
                "port": pg.port,
                "database": pg.database,
                "username": pg.user,
                "schemas": ["public"],
            },
        },
    )
    dests = _ok(server, "/destination_definitions/list")["destinationDefinitions"]
    duck = next(d for d in dests if d["name"] == "DuckDB")["destinationDefinitionId"]
    destination = _ok(
        server,
        "/destinations/create",
        {
            "destinationDefinitionId": duck,
            "workspaceId": server.workspace_id,
            "name": "duck",
            "connectionConfiguration": {
                "destination_path": str(tmp_path / "ns.duckdb"),
                "schema": "landing",
            },
        },
    )
    created = _ok(
        server,
        "/connections/create",
        {
            "sourceId": source["sourceId"],
            "destinationId": destination["destinationId"],
            "status": "active",
            **fields,
        },
    )
    return str(created["connectionId"])


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("fields", "schema", "table"),
    [
        ({"namespaceDefinition": "source"}, "public", "items"),
        ({"namespaceDefinition": "destination"}, "landing", "items"),
        (
            {"namespaceDefinition": "customformat", "namespaceFormat": "x_${SOURCE_NAMESPACE}"},
            "x_public",
            "items",
        ),
        ({"namespaceDefinition": "customformat", "namespaceFormat": "   "}, "landing", "items"),
        ({}, "public", "items"),  # no namespaceDefinition: "source" (ConnectionsHandler.kt ~520)
        ({"namespaceDefinition": "source", "prefix": "   "}, "public", "items"),  # blank prefix
        ({"namespaceDefinition": "source", "prefix": "p_"}, "public", "p_items"),
    ],
)
def test_4_15_namespace_rules(
    local_airbyte_factory, pg_database, tmp_path, fields, schema, table
) -> None:  # type: ignore[no-untyped-def]
    """``Mapper.kt`` (~139-180): source / destination / customformat with
    ``${SOURCE_NAMESPACE}``, blank -> default, missing -> source; a blank prefix is ignored."""
    import duckdb

    server = local_airbyte_factory()
    with pg_database.connect() as conn:
        conn.execute("CREATE TABLE items (id int primary key, updated_at timestamptz)")
        conn.execute("INSERT INTO items VALUES (1, now()), (2, now())")
    connection_id = _postgres_to_duckdb(server, pg_database, tmp_path, **fields)
    info = wait_for_job(server, _sync(server, connection_id))
    assert info["job"]["status"] == "succeeded", info
    # §16: stats keyed by the source stream name, whatever the prefix.
    assert [s["streamName"] for s in info["job"]["streamAggregatedStats"]] == ["items"]
    db = duckdb.connect(str(tmp_path / "ns.duckdb"), read_only=True)
    try:
        tables = db.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    finally:
        db.close()
    assert tables == [(schema, table)]


def test_4_16_stats_keyed_by_source_stream_name(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``ReplicationWorkerHelper.kt`` ~264, ~339: counted before the mapper renames the stream."""
    cid = local_airbyte.sample_connection_id
    connection = _catalog(local_airbyte, cid)
    _ok(local_airbyte, "/connections/update", {**connection, "prefix": "renamed_"})
    info = wait_for_job(local_airbyte, _sync(local_airbyte))
    names = {s["streamName"] for s in info["job"]["streamAggregatedStats"]}
    assert names == {"customers", "products", "orders"}
    attempt = _ok(local_airbyte, "/jobs/get", {"id": info["job"]["id"]})["attempts"][0]
    assert {s["streamName"] for s in attempt["attempt"]["streamStats"]} == names


def test_4_17_field_selection_shrinks_the_stored_schema(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``CatalogConverter.toConfiguredProtocol``: ``properties.retain(selectedFieldNames)``;
    a fresh discover still lists every field; a de-selected cursor is refused."""
    cid = local_airbyte.sample_connection_id
    connection = _catalog(local_airbyte, cid)
    orders = next(
        s for s in connection["syncCatalog"]["streams"] if s["stream"]["name"] == "orders"
    )
    every = set(orders["stream"]["jsonSchema"]["properties"])
    keep = {"id", "updated_at"}
    orders["config"].update(
        fieldSelectionEnabled=True, selectedFields=[{"fieldPath": [f]} for f in sorted(keep)]
    )
    updated = _ok(local_airbyte, "/connections/update", connection)
    stored = next(s for s in updated["syncCatalog"]["streams"] if s["stream"]["name"] == "orders")
    assert set(stored["stream"]["jsonSchema"]["properties"]) == keep < every
    assert {tuple(f["fieldPath"]) for f in stored["config"]["selectedFields"]} == {
        ("id",),
        ("updated_at",),
    }
    discovered = _ok(
        local_airbyte, "/sources/discover_schema", {"sourceId": connection["sourceId"]}
    )
    fresh = next(s for s in discovered["catalog"]["streams"] if s["stream"]["name"] == "orders")
    assert set(fresh["stream"]["jsonSchema"]["properties"]) == every
    orders["config"]["selectedFields"] = [{"fieldPath": ["id"]}]  # the cursor left out
    refused = config_post(local_airbyte, "/connections/update", connection)
    assert refused.status_code == 422 and "Cursor field cannot be de-selected" in refused.text


def test_4_18_failed_discover_is_200_without_a_catalog(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``SchedulerHandler.retrieveDiscoveredSchema`` (~458-478)."""
    definitions = _ok(local_airbyte, "/source_definitions/list")["sourceDefinitions"]
    pg_def = next(d for d in definitions if d["name"] == "Postgres")["sourceDefinitionId"]
    source = _ok(
        local_airbyte,
        "/sources/create",
        {
            "sourceDefinitionId": pg_def,
            "workspaceId": local_airbyte.workspace_id,
            "name": "unreachable",
            "connectionConfiguration": {
                "host": "127.0.0.1",
                "port": 1,
                "database": "x",
                "username": "x",
                "password": "not-shown",
            },
        },
    )
    response = config_post(
        local_airbyte, "/sources/discover_schema", {"sourceId": source["sourceId"]}
    )
    assert response.status_code == 200
    body = response.json()
    assert_matches_schema(CFG, "/v1/sources/discover_schema", "post", 200, body)
    assert "catalog" not in body and "catalogId" not in body
    assert body["jobInfo"]["succeeded"] is False and body["jobInfo"]["failureReason"]
    assert "not-shown" not in response.text


# -- §5 HTTP details ------------------------------------------------------------------------------


def test_5_20_trailing_slashes_match_the_same_route(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """Micronaut resolves ``/x/`` like ``/x``: Prefect's clients call ``GET /api/v1/health/``."""
    health = httpx.get(f"{local_airbyte.url}/api/v1/health/")
    assert health.status_code == 200 and health.json() == {"available": True}
    assert httpx.get(f"{local_airbyte.public_api_url}/health/").status_code == 200
    jobs = httpx.get(f"{local_airbyte.public_api_url}/jobs/", follow_redirects=False)
    assert jobs.status_code == 200 and "data" in jobs.json()
    got = httpx.post(
        f"{local_airbyte.config_api_url}/connections/get/",
        json={"connectionId": local_airbyte.sample_connection_id},
    )
    assert got.status_code == 200


def test_5_21_endpoints_without_a_body_ignore_one(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """``workspaces/list`` and ``source_definitions/list`` take no body: whatever comes, with or
    without a Content-Type, is ignored (``workspaces/list`` exists up to v1.6.0)."""
    server = local_airbyte_factory(airbyte_version="1.6")
    for path in ("/workspaces/list", "/source_definitions/list", "/destination_definitions/list"):
        for kwargs in (
            {"content": b'{"workspaceId": "whatever"}'},
            {"content": b"not even json"},
            {"content": b""},
            {"json": {"anything": [1, 2]}},
        ):
            response = httpx.post(f"{server.config_api_url}{path}", **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 200, (path, kwargs, response.text)


def test_5_22_connector_type_at_the_top_level_only(local_airbyte, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``ActorConfigurationHelper.kt``: the type node is removed from the configuration on
    create, patch and put; ``destinationType`` comes from the definition id."""
    api = f"{local_airbyte.public_api_url}/destinations"
    config = {"destinationType": "duckdb", "destination_path": str(tmp_path / "t.duckdb")}
    created = httpx.post(
        api, json={"name": "d", "workspaceId": local_airbyte.workspace_id, "configuration": config}
    ).json()
    assert created["destinationType"] == "duckdb"
    assert "destinationType" not in created["configuration"]
    patched = httpx.patch(
        f"{api}/{created['destinationId']}", json={"configuration": config}
    ).json()
    assert "destinationType" not in patched["configuration"]


@pytest.mark.parametrize("huge", [2**63, 2**64, -(2**63) - 1])
def test_5_23_out_of_range_ids_are_4xx(local_airbyte, huge) -> None:  # type: ignore[no-untyped-def]
    """Ids are int64: Jackson cannot bind more, Micronaut answers 400 (never a 500)."""
    for path in ("/jobs/get", "/jobs/cancel", "/jobs/get_without_logs", "/jobs/get_light"):
        response = config_post(local_airbyte, path, {"id": huge})
        assert response.status_code == 400, (path, response.text)
    public = httpx.get(f"{local_airbyte.public_api_url}/jobs/{huge}")
    assert public.status_code == 400
    cancel = httpx.delete(f"{local_airbyte.public_api_url}/jobs/{huge}")
    assert cancel.status_code == 400


def test_5_24_cloud_tokens_live_about_three_minutes(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """Cloud: Public API at ``/v1``, tokens with ``expires_in`` about 180 s; OSS from v1.6.0:
    ``applicationTokenExpirationInMinutes`` (15) * 60."""
    cloud = local_airbyte_factory(airbyte_version="cloud", auth="client-credentials")
    assert cloud.public_api_url.endswith("/v1") and "/api/public" not in cloud.public_api_url
    token = httpx.post(
        f"{cloud.public_api_url}/applications/token",
        json={"client_id": "local-client", "client_secret": "local-secret"},
    )
    assert token.status_code == 200 and token.json()["expires_in"] == 180
    wrong = httpx.post(
        f"{cloud.public_api_url}/applications/token",
        json={"client_id": "local-client", "client_secret": "wrong"},
    )
    assert wrong.status_code == 401  # main: InvalidClientCredentialsExceptionHandler
    oss = local_airbyte_factory(auth="client-credentials")
    issued = httpx.post(
        f"{oss.public_api_url}/applications/token",
        json={"client_id": "local-client", "client_secret": "local-secret"},
    )
    assert issued.json()["expires_in"] == 900
