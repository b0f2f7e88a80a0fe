"""Version profiles: what changes between Airbyte releases, and the sync path on every profile.

The behaviour table is ``local-airbyte/README.md``; the values come from ``profiles.py``, each
cited there. ``profiled_local_airbyte`` runs a test once per selected profile
(``--airbyte-profiles``, see ``tests/conftest.py``).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from local_airbyte import DEFAULT_PROFILE, PROFILES, LocalAirbyte
from local_airbyte.profiles import get_profile
from openapi_validation import assert_matches_component, assert_matches_schema

TERMINAL = ("succeeded", "failed", "cancelled")


def _start_and_wait(server: Any) -> dict[str, Any]:
    """Start a sync through the API the profile offers; wait; return what the server says."""
    profile = server.profile
    cid = server.sample_connection_id
    if profile.config_api:
        start = httpx.post(f"{server.config_api_url}/connections/sync", json={"connectionId": cid})
        assert start.status_code == 200, start.text
        job_id = start.json()["job"]["id"]
    else:
        start = httpx.post(
            f"{server.public_api_url}/jobs", json={"connectionId": cid, "jobType": "sync"}
        )
        assert start.status_code == 200, start.text
        job_id = start.json()["jobId"]
    for _ in range(1500):
        if profile.config_api:
            body = httpx.post(f"{server.config_api_url}/jobs/get_light", json={"id": job_id}).json()
            status = body["job"]["status"]
        else:
            status = httpx.get(f"{server.public_api_url}/jobs/{job_id}").json()["status"]
        if status in TERMINAL:
            break
        time.sleep(0.02)
    assert status == "succeeded"
    return {"job_id": job_id, "profile": profile}


def test_profiles_are_documented_and_resolvable() -> None:
    assert DEFAULT_PROFILE in PROFILES
    assert {"0.50", "0.63", "1.6", "1.8", "2.0", "public-only", "cloud"} <= set(PROFILES)
    assert get_profile("latest").name == "2.0" and get_profile("v1.8.3").name == "1.8"
    assert get_profile(None).name == DEFAULT_PROFILE
    with pytest.raises(ValueError, match="unknown Airbyte version profile"):
        get_profile("3.7")
    with pytest.raises(ValueError, match="no application tokens"):
        LocalAirbyte(state_dir="/nonexistent", airbyte_version="0.50", auth="client-credentials")


def test_sync_path_on_every_profile(profiled_local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """Seed, start, wait and read the numbers where this release keeps them."""
    server = profiled_local_airbyte
    done = _start_and_wait(server)
    profile, job_id = done["profile"], done["job_id"]
    if profile.public_api:
        public = httpx.get(f"{server.public_api_url}/jobs/{job_id}").json()
        assert public["rowsSynced"] == 340 and public["status"] == "succeeded"
    if not profile.config_api:
        closed = httpx.post(f"{server.config_api_url}/jobs/get", json={"id": job_id})
        assert closed.status_code == 404 and closed.json()["message"] == "Not Found"
        return
    info = httpx.post(f"{server.config_api_url}/jobs/get_without_logs", json={"id": job_id}).json()
    listed = httpx.post(
        f"{server.config_api_url}/jobs/list",
        json={"configTypes": ["sync"], "configId": server.sample_connection_id},
    ).json()
    if profile.hydrates_get_without_logs:
        assert info["job"]["aggregatedStats"]["recordsCommitted"] == 340
    else:  # v0.50.x: the attempt summary is all there is
        assert "aggregatedStats" not in info["job"]
        assert info["attempts"][0]["attempt"]["totalStats"]["recordsCommitted"] == 340
    assert ("aggregatedStats" in listed["jobs"][0]["job"]) is profile.job_level_stats
    assert listed["jobs"][0]["attempts"][0]["totalStats"]["recordsCommitted"] == 340
    # jobs/get never has job-level stats, on any release.
    plain = httpx.post(f"{server.config_api_url}/jobs/get", json={"id": job_id}).json()
    assert "aggregatedStats" not in plain["job"]
    assert ("logType" in plain["attempts"][0]) is profile.attempt_log_type


@pytest.mark.airbyte_profiles(public_api=True)
def test_public_job_types_per_profile(profiled_local_airbyte) -> None:  # type: ignore[no-untyped-def]
    """Public ``JobTypeEnum``: refresh/clear from v0.63.0; GET /jobs without jobType lists sync
    and reset only up to v2.0.0, all four on main (Cloud)."""
    server = profiled_local_airbyte
    cid = server.sample_connection_id
    clear = httpx.post(
        f"{server.public_api_url}/jobs", json={"connectionId": cid, "jobType": "clear"}
    )
    assert clear.status_code == 200 and clear.json()["jobType"] == "reset"
    listed = httpx.get(f"{server.public_api_url}/jobs", params={"connectionId": cid}).json()
    assert [j["jobType"] for j in listed["data"]] == ["reset"]


def test_error_bodies_per_release(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """``KnownExceptionInfo``: with stack traces until v1.2, ``{message, exceptionClassName}``
    v1.3-v1.8, ``{message, errorId}`` from v2.0.0; unknown config ids likewise, with
    "Internal Server Error:" from v0.62 and ``{errorId}`` alone from v2.0.0."""
    missing = {"connectionId": "00000000-0000-0000-0000-000000000042"}
    expected_keys = {
        "0.50": {"message", "exceptionClassName", "exceptionStack"},
        "1.6": {"message", "exceptionClassName"},
        "2.0": {"errorId"},
    }
    for version, keys in expected_keys.items():
        server = local_airbyte_factory(airbyte_version=version)
        response = httpx.post(f"{server.config_api_url}/connections/get", json=missing)
        assert response.status_code == 404
        assert set(response.json()) == keys, version
        if version == "0.50":
            assert response.json()["message"].startswith(
                "Could not find configuration for STANDARD_SYNC"
            )
        if version == "1.6":
            assert response.json()["message"].startswith("Internal Server Error: Could not find")
            assert_matches_schema(
                "config-api-v1.6.0", "/v1/connections/get", "post", 404, response.json()
            )


def test_public_not_found_was_400_before_1_2(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """``ResourceNotFoundProblemResponse.status``: 400 up to v1.1, 404 from v1.2.0."""
    missing = "00000000-0000-0000-0000-000000000042"
    old = local_airbyte_factory(airbyte_version="0.63")
    response = httpx.get(f"{old.public_api_url}/connections/{missing}")
    assert response.status_code == 400 and response.json()["title"] == "resource-not-found"
    new = local_airbyte_factory()
    response = httpx.get(f"{new.public_api_url}/connections/{missing}")
    assert response.status_code == 404
    assert_matches_component(
        "public-api-problems", "ResourceNotFoundProblemResponse", response.json()
    )


def test_endpoints_present_per_release(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """A route the release lacks is Micronaut's 404 "Page Not Found"."""
    checks = {
        "0.50": {
            "/connections/sync_progress": 404,
            "/users/get_by_auth_id": 404,
            "/workspaces/list": 200,
        },
        "0.63": {
            "/connections/sync_progress": 200,
            "/users/get_by_auth_id": 200,
            "/workspaces/list": 200,
        },
        "1.8": {"/connections/sync_progress": 200, "/workspaces/list": 404},
    }
    for version, expected in checks.items():
        server = local_airbyte_factory(seed="sample", airbyte_version=version)
        bodies = {
            "/connections/sync_progress": {"connectionId": server.sample_connection_id},
            "/users/get_by_auth_id": {"authUserId": "00000000-0000-0000-0000-000000000000"},
            "/workspaces/list": {},
        }
        for path, status in expected.items():
            response = httpx.post(f"{server.config_api_url}{path}", json=bodies[path])
            assert response.status_code == status, (version, path, response.text)
            if status == 404:
                assert response.json()["_embedded"]["errors"][0]["message"] == "Page Not Found"
    legacy = local_airbyte_factory(airbyte_version="0.50")
    assert httpx.get(f"{legacy.public_api_url}/health").status_code == 404  # no Public API yet


