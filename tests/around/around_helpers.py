"""Shared helpers for the tests around the stream assets (local Airbyte over HTTP)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dagster as dg
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
