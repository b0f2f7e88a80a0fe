"""The endpoints third-party Airbyte clients call, called the way they call them.

Raw HTTP with the habits measured in PyAirbyte, Airflow's provider and the Prefect collections:
trailing slashes, bodies without ``Content-Type``, polling endpoints. Each answer is validated
against Airbyte's OpenAPI file (REAL-BEHAVIOUR §6).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from local_airbyte_helpers import wait_for_job
from openapi_validation import assert_matches_schema

CFG = "config-api"
ZERO = "00000000-0000-0000-0000-000000000000"


def _post(server: Any, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = httpx.post(f"{server.config_api_url}{path}", json=body)
    assert response.status_code == status, (path, response.text)
    if status == 200:
        assert_matches_schema(CFG, f"/v1{path}", "post", 200, response.json())
    return response.json()


def test_health_with_trailing_slash_and_without_credentials(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """Prefect's clients call ``GET /api/v1/health/`` before every operation; the Public health
    check is open (it is on the server's unsecured paths)."""
    server = local_airbyte_factory(auth="basic")
    for url in (f"{server.url}/api/v1/health/", f"{server.url}/api/v1/health"):
        response = httpx.get(url)
        assert response.status_code == 200 and response.json() == {"available": True}
    for url in (f"{server.public_api_url}/health/", f"{server.public_api_url}/health"):
        assert httpx.get(url).status_code == 200
    jobs = httpx.get(f"{server.public_api_url}/jobs/", auth=("airbyte", "password"))
    assert jobs.status_code == 200 and jobs.json()["data"] == []  # no 307 redirect


def test_workspaces_list_with_a_body_and_no_content_type(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """Airflow's hook posts ``{}`` with no ``Content-Type``; the endpoint takes no body."""
    server = local_airbyte_factory(airbyte_version="1.6")
    response = httpx.post(f"{server.config_api_url}/workspaces/list", content=b"{}")
    assert response.status_code == 200
    assert_matches_schema("config-api-v1.6.0", "/v1/workspaces/list", "post", 200, response.json())
    assert response.json()["workspaces"][0]["workspaceId"] == server.workspace_id


def test_bodies_without_content_type_are_read_as_json(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    body = b'{"connectionId": "%s"}' % local_airbyte.sample_connection_id.encode()
    response = httpx.post(f"{local_airbyte.config_api_url}/connections/get", content=body)
    assert response.status_code == 200 and response.json()["name"] == "Sample Data → DuckDB"


def test_web_backend_connection_has_the_full_catalog(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``WebBackendConnectionsHandler``: unselected streams included, source and destination
    inlined, the latest sync job's status."""
    cid = local_airbyte.sample_connection_id
    connection = _post(local_airbyte, "/connections/get", {"connectionId": cid})
    connection["syncCatalog"]["streams"] = [
        s for s in connection["syncCatalog"]["streams"] if s["stream"]["name"] != "products"
    ]
    _post(local_airbyte, "/connections/update", connection)
    job = _post(local_airbyte, "/connections/sync", {"connectionId": cid})
    wait_for_job(local_airbyte, job["job"]["id"])
    read = _post(local_airbyte, "/web_backend/connections/get", {"connectionId": cid})
    selected = {
        s["stream"]["name"]: s["config"]["selected"] for s in read["syncCatalog"]["streams"]
    }
    assert selected == {"customers": True, "products": False, "orders": True}
    assert read["source"]["sourceId"] == connection["sourceId"]
    assert read["destination"]["destinationId"] == connection["destinationId"]
    assert read["latestSyncJobStatus"] == "succeeded" and read["isSyncing"] is False
    assert read["schemaChange"] == "no_change"
    assert read["source"]["connectionConfiguration"] == {}  # masked like sources/get


def test_state_get(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``StateHandler.getState``: ``not_set`` before any cursor, ``stream`` state after."""
    cid = local_airbyte.sample_connection_id
    assert _post(local_airbyte, "/state/get", {"connectionId": cid}) == {
        "stateType": "not_set",
        "connectionId": cid,
    }
    job = _post(local_airbyte, "/connections/sync", {"connectionId": cid})
    wait_for_job(local_airbyte, job["job"]["id"])
    state = _post(local_airbyte, "/state/get", {"connectionId": cid})
    assert state["stateType"] == "stream"
    assert {s["streamDescriptor"]["name"] for s in state["streamState"]} == {
        "customers",
        "products",
        "orders",
    }


def test_users_get_by_auth_id(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """OSS's default user (all zeros); any other auth id is a 404."""
    user = _post(local_airbyte, "/users/get_by_auth_id", {"authUserId": ZERO})
    assert user["userId"] == ZERO and user["defaultWorkspaceId"] == local_airbyte.workspace_id
    missing = httpx.post(
        f"{local_airbyte.config_api_url}/users/get_by_auth_id", json={"authUserId": "someone"}
    )
    assert missing.status_code == 404


def test_workspaces_create_and_get_by_slug(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``WorkspacesHandler.createWorkspace``: a slug from the name, -<8 letters> on collision;
    ``organizationId`` required from v0.58.0."""
    created = _post(
        local_airbyte, "/workspaces/create", {"name": "Data Team", "organizationId": ZERO}
    )
    assert created["slug"] == "data-team" and created["initialSetupComplete"] is False
    again = _post(
        local_airbyte, "/workspaces/create", {"name": "Data Team", "organizationId": ZERO}
    )
    assert again["slug"].startswith("data-team-") and len(again["slug"]) == len("data-team-") + 8
    found = _post(local_airbyte, "/workspaces/get_by_slug", {"slug": "data-team"})
    assert found["workspaceId"] == created["workspaceId"]
    _post(local_airbyte, "/workspaces/get_by_slug", {"slug": "nobody"}, status=404)
    _post(local_airbyte, "/workspaces/create", {"name": "no organization"}, status=400)


def test_connections_list_all_includes_deleted(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    ws = {"workspaceId": local_airbyte.workspace_id}
    cid = local_airbyte.sample_connection_id
    assert (
        httpx.post(
            f"{local_airbyte.config_api_url}/connections/delete", json={"connectionId": cid}
        ).status_code
        == 204
    )
    assert _post(local_airbyte, "/connections/list", ws)["connections"] == []
    (deleted,) = _post(local_airbyte, "/connections/list_all", ws)["connections"]
    assert deleted["connectionId"] == cid and deleted["status"] == "deprecated"


def test_polling_endpoints_while_a_sync_runs(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """``jobs/get_light`` (no attempts), ``jobs/get_without_logs`` (hydrated, no logs) and
    ``connections/sync_progress`` (``JobHistoryHandler.kt@main`` ~347-428)."""
    cid = local_airbyte.sample_connection_id
    # Nothing running: no configType although the spec requires one (JobHistoryHandler.kt
    # ~364-368), so this answer is not checked against the schema.
    idle = httpx.post(
        f"{local_airbyte.config_api_url}/connections/sync_progress", json={"connectionId": cid}
    ).json()
    assert idle == {"connectionId": cid, "streams": []}
    httpx.post(f"{local_airbyte.url}/_local/connections/{cid}/sync_duration", json={"seconds": 2})
    job_id = _post(local_airbyte, "/connections/sync", {"connectionId": cid})["job"]["id"]
    progress = _post(local_airbyte, "/connections/sync_progress", {"connectionId": cid})
    assert progress["jobId"] == job_id and progress["configType"] == "sync"
    assert [s["streamName"] for s in progress["streams"]] == ["customers", "products", "orders"]
    assert all(s["configType"] == "sync" for s in progress["streams"])
    light = _post(local_airbyte, "/jobs/get_light", {"id": job_id})
    assert set(light) == {"job"} and light["job"]["status"] in ("pending", "running")
    for _ in range(500):
        without = _post(local_airbyte, "/jobs/get_without_logs", {"id": job_id})
        if without["job"]["status"] == "succeeded":
            break
        assert all("logs" not in a for a in without["attempts"])
        time.sleep(0.02)
    assert without["job"]["aggregatedStats"]["recordsCommitted"] == 340
    done = httpx.post(
        f"{local_airbyte.config_api_url}/connections/sync_progress", json={"connectionId": cid}
    )
    assert done.json()["streams"] == []


@pytest.mark.parametrize("version", ["0.63", "1.6"])
def test_sync_progress_shape_by_version(local_airbyte_factory, version) -> None:  # type: ignore[no-untyped-def]
    """v0.61-v0.63: no ``configType``, ``syncStartedAt`` = startedAt; v0.64+: ``configType``."""
    server = local_airbyte_factory(seed="sample", test_controls=True, airbyte_version=version)
    cid = server.sample_connection_id
    httpx.post(f"{server.url}/_local/connections/{cid}/sync_duration", json={"seconds": 2})
    httpx.post(f"{server.config_api_url}/connections/sync", json={"connectionId": cid})
    progress = httpx.post(
        f"{server.config_api_url}/connections/sync_progress", json={"connectionId": cid}
    ).json()
    assert ("configType" in progress) is (version != "0.63")
    assert progress["streams"] and all(
        ("configType" in s) is (version != "0.63") for s in progress["streams"]
    )
