"""The sync sensor on the Config API, and how it tells Dagster's own syncs from external ones.

Local Airbyte over HTTP, real Dagster instances and runs: a sync Dagster launched (even one
that failed) is never reported as external, and jobs are deferred while a Dagster run that may
materialize the connection's assets is still in progress.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from around_helpers import (
    TABLES,
    build_assets,
    config_post,
    duckdb_counts,
    evaluate_sensor,
    local_post,
    materialized_row_counts,
    start_sync_via_api,
    wait_for_job,
    workspace_for,
)

from dagster_airbyte_assets.resource import AirbyteWorkspace
from dagster_airbyte_assets.sensor import SYNC_STATUS_KEY, build_airbyte_sync_sensor

KEYS = {dg.AssetKey(["raw", t]) for t in TABLES}


def _reported(result: dg.SensorResult) -> set[tuple[dg.AssetKey, int]]:
    return {
        (e.asset_key, int(str(e.metadata["airbyte/job_id"].value)))
        for e in result.asset_events or []
    }


def _sync_via_config_api(server: Any, connection_id: str) -> int:
    """An external sync started the way the Config API's users do: connections/sync."""
    body = config_post(server, "connections/sync", {"connectionId": connection_id})
    return int(body["job"]["id"])


def test_config_api_sensor_reports_external_syncs_once_with_true_row_counts(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_airbyte_assets.client import _config_api

    monkeypatch.setattr(_config_api, "_PAGE_SIZE", 1)  # every listing crosses pages
    cid = local_airbyte.sample_connection_id
    workspace = AirbyteWorkspace(url=local_airbyte.config_api_url, poll_interval=1.0)
    assert workspace.get_client().api == "config"
    assets = build_assets(workspace, tmp_path)
    start = datetime.now(UTC) - timedelta(seconds=5)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        sensor = build_airbyte_sync_sensor(workspace=workspace, assets=assets, start_from=start)
        first = evaluate_sensor(sensor, instance, None)
        assert not first.asset_events

        result = dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
        assert result.success
        materialization = result.get_asset_materialization_events()[0].materialization
        dagster_job = int(str(materialization.metadata["airbyte/job_id"].value))
        external = [_sync_via_config_api(local_airbyte, cid)]
        wait_for_job(local_airbyte, external[0])
        external.append(_sync_via_config_api(local_airbyte, cid))
        wait_for_job(local_airbyte, external[1])

        second = evaluate_sensor(sensor, instance, first.cursor)
        events = second.asset_events or []
        assert all(isinstance(e, dg.AssetMaterialization) for e in events)
        assert len(events) == 6
        assert _reported(second) == {(k, j) for k in KEYS for j in external}
        assert dagster_job not in external
        # Dagster's sync plus the sensor's reports add up to what landed in DuckDB.
        assert materialized_row_counts(instance) == duckdb_counts(local_airbyte)

        assert not evaluate_sensor(sensor, instance, second.cursor).asset_events
        restarted = build_airbyte_sync_sensor(workspace=workspace, assets=assets, start_from=start)
        assert not evaluate_sensor(restarted, instance, None).asset_events


def test_failed_sync_launched_by_dagster_is_not_reported(
    local_airbyte: Any, tmp_path: Path
) -> None:
    cid = local_airbyte.sample_connection_id
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        sensor = build_airbyte_sync_sensor(
            workspace=workspace, assets=assets, start_from=datetime.now(UTC) - timedelta(seconds=5)
        )
        local_post(local_airbyte, f"connections/{cid}/fail_next_attempts", {"count": 6})
        result = dg.materialize(
            assets, resources={"airbyte": workspace}, instance=instance, raise_on_error=False
        )
        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
        user_data = failure.step_failure_data.user_failure_data
        assert user_data is not None
        dagster_job = int(str(user_data.metadata["airbyte/job_id"].value))
        assert wait_for_job(local_airbyte, dagster_job)["status"] == "failed"
        # A control in the same window: an external failed sync *is* reported.
        external = start_sync_via_api(local_airbyte, cid)
        assert wait_for_job(local_airbyte, external)["status"] == "failed"

        tick = evaluate_sensor(sensor, instance, None)
        events = tick.asset_events or []
        assert all(isinstance(e, dg.AssetObservation) for e in events)
        assert all(e.metadata[SYNC_STATUS_KEY].value == "failed" for e in events)
        assert _reported(tick) == {(k, external) for k in KEYS}
        assert not evaluate_sensor(sensor, instance, tick.cursor).asset_events


def test_jobs_are_deferred_while_a_dagster_run_is_in_progress(
    local_airbyte: Any, tmp_path: Path
) -> None:
    cid = local_airbyte.sample_connection_id
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        sensor = build_airbyte_sync_sensor(
            workspace=workspace, assets=assets, start_from=datetime.now(UTC) - timedelta(seconds=5)
        )
        external = start_sync_via_api(local_airbyte, cid)
        wait_for_job(local_airbyte, external)

        # A real Dagster run whose sync takes a few seconds, in a thread.
        local_post(local_airbyte, f"connections/{cid}/sync_duration", {"seconds": 3})
        outcome: dict[str, Any] = {}

        def run() -> None:
            outcome["result"] = dg.materialize(
                assets, resources={"airbyte": workspace}, instance=instance
            )

        thread = threading.Thread(target=run)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not instance.get_runs(
                filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
            ):
                assert time.monotonic() < deadline, "the Dagster run never started"
                time.sleep(0.05)
            busy = evaluate_sensor(sensor, instance, None)
            # The external job is finished, but the connection is busy: deferred, not decided.
            assert not busy.asset_events
        finally:
            thread.join(timeout=30)
        local_post(local_airbyte, f"connections/{cid}/sync_duration", {"seconds": 0})
        result = outcome["result"]
        assert result.success
        materialization = result.get_asset_materialization_events()[0].materialization
        dagster_job = int(str(materialization.metadata["airbyte/job_id"].value))

        done = evaluate_sensor(sensor, instance, busy.cursor)
        assert _reported(done) == {(k, external) for k in KEYS}
        assert dagster_job != external
        assert not evaluate_sensor(sensor, instance, done.cursor).asset_events


def test_a_started_run_record_defers_only_the_connections_it_targets(
    local_airbyte: Any, tmp_path: Path
) -> None:
    """A run record in STARTED status (what the run monitor sees mid-run) defers the jobs."""
    from dagster._core.test_utils import create_run_for_test

    cid = local_airbyte.sample_connection_id
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        sensor = build_airbyte_sync_sensor(
            workspace=workspace, assets=assets, start_from=datetime.now(UTC) - timedelta(seconds=5)
        )
        # A run of something else does not defer the connection's jobs...
        create_run_for_test(
            instance,
            job_name="other",
            status=dg.DagsterRunStatus.STARTED,
            asset_selection=frozenset({dg.AssetKey(["elsewhere"])}),
        )
        external = start_sync_via_api(local_airbyte, cid)
        wait_for_job(local_airbyte, external)
        first = evaluate_sensor(sensor, instance, None)
        assert _reported(first) == {(k, external) for k in KEYS}

        # ...one that may materialize the connection's assets does.
        run = create_run_for_test(
            instance,
            job_name="airbyte",
            status=dg.DagsterRunStatus.STARTED,
            asset_selection=frozenset({dg.AssetKey(["raw", "orders"])}),
        )
        second_job = start_sync_via_api(local_airbyte, cid)
        wait_for_job(local_airbyte, second_job)
        deferred = evaluate_sensor(sensor, instance, first.cursor)
        assert not deferred.asset_events
        assert not evaluate_sensor(sensor, instance, deferred.cursor).asset_events

        # The run ends without materializing anything: the job was not Dagster's after all.
        instance.report_run_failed(run)
        done = evaluate_sensor(sensor, instance, deferred.cursor)
        assert _reported(done) == {(k, second_job) for k in KEYS}
        assert not evaluate_sensor(sensor, instance, done.cursor).asset_events
