"""The sensor for syncs started outside Dagster, against the local Airbyte over HTTP."""

from __future__ import annotations

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

from dagster_airbyte_assets.client import AirbyteSchedule
from dagster_airbyte_assets.sensor import SYNC_STATUS_KEY, build_airbyte_sync_sensor


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two jobs per page, so every listing crosses pages."""
    from dagster_airbyte_assets.client import _public_api

    monkeypatch.setattr(_public_api, "PAGE_SIZE", 2)


def test_external_syncs_are_reported_once_with_true_row_counts(
    local_airbyte: Any, tmp_path: Path, small_pages: None
) -> None:
    cid = local_airbyte.sample_connection_id
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    start = datetime.now(UTC) - timedelta(seconds=5)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        sensor = build_airbyte_sync_sensor(workspace=workspace, assets=assets, start_from=start)
        first = evaluate_sensor(sensor, instance, None)
        assert not first.asset_events

        # 1. Dagster launches a sync: never reported by the sensor.
        result = dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
        assert result.success
        materialization = result.get_asset_materialization_events()[0].materialization
        dagster_job = int(str(materialization.metadata["airbyte/job_id"].value))
        # 2. Someone starts a sync through the Airbyte API.
        api_job = start_sync_via_api(local_airbyte, cid)
        wait_for_job(local_airbyte, api_job)
        # 3. Airbyte's own scheduler runs one: an every-minute cron (Airbyte >= 1.8 refuses
        # anything more frequent) and one scheduler pass told it is two minutes from now.
        workspace.get_client().update_connection(
            cid,
            schedule=AirbyteSchedule(
                schedule_type="cron", cron_expression="0 * * * * ?", cron_time_zone="UTC"
            ),
        )
        later = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
        started = local_post(local_airbyte, "scheduler/tick", {"now": later})["startedJobIds"]
        workspace.get_client().update_connection(
            cid, schedule=AirbyteSchedule(schedule_type="manual")
        )
        assert len(started) == 1
        scheduled_job = int(started[0])
        wait_for_job(local_airbyte, scheduled_job)

        second = evaluate_sensor(sensor, instance, first.cursor)
        events = second.asset_events or []
        assert all(isinstance(e, dg.AssetMaterialization) for e in events)
        reported = {(e.asset_key, int(str(e.metadata["airbyte/job_id"].value))) for e in events}
        keys = {dg.AssetKey(["raw", t]) for t in TABLES}
        assert reported == {(k, j) for k in keys for j in (api_job, scheduled_job)}
        assert dagster_job not in {j for _, j in reported}
        assert len(events) == 6  # exactly once each
        # Row counts: Dagster's + the sensor's add up to what really landed in DuckDB.
        assert materialized_row_counts(instance) == duckdb_counts(local_airbyte)
        assert all(e.metadata["airbyte/job_url"] for e in events)

        # Next tick, and a "restarted" sensor that lost its cursor: nothing again.
        assert not evaluate_sensor(sensor, instance, second.cursor).asset_events
        restarted = build_airbyte_sync_sensor(workspace=workspace, assets=assets, start_from=start)
        assert not evaluate_sensor(restarted, instance, None).asset_events


def test_failed_external_sync_is_reported_as_failed_observations(
    local_airbyte: Any, tmp_path: Path
) -> None:
    cid = local_airbyte.sample_connection_id
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        sensor = build_airbyte_sync_sensor(
            workspace=workspace, assets=assets, start_from=datetime.now(UTC) - timedelta(seconds=5)
        )
        local_post(local_airbyte, f"connections/{cid}/fail_next_attempts", {"count": 10})
        job_id = start_sync_via_api(local_airbyte, cid)
        assert wait_for_job(local_airbyte, job_id)["status"] == "failed"
        result = evaluate_sensor(sensor, instance, None)
        events = result.asset_events or []
        assert len(events) == 3
        for event in events:
            assert isinstance(event, dg.AssetObservation)
            assert event.metadata[SYNC_STATUS_KEY].value == "failed"
            assert event.metadata["airbyte/job_id"].value == job_id
        assert not evaluate_sensor(sensor, instance, result.cursor).asset_events


def test_every_tick_says_what_it_reported_and_why(local_airbyte: Any, tmp_path: Path) -> None:
    cid = local_airbyte.sample_connection_id
    name = config_post(local_airbyte, "connections/get", {"connectionId": cid})["name"]
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    start = datetime.now(UTC) - timedelta(seconds=5)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        sensor = build_airbyte_sync_sensor(workspace=workspace, assets=assets, start_from=start)
        idle = evaluate_sensor(sensor, instance, None)
        assert idle.skip_reason is not None
        assert f"No sync of Airbyte connection(s) {name!r} ended since" in (
            idle.skip_reason.skip_message or ""
        )

        result = dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
        assert result.success
        ours = evaluate_sensor(sensor, instance, idle.cursor)
        assert not ours.asset_events
        [dagster_job] = [j["job"]["id"] for j in _sync_jobs(local_airbyte, cid)]
        assert ours.skip_reason is not None
        assert f"job {dagster_job} of connection {name!r} was launched by Dagster" in (
            ours.skip_reason.skip_message or ""
        )

        api_job = start_sync_via_api(local_airbyte, cid)
        wait_for_job(local_airbyte, api_job)
        theirs = evaluate_sensor(sensor, instance, ours.cursor)
        assert theirs.skip_reason is not None
        assert (
            f"reported job {api_job} of connection {name!r} (succeeded, started outside "
            "Dagster) as materializations" in (theirs.skip_reason.skip_message or "")
        )
        events = theirs.asset_events or []
        assert len(events) == 3
        for event in events:
            assert event.description == (
                f"Airbyte job {api_job} of connection {name!r} (succeeded), started outside "
                "Dagster (sensor report; streams customers, orders, products)."
            )
        assert cid not in (theirs.skip_reason.skip_message or "")
        assert len(_sync_jobs(local_airbyte, cid)) == 2


def _sync_jobs(server: Any, cid: str) -> list[dict[str, Any]]:
    body = {"configTypes": ["sync"], "configId": cid}
    jobs: list[dict[str, Any]] = config_post(server, "jobs/list", body)["jobs"]
    return jobs
