"""Test controls: injected faults, request counters, forced statuses, vanished jobs, bulk."""

from __future__ import annotations

import time

import httpx
import pytest
from local_airbyte_helpers import config_post, wait_for_job


def test_faults_and_counters(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    base = local_airbyte.url
    httpx.delete(f"{base}/_local/requests")
    httpx.post(
        f"{base}/_local/faults",
        json={"fail_rate": 1.0, "fail_status": 429, "retry_after": 2, "path_regex": "workspaces"},
    )
    limited = httpx.get(f"{local_airbyte.public_api_url}/workspaces")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert httpx.get(f"{local_airbyte.public_api_url}/connections").status_code == 200
    httpx.post(f"{base}/_local/faults", json={"drop_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{local_airbyte.public_api_url}/workspaces")
    httpx.post(f"{base}/_local/faults", json={"latency_ms": 200})
    started = time.monotonic()
    workspace = {"workspaceId": local_airbyte.workspace_id}
    assert config_post(local_airbyte, "/workspaces/get", workspace).status_code == 200
    assert time.monotonic() - started >= 0.2
    assert httpx.delete(f"{base}/_local/faults").status_code == 204
    counts = httpx.get(f"{base}/_local/requests").json()
    assert counts["total"] == 4
    assert counts["by_route"]["GET /api/public/v1/workspaces"] == 2
    assert counts["by_route"]["POST /api/v1/workspaces/get"] == 1


def test_force_status_delete_job_and_bulk(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    base = local_airbyte.url
    job_id = config_post(
        local_airbyte, "/connections/sync", {"connectionId": local_airbyte.sample_connection_id}
    ).json()["job"]["id"]
    wait_for_job(local_airbyte, job_id)
    httpx.post(f"{base}/_local/jobs/{job_id}/force_status", json={"status": "mystery"})
    assert httpx.get(f"{local_airbyte.public_api_url}/jobs/{job_id}").json()["status"] == "mystery"
    assert httpx.delete(f"{base}/_local/jobs/{job_id}").status_code == 204
    # An unknown job id: "Could not find job with id" -> 409 state-conflict on the Public API.
    vanished = httpx.get(f"{local_airbyte.public_api_url}/jobs/{job_id}")
    assert vanished.status_code == 409 and vanished.json()["title"] == "state-conflict"
    bulk = httpx.post(f"{base}/_local/bulk", json={"connections": 50, "streams": 3}).json()
    assert len(bulk["connectionIds"]) == 50
    listed = config_post(
        local_airbyte, "/connections/list", {"workspaceId": local_airbyte.workspace_id}
    ).json()
    assert len(listed["connections"]) == 51


def test_controls_are_off_by_default(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    server = local_airbyte_factory()
    assert httpx.post(f"{server.url}/_local/faults", json={"fail_rate": 1}).status_code == 404


def test_request_counters_by_endpoint_and_category(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``/_local/requests``: ids folded into ``{jobId}``-style names, a trailing slash counted
    as the route it resolves to, and the two categories tests assert on."""
    base = local_airbyte.url
    cid = local_airbyte.sample_connection_id
    httpx.delete(f"{base}/_local/requests")
    job_id = config_post(local_airbyte, "/connections/sync", {"connectionId": cid}).json()["job"][
        "id"
    ]
    wait_for_job(local_airbyte, job_id)  # polls jobs/get_without_logs: no logs carried
    httpx.get(f"{local_airbyte.public_api_url}/jobs/{job_id}/")
    httpx.get(f"{local_airbyte.public_api_url}/connections/{cid}")
    config_post(local_airbyte, "/jobs/get", {"id": job_id})
    counts = httpx.get(f"{base}/_local/requests").json()
    endpoints = counts["by_endpoint"]
    assert endpoints["GET /api/public/v1/jobs/{jobId}"] == 1
    assert endpoints["GET /api/public/v1/connections/{connectionId}"] == 1
    assert endpoints["POST /api/v1/jobs/get_without_logs"] >= 1
    assert counts["by_route"][f"GET /api/public/v1/jobs/{job_id}"] == 1
    # connections/sync and jobs/get carry logs; the polling did not.
    assert counts["by_category"]["log_carrying"] == 2
    assert counts["by_category"]["workspace_loading"] == 1
    assert httpx.delete(f"{base}/_local/requests").status_code == 204
    assert httpx.get(f"{base}/_local/requests").json()["by_category"] == {
        "log_carrying": 0,
        "workspace_loading": 0,
    }
