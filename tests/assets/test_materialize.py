"""Real Dagster materializations against the local Airbyte, over HTTP.

Every test starts its own server (state in tmp_path), builds definitions with
``build_airbyte_assets_definitions`` and runs ``dagster.materialize``; row counts are checked
against the rows that really landed in the destination tables.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import pytest

from dagster_airbyte_assets import (
    AirbyteWorkspace,
    build_airbyte_assets_definitions,
)
from dagster_airbyte_assets._sync import AirbyteSyncFailure, materialize_results
from dagster_airbyte_assets.client import AirbyteAttempt, AirbyteJob, AirbyteStreamStats
from dagster_airbyte_assets.errors import AirbyteConnectionInactiveError
from dagster_airbyte_assets.translator import MetadataKeys

SAMPLE_KEYS = {dg.AssetKey(["raw", t]) for t in ("customers", "products", "orders")}


def _workspace(server: Any, **kwargs: Any) -> AirbyteWorkspace:
    return AirbyteWorkspace(url=server.url, poll_interval=2.0, **kwargs)


def _build(
    server: Any, tmp_path: Path, **kwargs: Any
) -> tuple[AirbyteWorkspace, list[dg.AssetsDefinition]]:
    workspace = _workspace(server, **kwargs)
    assets = build_airbyte_assets_definitions(
        workspace=workspace, state_path=tmp_path / "airbyte-state.json"
    )
    return workspace, assets


def _materialize(assets: list[dg.AssetsDefinition], workspace: AirbyteWorkspace, **kw: Any):
    return dg.materialize(assets, resources={"airbyte": workspace}, **kw)


def _row_counts(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict[str, Any]]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        out[mat.asset_key] = {k: v.value for k, v in mat.metadata.items()}
    return out


def _config_post(server: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.config_api_url}/{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def _duckdb_path(server: Any) -> str:
    connection = _config_post(
        server, "connections/get", {"connectionId": server.sample_connection_id}
    )
    destination = _config_post(
        server, "destinations/get", {"destinationId": connection["destinationId"]}
    )
    return str(destination["connectionConfiguration"]["destination_path"])


def _table_counts(path: str) -> dict[str, int]:
    with duckdb.connect(path, read_only=True) as con:
        return {
            t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]  # type: ignore[index]
            for t in ("customers", "products", "orders")
        }


def _jobs(server: Any, connection_id: str) -> list[dict[str, Any]]:
    body = {"configTypes": ["sync"], "configId": connection_id}
    return _config_post(server, "jobs/list", body)["jobs"]


def test_sample_data_to_duckdb_first_then_incremental(local_airbyte: Any, tmp_path: Path) -> None:
    workspace, assets = _build(local_airbyte, tmp_path)
    assert {key for a in assets for key in a.keys} == SAMPLE_KEYS

    first = _materialize(assets, workspace)
    assert first.success
    first_meta = _row_counts(first)
    assert set(first_meta) == SAMPLE_KEYS
    counts = _table_counts(_duckdb_path(local_airbyte))
    for key, meta in first_meta.items():
        assert meta[MetadataKeys.ROW_COUNT] == counts[key.path[-1]] > 0
        assert meta[MetadataKeys.ATTEMPTS] == 1
        assert isinstance(meta[MetadataKeys.JOB_ID], int)
        assert meta[MetadataKeys.BYTES_COMMITTED] > 0
        assert meta[MetadataKeys.STATS_REPORTED] is True

    second = _materialize(assets, workspace)
    assert second.success
    after = _table_counts(_duckdb_path(local_airbyte))
    second_meta = _row_counts(second)
    moved = 0
    for key, meta in second_meta.items():
        table = key.path[-1]
        # Incremental append: the second sync adds exactly what it reports, no full reload.
        assert after[table] - counts[table] == meta[MetadataKeys.RECORDS_SYNCED]
        assert meta[MetadataKeys.RECORDS_SYNCED] < counts[table]
        # dagster/row_count is the table's size (Dagster's convention), counted in DuckDB.
        assert meta[MetadataKeys.ROW_COUNT] == after[table]
        moved += meta[MetadataKeys.RECORDS_SYNCED]
    assert moved > 0
    assert (
        second_meta[dg.AssetKey(["raw", "orders"])][MetadataKeys.JOB_ID]
        != first_meta[dg.AssetKey(["raw", "orders"])][MetadataKeys.JOB_ID]
    )


def test_selecting_one_stream_syncs_the_connection_and_reports_every_stream(
    local_airbyte: Any, tmp_path: Path
) -> None:
    # Airbyte syncs whole connections: the selected stream gets its MaterializeResult and the
    # others, which synced too, an AssetMaterialization event each. Nothing synced goes unsaid.
    workspace, assets = _build(local_airbyte, tmp_path)
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(
            assets, workspace, selection=[dg.AssetKey(["raw", "orders"])], instance=instance
        )
        assert result.success
        assert set(_row_counts(result)) == SAMPLE_KEYS
        for key in SAMPLE_KEYS:
            event = instance.get_latest_materialization_event(key)
            assert event is not None
            assert event.asset_materialization is not None
            assert event.asset_materialization.metadata[MetadataKeys.ROW_COUNT].value > 0
    assert len(_jobs(local_airbyte, local_airbyte.sample_connection_id)) == 1


def test_reload_from_saved_state_makes_no_api_calls(local_airbyte: Any, tmp_path: Path) -> None:
    _build(local_airbyte, tmp_path)
    httpx.delete(f"{local_airbyte.url}/_local/requests")
    _, assets = _build(local_airbyte, tmp_path)
    calls = httpx.get(f"{local_airbyte.url}/_local/requests").json()["total"]
    assert calls == 0
    assert {key for a in assets for key in a.keys} == SAMPLE_KEYS


def test_already_running_sync_is_attached_not_duplicated(
    local_airbyte: Any, tmp_path: Path
) -> None:
    connection_id = local_airbyte.sample_connection_id
    workspace, assets = _build(local_airbyte, tmp_path)
    httpx.post(
        f"{local_airbyte.url}/_local/connections/{connection_id}/sync_duration", json={"seconds": 3}
    ).raise_for_status()
    started = _config_post(local_airbyte, "connections/sync", {"connectionId": connection_id})
    result = _materialize(assets, workspace)
    assert result.success
    jobs = _jobs(local_airbyte, connection_id)
    assert len(jobs) == 1
    meta = _row_counts(result)[dg.AssetKey(["raw", "orders"])]
    assert meta[MetadataKeys.JOB_ID] == started["job"]["id"]


def test_failing_attempt_then_success(local_airbyte: Any, tmp_path: Path) -> None:
    connection_id = local_airbyte.sample_connection_id
    workspace, assets = _build(local_airbyte, tmp_path)
    httpx.post(
        f"{local_airbyte.url}/_local/connections/{connection_id}/fail_next_attempts",
        json={"count": 1, "message": "source hiccup"},
    ).raise_for_status()
    result = _materialize(assets, workspace)
    assert result.success
    for meta in _row_counts(result).values():
        assert meta[MetadataKeys.ATTEMPTS] == 2


def test_job_failure_raises_failure_with_airbyte_reason(local_airbyte: Any, tmp_path: Path) -> None:
    connection_id = local_airbyte.sample_connection_id
    workspace, assets = _build(local_airbyte, tmp_path)
    httpx.post(
        f"{local_airbyte.url}/_local/connections/{connection_id}/fail_next_attempts",
        json={"count": 10, "message": "credentials rejected by source"},
    ).raise_for_status()
    result = _materialize(assets, workspace, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure is not None
    assert "credentials rejected by source" in (failure.description or "")
    assert "failed" in (failure.description or "")
    assert not result.get_asset_materialization_events()


def test_poll_timeout_cancels_the_job(local_airbyte: Any, tmp_path: Path) -> None:
    connection_id = local_airbyte.sample_connection_id
    workspace, assets = _build(local_airbyte, tmp_path, poll_timeout=1.5)
    httpx.post(
        f"{local_airbyte.url}/_local/connections/{connection_id}/sync_duration",
        json={"seconds": 30},
    ).raise_for_status()
    with pytest.raises(AirbyteSyncFailure, match="poll_timeout"):
        _materialize(assets, workspace)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = _jobs(local_airbyte, connection_id)[0]["job"]["status"]
        if status == "cancelled":
            break
        time.sleep(0.2)
    assert status == "cancelled"


def test_unknown_job_status_is_treated_as_running(local_airbyte: Any, tmp_path: Path) -> None:
    connection_id = local_airbyte.sample_connection_id
    workspace, assets = _build(local_airbyte, tmp_path)
    httpx.post(
        f"{local_airbyte.url}/_local/connections/{connection_id}/sync_duration", json={"seconds": 4}
    ).raise_for_status()
    job = _config_post(local_airbyte, "connections/sync", {"connectionId": connection_id})["job"]
    httpx.post(
        f"{local_airbyte.url}/_local/jobs/{job['id']}/force_status",
        json={"status": "waiting_for_capacity"},
    ).raise_for_status()
    unknown = "reports status 'waiting_for_capacity'"
    jobs_before = len(_jobs(local_airbyte, connection_id))

    def saw_unknown_status() -> bool:
        return any(
            unknown in (entry.user_message or "")
            for run in instance.get_runs()
            for entry in instance.all_logs(run.run_id)
        )

    def release_once_seen() -> None:
        # The job stays in the unknown status until the run has observed it, so the run cannot
        # succeed without having waited through it.
        deadline = time.monotonic() + 120
        while not saw_unknown_status() and time.monotonic() < deadline:
            time.sleep(0.1)
        httpx.post(
            f"{local_airbyte.url}/_local/jobs/{job['id']}/force_status", json={"status": None}
        ).raise_for_status()

    with dg.instance_for_test() as instance:
        releaser = threading.Thread(target=release_once_seen)
        releaser.start()
        result = _materialize(assets, workspace, instance=instance)
        releaser.join()
        assert saw_unknown_status()
    assert result.success
    assert _row_counts(result)[dg.AssetKey(["raw", "orders"])][MetadataKeys.JOB_ID] == job["id"]
    assert len(_jobs(local_airbyte, connection_id)) == jobs_before  # attached, started none


def test_inactive_connection_is_flagged_at_load_and_refused_at_run(
    local_airbyte: Any, tmp_path: Path
) -> None:
    cid = local_airbyte.sample_connection_id
    _config_post(local_airbyte, "connections/update", {"connectionId": cid, "status": "inactive"})
    workspace, assets = _build(local_airbyte, tmp_path)
    spec = next(s for a in assets for s in a.specs if s.key == dg.AssetKey(["raw", "orders"]))
    assert spec.metadata[MetadataKeys.CONNECTION_STATUS] == "inactive"
    assert "refuses to sync it until it is enabled" in (spec.description or "")
    with pytest.raises(AirbyteSyncFailure) as caught:
        _materialize(assets, workspace)
    assert isinstance(caught.value.error, AirbyteConnectionInactiveError)
    assert "its status is 'inactive'" in str(caught.value)
    assert _jobs(local_airbyte, cid) == []


def test_connection_deleted_since_load_says_to_refresh_the_saved_state(
    local_airbyte: Any, tmp_path: Path
) -> None:
    cid = local_airbyte.sample_connection_id
    workspace, assets = _build(local_airbyte, tmp_path)
    deleted = httpx.post(
        f"{local_airbyte.config_api_url}/connections/delete", json={"connectionId": cid}
    )
    deleted.raise_for_status()  # Airbyte soft-deletes: the connection is "deprecated"
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(assets, workspace, raise_on_error=False, instance=instance)
        assert not result.success
        for key in SAMPLE_KEYS:  # nothing is marked fresh
            assert instance.get_latest_materialization_event(key) is None
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure is not None
    assert "it was deleted: refresh the saved state" in (failure.description or "")
    assert _jobs(local_airbyte, cid) == []


def test_stream_deselected_since_load_fails_its_asset_only(
    local_airbyte: Any, tmp_path: Path
) -> None:
    cid = local_airbyte.sample_connection_id
    workspace, assets = _build(local_airbyte, tmp_path)
    connection = _config_post(local_airbyte, "connections/get", {"connectionId": cid})
    streams = connection["syncCatalog"]["streams"]
    for item in streams:
        if item["stream"]["name"] == "products":
            item["config"]["selected"] = False
    _config_post(
        local_airbyte,
        "connections/update",
        {"connectionId": cid, "syncCatalog": {"streams": streams}},
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(assets, workspace, raise_on_error=False, instance=instance)
        assert not result.success
        products = dg.AssetKey(["raw", "products"])
        assert instance.get_latest_materialization_event(products) is None
        for key in SAMPLE_KEYS - {products}:
            event = instance.get_latest_materialization_event(key)
            assert event is not None and event.asset_materialization is not None
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure is not None
    assert "did not sync stream(s) products" in (failure.description or "")
    assert "Refresh the saved state" in (failure.description or "")
    (job,) = _jobs(local_airbyte, cid)
    assert job["job"]["status"] == "succeeded"


def test_partial_success_and_empty_streams_after_failures_are_said() -> None:
    attempts = [
        AirbyteAttempt(attempt_number=0, status="failed", partial_success=True),
        AirbyteAttempt(attempt_number=1, status="succeeded"),
    ]
    job = AirbyteJob(
        job_id=9,
        status="succeeded",
        job_type="sync",
        connection_id="c",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        attempts=attempts,
        stream_stats=[
            AirbyteStreamStats(stream_name="orders", records_committed=0),
            AirbyteStreamStats(stream_name="customers", records_committed=5),
        ],
        stats_source="attempts",
    )
    specs = [
        dg.AssetSpec(["raw", name], metadata={MetadataKeys.STREAM_NAME: name})
        for name in ("orders", "customers")
    ]
    warnings: list[str] = []

    class Log:
        def info(self, msg: str, /) -> None:
            pass

        def warning(self, msg: str, /) -> None:
            warnings.append(msg)

    results = {r.asset_key: r.metadata for r in materialize_results(job, specs, log=Log())}
    for metadata in results.values():
        assert metadata[MetadataKeys.PARTIAL_SUCCESS] is True
        assert metadata[MetadataKeys.FAILED_ATTEMPTS] == 1
        assert metadata[MetadataKeys.ATTEMPTS] == 2
    assert results[dg.AssetKey(["raw", "orders"])][MetadataKeys.RECORDS_SYNCED] == 0
    assert any("partialSuccess" in w for w in warnings)
    assert any("0 records for stream(s) orders after 1 failed attempt(s)" in w for w in warnings)


def test_a_partial_success_is_said_and_counted_over_attempts(
    local_airbyte: Any, tmp_path: Path
) -> None:
    # The first attempt commits one stream, then fails (partialSuccess); the second succeeds.
    # The streams are incremental: each stream's rows are the sum over both attempts, which
    # is what landed in DuckDB.
    connection_id = local_airbyte.sample_connection_id
    workspace, assets = _build(local_airbyte, tmp_path)
    httpx.post(
        f"{local_airbyte.url}/_local/connections/{connection_id}/fail_next_attempts",
        json={"count": 1, "after_streams": 1, "message": "source died mid-sync"},
    ).raise_for_status()
    result = _materialize(assets, workspace)
    assert result.success
    counts = _table_counts(_duckdb_path(local_airbyte))
    metadata = _row_counts(result)
    assert len(metadata) == 3
    for key, meta in metadata.items():
        assert meta[MetadataKeys.PARTIAL_SUCCESS] is True
        assert (meta[MetadataKeys.ATTEMPTS], meta[MetadataKeys.FAILED_ATTEMPTS]) == (2, 1)
        assert meta[MetadataKeys.RECORDS_SYNCED] == counts[key.path[-1]] > 0
        assert meta[MetadataKeys.ROW_COUNT] == counts[key.path[-1]]
