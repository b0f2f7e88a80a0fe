"""Row counts on every Airbyte version profile, from where each version keeps them.

Each profile of the local Airbyte behaves like one Airbyte release (``local_airbyte.profiles``):
no job-level statistics on 0.50, hydrated ``jobs/get_without_logs`` from 0.52, ``queued`` jobs
on Cloud, no Config API behind a Public-only proxy. On each, a real materialization must
report the rows that really landed, and waiting must never call an endpoint that reads job
logs (counted by the server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import pytest

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions
from dagster_airbyte_assets.translator import MetadataKeys

TABLES = ("customers", "products", "orders")


def control(server: Any, method: str, path: str) -> Any:
    response = httpx.request(method, f"{server.url}/_local/{path}", timeout=30)
    response.raise_for_status()
    return response


def _config(server: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.config_api_url}/{path}", json=body, timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def jobs_of(server: Any, connection_id: str) -> list[dict[str, Any]]:
    body = {"configTypes": ["sync"], "configId": connection_id}
    return [j["job"] for j in _config(server, "jobs/list", body)["jobs"]]


def sample_duckdb_path(server: Any) -> str:
    connection = _config(server, "connections/get", {"connectionId": server.sample_connection_id})
    destination = _config(
        server, "destinations/get", {"destinationId": connection["destinationId"]}
    )
    return str(destination["connectionConfiguration"]["destination_path"])


def duckdb_count(path: str, schema: str, table: str) -> int:
    with duckdb.connect(path, read_only=True) as con:
        row = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
    assert row is not None
    return int(row[0])


def materialized_metadata(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict[str, Any]]:
    out: dict[dg.AssetKey, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        out[mat.asset_key] = {k: v.value for k, v in mat.metadata.items()}
    return out


WITH_STATS = ["0.50", "0.63", "1.6", "1.8", "2.0", "cloud"]


def _workspace(server: Any) -> AirbyteWorkspace:
    if server.airbyte_version == "0.50":  # no Public API in OSS yet: the Config API alone
        return AirbyteWorkspace(url=server.config_api_url, poll_interval=1.0)
    if server.airbyte_version == "cloud":  # Public API at /v1, Config API at /api/v1
        return AirbyteWorkspace(
            url=server.public_api_url,
            api="public",
            public_api_url=server.public_api_url,
            config_api_url=server.config_api_url,
            poll_interval=1.0,
        )
    return AirbyteWorkspace(url=server.url, poll_interval=1.0)


def _run(
    server: Any, tmp_path: Path, messages: list[str] | None = None
) -> tuple[dg.ExecuteInProcessResult, dict[str, Any]]:
    workspace = _workspace(server)
    assets = build_airbyte_assets_definitions(
        workspace=workspace, state_path=tmp_path / "state.json"
    )
    control(server, "DELETE", "requests")
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
        if messages is not None:
            messages.extend(r.user_message for r in instance.all_logs(result.run_id))
    counts = control(server, "GET", "requests").json()
    return result, counts


@pytest.mark.timeout(120)
@pytest.mark.parametrize("version", WITH_STATS)
def test_row_counts_on_every_version_and_no_log_reads(
    local_airbyte_factory: Any, tmp_path: Path, version: str
) -> None:
    server = local_airbyte_factory(seed="sample", test_controls=True, airbyte_version=version)
    result, counts = _run(server, tmp_path)
    assert result.success
    (job,) = jobs_of(server, server.sample_connection_id)
    path = sample_duckdb_path(server)
    metadata = materialized_metadata(result)
    assert len(metadata) == len(TABLES)
    for key, meta in metadata.items():
        assert meta[MetadataKeys.STATS_REPORTED] is True
        assert meta[MetadataKeys.JOB_ID] == job["id"]
        assert meta[MetadataKeys.ROW_COUNT] == duckdb_count(path, "raw", key.path[-1]) > 0
        assert meta[MetadataKeys.ATTEMPTS] == 1
    by_route = counts["by_route"]
    # jobs/get reads every attempt's log: never called. The only log-carrying call is the
    # Config API's own start (its answer is a JobInfoRead), where the Config dialect starts.
    assert by_route.get("POST /api/v1/jobs/get", 0) == 0
    assert by_route.get("POST /api/v1/jobs/cancel", 0) == 0
    starts = by_route.get("POST /api/v1/connections/sync", 0)
    assert counts["by_category"]["log_carrying"] == starts <= 1


@pytest.mark.timeout(120)
def test_public_api_only_says_the_row_counts_are_unknown(
    local_airbyte_factory: Any, tmp_path: Path
) -> None:
    server = local_airbyte_factory(seed="sample", test_controls=True, airbyte_version="public-only")
    messages: list[str] = []
    result, counts = _run(server, tmp_path, messages)
    assert result.success
    (job,) = jobs_of_public(server)
    metadata = materialized_metadata(result)
    assert len(metadata) == len(TABLES)
    for meta in metadata.values():
        assert meta[MetadataKeys.STATS_REPORTED] is False
        assert MetadataKeys.RECORDS_SYNCED not in meta
        # No made-up attempts: the Public API reports none.
        assert MetadataKeys.ATTEMPTS not in meta
        assert meta[MetadataKeys.JOB_ID] == job["jobId"]
        assert meta[MetadataKeys.JOB_ROWS_SYNCED] == job["rowsSynced"] > 0
    text = "\n".join(messages)
    assert "per-stream numbers are unknown" in text
    assert "Public API, which reports no per-stream numbers" in text
    assert counts["by_category"]["log_carrying"] == 0


def jobs_of_public(server: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.public_api_url}/jobs",
        params={"connectionId": server.sample_connection_id, "orderBy": "createdAt|DESC"},
    )
    response.raise_for_status()
    jobs: list[dict[str, Any]] = response.json()["data"]
    return jobs
