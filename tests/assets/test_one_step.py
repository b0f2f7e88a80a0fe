"""``one_step=True``: many connections synced concurrently from a single Dagster step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions
from dagster_airbyte_assets.translator import MetadataKeys


def _add_connections(server: Any, prefixes: list[str]) -> list[str]:
    """More Sample Data → DuckDB connections beside the seeded one, each with its own prefix."""
    client = AirbyteWorkspace(url=server.config_api_url).get_client()
    seeded = client.get_connection(server.sample_connection_id)
    ids = []
    for prefix in prefixes:
        connection = client.create_connection(
            seeded.source_id,
            seeded.destination_id,
            name=f"Sample {prefix}",
            streams=seeded.streams,
            prefix=prefix,
        )
        ids.append(connection.connection_id)
    return ids


def _set_duration(server: Any, connection_id: str, seconds: float) -> None:
    httpx.post(
        f"{server.url}/_local/connections/{connection_id}/sync_duration",
        json={"seconds": seconds},
    ).raise_for_status()


def test_one_step_syncs_connections_concurrently(local_airbyte: Any, tmp_path: Path) -> None:
    extra = _add_connections(local_airbyte, ["a_", "b_"])
    for connection_id in [local_airbyte.sample_connection_id, *extra]:
        _set_duration(local_airbyte, connection_id, 2.0)
    workspace = AirbyteWorkspace(url=local_airbyte.url, poll_interval=1.0)
    assets = build_airbyte_assets_definitions(
        workspace=workspace, state_path=tmp_path / "state.json", one_step=True
    )
    assert len(assets) == 1
    assert len(list(assets[0].keys)) == 9

    result = dg.materialize(assets, resources={"airbyte": workspace})
    assert result.success
    events = result.get_asset_materialization_events()
    assert len(events) == 9
    job_ids = {
        e.event_specific_data.materialization.metadata[MetadataKeys.JOB_ID].value  # type: ignore[union-attr]
        for e in events
    }
    assert len(job_ids) == 3
    # Concurrent, not one after another: every job started before any of them ended
    # (the server's own timestamps, no wall-clock threshold).
    spans = [
        httpx.get(f"{local_airbyte.url}/_local/jobs/{job_id}/timeline").json() for job_id in job_ids
    ]
    assert max(span["createdAt"] for span in spans) < min(span["endedAt"] for span in spans)


def test_one_step_subset_syncs_only_the_selected_connections(
    local_airbyte: Any, tmp_path: Path
) -> None:
    extra = _add_connections(local_airbyte, ["a_"])
    workspace = AirbyteWorkspace(url=local_airbyte.url, poll_interval=1.0)
    assets = build_airbyte_assets_definitions(
        workspace=workspace, state_path=tmp_path / "state.json", one_step=True
    )
    result = dg.materialize(
        assets, resources={"airbyte": workspace}, selection=[dg.AssetKey(["raw", "a_orders"])]
    )
    assert result.success
    keys = {e.asset_key for e in result.get_asset_materialization_events()}
    # The whole selected connection synced; the other connection did not.
    assert keys == {dg.AssetKey(["raw", f"a_{t}"]) for t in ("customers", "products", "orders")}
    client = workspace.get_client()
    assert client.list_jobs(connection_id=local_airbyte.sample_connection_id) == []
    assert len(client.list_jobs(connection_id=extra[0])) == 1


def test_one_step_reports_failures_after_the_successes(local_airbyte: Any, tmp_path: Path) -> None:
    (failing,) = _add_connections(local_airbyte, ["bad_"])
    httpx.post(
        f"{local_airbyte.url}/_local/connections/{failing}/fail_next_attempts",
        json={"count": 10, "message": "source is down"},
    ).raise_for_status()
    workspace = AirbyteWorkspace(url=local_airbyte.url, poll_interval=1.0)
    assets = build_airbyte_assets_definitions(
        workspace=workspace, state_path=tmp_path / "state.json", one_step=True
    )
    result = dg.materialize(assets, resources={"airbyte": workspace}, raise_on_error=False)
    assert not result.success
    keys = {e.asset_key for e in result.get_asset_materialization_events()}
    assert keys == {dg.AssetKey(["raw", t]) for t in ("customers", "products", "orders")}
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure is not None
    assert "source is down" in (failure.description or "")