def test_public_only_deployment_closes_the_config_api(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """A proxy exposing only ``/api/public/*``: every Config path is a route miss."""
    server = local_airbyte_factory(seed="sample", airbyte_version="public-only")
    for path in ("/health", "/workspaces/get", "/connections/list"):
        method = "GET" if path == "/health" else "POST"
        response = httpx.request(method, f"{server.config_api_url}{path}", json={})
        assert response.status_code == 404, path
    listed = httpx.get(f"{server.public_api_url}/connections").json()
    assert [c["connectionId"] for c in listed["data"]] == [server.sample_connection_id]


def test_cloud_tokens_really_expire(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """Cloud-like: a token stops working after ``expires_in`` (configurable for tests)."""
    server = local_airbyte_factory(
        airbyte_version="cloud", auth="client-credentials", token_expires_in=1
    )
    token = httpx.post(
        f"{server.public_api_url}/applications/token",
        json={"client_id": "local-client", "client_secret": "local-secret"},
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.get(f"{server.public_api_url}/workspaces", headers=headers).status_code == 200
    time.sleep(2.1)
    assert httpx.get(f"{server.public_api_url}/workspaces", headers=headers).status_code == 401


def test_cli_takes_the_version(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from local_airbyte.cli import build_parser

    args = build_parser().parse_args(
        ["serve", "--state-dir", str(tmp_path), "--airbyte-version", "1.6", "--log-lines", "100"]
    )
    assert args.airbyte_version == "1.6" and args.log_lines == 100
    default = build_parser().parse_args(["serve", "--state-dir", str(tmp_path)])
    assert default.airbyte_version == DEFAULT_PROFILE


def test_1_6_answers_match_the_v1_6_0_specs(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """The ``1.6`` profile against Airbyte's OpenAPI files at tag v1.6.0 (both APIs)."""
    server = local_airbyte_factory(seed="sample", test_controls=True, airbyte_version="1.6")
    cid = server.sample_connection_id
    spec, public_spec = "config-api-v1.6.0", "public-api-v1.6.0"

    def config(path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{server.config_api_url}{path}", json=body)
        assert response.status_code == 200, (path, response.text)
        assert_matches_schema(spec, f"/v1{path}", "post", 200, response.json())
        return response.json()

    job_id = config("/connections/sync", {"connectionId": cid})["job"]["id"]
    progress = config("/connections/sync_progress", {"connectionId": cid})
    assert progress["configType"] == "sync"
    while config("/jobs/get_light", {"id": job_id})["job"]["status"] not in TERMINAL:
        time.sleep(0.02)
    config("/jobs/get", {"id": job_id})
    config("/jobs/get_without_logs", {"id": job_id})
    config("/jobs/list", {"configTypes": ["sync"], "configId": cid})
    config("/connections/get", {"connectionId": cid})
    config("/web_backend/connections/get", {"connectionId": cid})
    config("/workspaces/list", {})
    config("/sources/list", {"workspaceId": server.workspace_id})
    config("/state/get", {"connectionId": cid})
    for path, spec_path in (
        (f"/jobs/{job_id}", "/jobs/{jobId}"),
        (f"/connections/{cid}", "/connections/{connectionId}"),
        ("/connections", "/connections"),
        ("/jobs", "/jobs"),
    ):
        response = httpx.get(f"{server.public_api_url}{path}")
        assert response.status_code == 200, path
        assert_matches_schema(public_spec, spec_path, "get", 200, response.json())
