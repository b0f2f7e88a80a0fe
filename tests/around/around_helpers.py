"""Shared helpers for the tests around the stream assets (local Airbyte over HTTP)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx

from dagster_airbyte_assets.assets import build_airbyte_assets_definitions
from dagster_airbyte_assets.resource import AirbyteWorkspace


def workspace_for(server: Any, **kwargs: Any) -> AirbyteWorkspace:
    return AirbyteWorkspace(url=server.url, poll_interval=1.0, **kwargs)


def build_assets(
    workspace: AirbyteWorkspace, tmp_path: Path, **kwargs: Any
) -> list[dg.AssetsDefinition]:
    kwargs.setdefault("state_path", tmp_path / "airbyte-state.json")
    return build_airbyte_assets_definitions(workspace=workspace, **kwargs)


def config_post(server: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.config_api_url}/{path}", json=body, timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def local_post(server: Any, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/_local/{path}", json=body or {}, timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def start_sync_via_api(server: Any, connection_id: str) -> int:
    """What a person (or a script) does outside Dagster: POST /api/public/v1/jobs."""
    response = httpx.post(
        f"{server.public_api_url}/jobs",
        json={"connectionId": connection_id, "jobType": "sync"},
        timeout=30,
    )
    response.raise_for_status()
    return int(response.json()["jobId"])


def wait_for_job(server: Any, job_id: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{server.public_api_url}/jobs/{job_id}", timeout=30)
        response.raise_for_status()
        job: dict[str, Any] = response.json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']}")
        time.sleep(0.1)


TABLES = ("customers", "products", "orders")


def evaluate_sensor(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None
) -> dg.SensorResult:
    """One sensor tick, storing its events as the daemon would."""
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    for event in result.asset_events or []:
        instance.report_runless_asset_event(event)
    return result


def materialized_row_counts(instance: dg.DagsterInstance) -> dict[str, int]:
    """Sum of ``airbyte/records_synced`` over every materialization of the sample tables."""
    totals = dict.fromkeys(TABLES, 0)
    for table in TABLES:
        records = instance.fetch_materializations(dg.AssetKey(["raw", table]), limit=100).records
        for record in records:
            materialization = record.asset_materialization
            assert materialization is not None
            totals[table] += int(materialization.metadata["airbyte/records_synced"].value)  # type: ignore[arg-type]
    return totals


def duckdb_counts(server: Any) -> dict[str, int]:
    """Rows in the sample connection's DuckDB tables, found through the API."""
    connection = config_post(
        server, "connections/get", {"connectionId": server.sample_connection_id}
    )
    destination = config_post(
        server, "destinations/get", {"destinationId": connection["destinationId"]}
    )
    path = destination["connectionConfiguration"]["destination_path"]
    with duckdb.connect(path, read_only=True) as con:
        return {
            t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]  # type: ignore[index]
            for t in TABLES
        }


def dg_project(tmp_path: Path, package: str, defs_yaml: str) -> Path:
    """A minimal ``dg`` project in ``tmp_path`` whose ``defs/airbyte/defs.yaml`` is ``defs_yaml``.

    Returns the project root; put ``<root>/src`` on ``sys.path`` before loading it.
    """
    root = tmp_path / package
    source = root / "src" / package
    defs = source / "defs" / "airbyte"
    defs.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [project]
            name = "{package}"
            version = "0.1.0"

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "{package}"
            """
        )
    )
    (source / "__init__.py").write_text("")
    (source / "defs" / "__init__.py").write_text("")
    (defs / "defs.yaml").write_text(textwrap.dedent(defs_yaml))
    return root


def refresh_component_state(root: Path) -> list[str]:
    """What ``dg utils refresh-defs-state`` does, in this process: every state-backed component
    of the project fetches and stores its state. Returns the refreshed keys."""
    import asyncio

    from dagster.components.core.component_tree import ComponentTree

    tree = ComponentTree.for_project(root)
    components = tree.get_all_components(of_type=dg.StateBackedComponent)
    for component in components:
        asyncio.run(component.refresh_state(root))
    return [component.defs_state_config.key for component in components]


def request_counts(server: Any) -> dict[str, Any]:
    """The local Airbyte's request counters (``total``, ``by_route``) since the last reset."""
    response = httpx.get(f"{server.url}/_local/requests", timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def reset_request_counts(server: Any) -> None:
    httpx.delete(f"{server.url}/_local/requests", timeout=30).raise_for_status()
