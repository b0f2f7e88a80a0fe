"""The client over real HTTP against the local Airbyte: both dialects, every auth mode, faults."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dagster_airbyte_assets.client import (
    AirbyteClient,
    AirbyteJob,
    BasicAuth,
    ClientCredentialsAuth,
    RetryPolicy,
)
from dagster_airbyte_assets.errors import (
    AirbyteAuthenticationError,
    AirbyteBadRequestError,
    AirbyteNotFoundError,
    AirbyteServerError,
)
from dagster_airbyte_assets.resource import AirbyteWorkspace

local_airbyte = pytest.importorskip("local_airbyte")
LocalAirbyte = local_airbyte.LocalAirbyte

FAST = RetryPolicy(attempts=4, timeout=10.0, wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with LocalAirbyte(tmp_path_factory.mktemp("la"), seed="sample", test_controls=True) as la:
        yield la


@pytest.fixture(autouse=False)
def controls(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/_local") as c:
        yield c
        c.delete("/faults")


@pytest.fixture(params=["config", "public"])
def client(request: pytest.FixtureRequest, server: Any) -> Iterator[AirbyteClient]:
    with AirbyteClient.from_url(server.url, api=request.param, retry=FAST) as c:
        yield c


def _wait(client: AirbyteClient, job: AirbyteJob, timeout: float = 30) -> AirbyteJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get_job(job.job_id)
        if job.is_terminal:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job.job_id} still {job.status}")


def test_read_everything_and_sync(client: AirbyteClient, server: Any) -> None:
    (workspace,) = client.list_workspaces()
    assert workspace.workspace_id == server.workspace_id
    assert client.get_workspace(workspace.workspace_id).name == workspace.name
    (source,) = client.list_sources(workspace.workspace_id)
    destinations = client.list_destinations(workspace.workspace_id)
    assert destinations[0].destination_type == "duckdb"
    assert client.get_source(source.source_id) == source
    connection = client.get_connection(server.sample_connection_id)
    assert connection.has_json_schemas
    assert all(
        s.json_schema and s.json_schema.get("properties") for s in connection.selected_streams
    )

    job = _wait(client, client.start_sync(connection.connection_id))
    assert job.succeeded and job.rows_synced and job.bytes_synced
    # Per-stream stats in both dialects (the public one through Config jobs/get).
    assert {s.stream_name for s in job.stream_stats} >= {
        s.name for s in connection.selected_streams
    }
    listed = client.list_jobs(connection_id=connection.connection_id, limit=50)
    assert job.job_id in {j.job_id for j in listed}
    assert client.find_running_job(connection.connection_id) is None


def test_sync_already_running_is_attached_not_duplicated(
    client: AirbyteClient, server: Any, controls: httpx.Client
) -> None:
    conn = server.sample_connection_id
    controls.post(f"/connections/{conn}/sync_duration", json={"seconds": 3})
    try:
        first = client.start_sync(conn)
        before = client.request_count
        second = client.trigger_sync(conn)
        assert (second.how, second.job.job_id) == ("attached", first.job_id)
        # The baseline listing, one POST answered 409 (never retried), the running-job lookup.
        assert client.request_count - before <= 3
        cancelled = client.cancel_job(first.job_id)
        assert cancelled.job_id == first.job_id
        assert _wait(client, first).status == "cancelled"
        newer = client.sync_jobs_after(conn, first.job_id - 1)
        assert [j.job_id for j in newer] == [first.job_id]  # one job, not two
    finally:
        controls.post(f"/connections/{conn}/sync_duration", json={"seconds": 0})


def test_not_found_and_bad_request_are_not_retried(client: AirbyteClient) -> None:
    before = client.request_count
    # Config 2.0 answers {errorId} alone: a server error, retried; nothing says "not found".
    expected = AirbyteNotFoundError if client.api == "public" else AirbyteServerError
    with pytest.raises(expected):
        client.get_job(987654)
    # Airbyte answers an unknown job id with a 500 (Config) or a 409 state-conflict (Public),
    # never 404 (airbyte-versions.md §0.6); both are read as "no such job". The Config 500 is
    # retried like any server error ({errorId} alone cannot say more), so this costs a few.
    assert client.request_count - before <= FAST.attempts + 1
    before = client.request_count
    with pytest.raises((AirbyteBadRequestError, AirbyteNotFoundError)):
        client.get_connection("not-a-uuid")
    assert client.request_count - before <= 2


@pytest.mark.parametrize("status", [503, 429], ids=["503", "429"])
def test_injected_failures_are_retried(server: Any, controls: httpx.Client, status: int) -> None:
    controls.post(
        "/faults",
        json={"fail_rate": 0.5, "fail_status": status, "retry_after": 0, "seed": 7},
    )
    policy = RetryPolicy(attempts=10, timeout=20, wait_initial=0.01, wait_max=0.02, wait_jitter=0)
    with AirbyteClient.from_url(server.url, retry=policy) as c:
        for _ in range(10):
            assert c.list_workspaces()
        assert c.request_count > 10  # some were retried


def test_persistent_503_exhausts_the_budget(server: Any, controls: httpx.Client) -> None:
    controls.post("/faults", json={"fail_rate": 1.0, "fail_status": 503})
    with AirbyteClient.from_url(server.url, retry=FAST) as c:
        with pytest.raises(AirbyteServerError):
            c.list_workspaces()
        assert c.request_count == FAST.attempts


def test_dropped_connections_are_retried(server: Any, controls: httpx.Client) -> None:
    controls.post("/faults", json={"drop_rate": 0.5, "seed": 3})
    policy = RetryPolicy(attempts=12, timeout=20, wait_initial=0.01, wait_max=0.02, wait_jitter=0)
    with AirbyteClient.from_url(server.url, retry=policy) as c:
        for _ in range(6):
            assert c.list_workspaces()


def test_pagination_over_many_pages(tmp_path: Path) -> None:
    with LocalAirbyte(tmp_path, test_controls=True) as la:
        httpx.post(
            f"{la.url}/_local/bulk", json={"connections": 230, "streams": 1}
        ).raise_for_status()
        with AirbyteClient.from_url(la.url) as c:
            connections = c.list_connections(la.workspace_id)
            assert len(connections) == 230
            assert len({x.connection_id for x in connections}) == 230
            # The Config API's connections/list answers all at once, unpaginated; the Public
            # API's pages come in no stable order and could skip some.
            assert c.request_count == 1


def test_unknown_job_status_is_kept(
    client: AirbyteClient, server: Any, controls: httpx.Client
) -> None:
    conn = server.sample_connection_id
    controls.post(f"/connections/{conn}/sync_duration", json={"seconds": 2})
    try:
        job = client.start_sync(conn)
        controls.post(f"/jobs/{job.job_id}/force_status", json={"status": "paused_for_upgrade"})
        seen = client.get_job(job.job_id)
        assert seen.status == "paused_for_upgrade"
        assert not seen.is_terminal and not seen.is_known_status
    finally:
        controls.post(f"/jobs/{job.job_id}/force_status", json={"status": None})
        controls.post(f"/connections/{conn}/sync_duration", json={"seconds": 0})
        with contextlib.suppress(Exception):
            client.cancel_job(job.job_id)


def test_threads_share_one_pool(server: Any) -> None:
    with AirbyteClient.from_url(server.url, max_connections=4) as c:
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(5):
                    c.list_workspaces()
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and c.request_count == 60
        pool = c.http_client._transport._pool  # type: ignore[attr-defined]
        assert 1 <= len(pool.connections) <= 4


# -- auth modes -------------------------------------------------------------------------------


def test_basic_auth(tmp_path: Path) -> None:
    with LocalAirbyte(tmp_path, auth="basic") as la:
        for api in ("config", "public"):
            good = BasicAuth("airbyte", "password")
            with AirbyteClient.from_url(la.url, api=api, auth=good) as c:
                assert c.list_workspaces()
            bad = AirbyteClient.from_url(la.url, api=api, auth=BasicAuth("airbyte", "nope"))
            with bad, pytest.raises(AirbyteAuthenticationError, match="username"):
                bad.list_workspaces()
        resource = AirbyteWorkspace(url=la.url, username="airbyte", password="password")
        assert resource.verify().startswith(f"OK: Airbyte at {la.public_api_url}")


def test_client_credentials_expiry_and_401(tmp_path: Path) -> None:
    with LocalAirbyte(
        tmp_path, auth="client-credentials", token_expires_in=2, test_controls=True
    ) as la:
        token_url = f"{la.public_api_url}/applications/token"
        auth = ClientCredentialsAuth(token_url, "local-client", "local-secret")
        with AirbyteClient.from_url(la.url, auth=auth) as c:
            c.list_workspaces()
            c.list_workspaces()
            assert auth.token_requests == 1
            time.sleep(1.6)  # expires_in=2, margin min(30, 2/4) = 0.5: refresh before expiry
            c.list_workspaces()
            assert auth.token_requests == 2
            httpx.post(f"{la.url}/_local/tokens/revoke").raise_for_status()
            before = c.request_count
            c.list_workspaces()
            assert auth.token_requests == 3  # exactly one refresh after the 401
            assert c.request_count - before == 3  # 401, token, replay
        bad = ClientCredentialsAuth(token_url, "local-client", "wrong")
        with AirbyteClient.from_url(la.url, auth=bad) as c:
            with pytest.raises(AirbyteAuthenticationError, match="client_secret") as info:
                c.list_workspaces()
            assert "wrong" not in str(info.value).replace("wrong URL", "")
        resource = AirbyteWorkspace(
            url=la.url, client_id="local-client", client_secret="local-secret"
        )
        line = resource.verify()
        assert (
            line.startswith("OK: ") and "workspace default" in line and "local-secret" not in line
        )


def test_verify_reports_an_unreachable_server_in_one_line() -> None:
    resource = AirbyteWorkspace(url="http://127.0.0.1:9", request_max_retries=0)
    with pytest.raises(Exception) as info:
        resource.verify()
    assert "\n" not in str(info.value) and "127.0.0.1:9" in str(info.value)
