"""The Public API of the local Airbyte over HTTP, every response checked against the spec."""

from __future__ import annotations

import time

import httpx
from local_airbyte_helpers import wait_for_job
from openapi_validation import assert_matches_component, assert_matches_schema

PUB = "public-api"
PROBLEMS = "public-api-problems"


def _get(server, path, spec_path=None, **params):  # type: ignore[no-untyped-def]
    response = httpx.get(f"{server.public_api_url}{path}", params=params)
    assert response.status_code == 200, response.text
    if spec_path:
        assert_matches_schema(PUB, spec_path, "get", 200, response.json())
    return response.json()


def test_reads_match_the_spec(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    ws = local_airbyte.workspace_id
    cid = local_airbyte.sample_connection_id
    assert (
        _get(local_airbyte, "/workspaces", spec_path="/workspaces")["data"][0]["workspaceId"] == ws
    )
    _get(local_airbyte, f"/workspaces/{ws}", spec_path="/workspaces/{workspaceId}")
    sources = _get(local_airbyte, "/sources", spec_path="/sources", workspaceIds=ws)["data"]
    _get(local_airbyte, f"/sources/{sources[0]['sourceId']}", spec_path="/sources/{sourceId}")
    dests = _get(local_airbyte, "/destinations", spec_path="/destinations", workspaceIds=ws)["data"]
    dest = _get(
        local_airbyte,
        f"/destinations/{dests[0]['destinationId']}",
        spec_path="/destinations/{destinationId}",
    )
    assert dest["destinationType"] == "duckdb" and dest["configuration"]["schema"] == "raw"
    conns = _get(
        local_airbyte, "/connections", spec_path="/connections", workspaceIds=ws, limit=100
    )
    assert [c["connectionId"] for c in conns["data"]] == [cid]
    conn = _get(local_airbyte, f"/connections/{cid}", spec_path="/connections/{connectionId}")
    assert {s["syncMode"] for s in conn["configurations"]["streams"]} == {"incremental_append"}
    streams = _get(local_airbyte, "/streams", spec_path="/streams", sourceId=sources[0]["sourceId"])
    assert {s["streamName"] for s in streams} == {"customers", "products", "orders"}
    health = httpx.get(f"{local_airbyte.public_api_url}/health")
    assert health.status_code == 200


def test_patch_connection(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    cid = local_airbyte.sample_connection_id
    response = httpx.patch(
        f"{local_airbyte.public_api_url}/connections/{cid}",
        json={
            "name": "renamed",
            "schedule": {"scheduleType": "cron", "cronExpression": "0 0 * * * ?"},
            "configurations": {
                "streams": [{"name": "orders", "syncMode": "full_refresh_overwrite"}]
            },
        },
    )
    assert response.status_code == 200, response.text
    assert_matches_schema(PUB, "/connections/{connectionId}", "patch", 200, response.json())
    body = response.json()
    assert body["name"] == "renamed"
    assert body["schedule"] == {"scheduleType": "cron", "cronExpression": "0 0 * * * ? UTC"}
    assert [s["name"] for s in body["configurations"]["streams"]] == ["orders"]
    bad = httpx.patch(
        f"{local_airbyte.public_api_url}/connections/{cid}",
        json={"schedule": {"scheduleType": "weekly"}},
    )
    # Not a ScheduleTypeEnum value: Jackson cannot bind it, Micronaut answers 400 itself.
    assert bad.status_code == 400 and bad.json()["message"] == "Bad Request"


def test_jobs_lifecycle_filters_and_pagination(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    cid = local_airbyte.sample_connection_id
    api = local_airbyte.public_api_url
    ids = []
    for _ in range(3):
        created = httpx.post(f"{api}/jobs", json={"connectionId": cid, "jobType": "sync"})
        assert created.status_code == 200, created.text
        assert_matches_schema(PUB, "/jobs", "post", 200, created.json())
        ids.append(created.json()["jobId"])
        wait_for_job(local_airbyte, ids[-1])
    job = _get(local_airbyte, f"/jobs/{ids[0]}", spec_path="/jobs/{jobId}")
    assert job["status"] == "succeeded" and job["rowsSynced"] > 0 and job["bytesSynced"] > 0
    assert job["startTime"].endswith("Z") and job["lastUpdatedAt"].endswith("Z")
    assert job["duration"].startswith("PT")
    page = _get(
        local_airbyte,
        "/jobs",
        spec_path="/jobs",
        connectionId=cid,
        limit=2,
        orderBy="createdAt|ASC",
    )
    assert [j["jobId"] for j in page["data"]] == ids[:2]
    assert page["previous"] == "" and page["next"].startswith(local_airbyte.url)
    second = httpx.get(page["next"]).json()
    assert [j["jobId"] for j in second["data"]] == ids[2:]
    assert "offset=0" in second["previous"]
    assert httpx.get(second["next"]).json() == {
        "data": [],
        "next": "",
        "previous": second["next"].replace("offset=4", "offset=2"),
    }
    assert (
        _get(local_airbyte, "/jobs", status="failed", workspaceIds=local_airbyte.workspace_id)[
            "data"
        ]
        == []
    )
    assert _get(local_airbyte, "/jobs", jobType="reset")["data"] == []
    assert _get(local_airbyte, "/jobs", createdAtStart="2100-01-01T00:00:00Z")["data"] == []
    assert len(_get(local_airbyte, "/jobs", createdAtStart="2000-01-01T00:00:00Z")["data"]) == 3

    # A running job: a second POST is a 409 try-again-later; DELETE cancels it.
    httpx.post(f"{local_airbyte.url}/_local/connections/{cid}/sync_duration", json={"seconds": 5})
    running = httpx.post(f"{api}/jobs", json={"connectionId": cid, "jobType": "sync"}).json()
    conflict = httpx.post(f"{api}/jobs", json={"connectionId": cid, "jobType": "sync"})
    assert conflict.status_code == 409
    assert conflict.json()["data"]["message"] == f"A sync is already running for: {cid}"
    assert_matches_component(PROBLEMS, "TryAgainLaterConflictProblemResponse", conflict.json())
    started = time.monotonic()
    cancelled = httpx.delete(f"{api}/jobs/{running['jobId']}")
    assert cancelled.status_code == 200 and time.monotonic() - started < 3
    assert_matches_schema(PUB, "/jobs/{jobId}", "delete", 200, cancelled.json())
    assert cancelled.json()["status"] == "cancelled"
    # Cancelling it again signals the connection's workflow, which runs nothing any more: 200
    # with the job as it is (TemporalClient.startNewCancellation).
    again = httpx.delete(f"{api}/jobs/{running['jobId']}")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_errors_are_problems(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    api = local_airbyte.public_api_url
    missing = "00000000-0000-0000-0000-000000000009"
    for path in (
        f"/connections/{missing}",
        f"/sources/{missing}",
        f"/destinations/{missing}",
        f"/workspaces/{missing}",
    ):
        response = httpx.get(f"{api}{path}")
        assert response.status_code == 404, path
        body = response.json()
        assert body["title"] == "resource-not-found" and body["data"]["resourceId"] in path
        assert_matches_component(PROBLEMS, "ResourceNotFoundProblemResponse", body)
    # An unknown job id is "Could not find job with id": 409 state-conflict (ConfigClientErrorHandler).
    unknown = httpx.get(f"{api}/jobs/424242")
    assert unknown.status_code == 409
    assert unknown.json()["data"]["message"] == "Job is not currently running"
    assert_matches_component(PROBLEMS, "StateConflictProblemResponse", unknown.json())
    # Bodies Jackson cannot bind: Micronaut's own 400, not a problem.
    for body in (
        {"connectionId": "x", "jobType": "sync"},
        {"connectionId": local_airbyte.sample_connection_id, "jobType": "nope"},
    ):
        response = httpx.post(f"{api}/jobs", json=body)
        assert response.status_code == 400, body
        assert response.json()["message"] == "Bad Request"
    # A required property missing: bean validation's 400 ({errorId} from v2.0.0).
    empty = httpx.post(f"{api}/jobs", json={})
    assert empty.status_code == 400 and set(empty.json()) == {"errorId"}
    assert httpx.get(f"{api}/jobs", params={"limit": 101}).status_code == 400
    assert httpx.get(f"{api}/streams").status_code == 400
