"""Typed errors, the retry matrix, Retry-After, dropped connections, deadlines, pagination."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
import stamina
from client_payloads import (
    CONN,
    FAST,
    PUBLIC_CONNECTION,
    ROOT,
    WS,
    MakeClient,
    config_job,
    public_job,
)

from dagster_airbyte_assets.client import AirbyteClient, BearerTokenAuth, RetryPolicy
from dagster_airbyte_assets.client._retry import make_retry_hook
from dagster_airbyte_assets.errors import (
    AirbyteAuthenticationError,
    AirbyteBadRequestError,
    AirbyteConflictError,
    AirbyteConnectError,
    AirbyteError,
    AirbyteHTTPError,
    AirbyteNotAirbyteError,
    AirbyteNotFoundError,
    AirbyteServerError,
    AirbyteTimeoutError,
)


def _problem(status: int, title: str, message: str, **data: Any) -> httpx.Response:
    """An RFC 9457 body as in public-api-problems.yaml."""
    return httpx.Response(
        status,
        json={
            "status": status,
            "type": f"https://reference.airbyte.com/reference/errors#{title}",
            "title": title,
            "detail": message,
            "data": {"message": message, **data},
        },
    )


RETRIED = [503, 502, 500, 504, 429, 408]
NOT_RETRIED = [400, 401, 403, 404, 409, 422, 501]


@pytest.mark.parametrize("status", RETRIED, ids=[str(s) for s in RETRIED])
def test_retryable_statuses_are_retried_until_success(make_client: MakeClient, status: int) -> None:
    calls = {"n": 0}

    def app(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            return _problem(status, "unexpected-problem", "try later")
        return httpx.Response(200, json={"workspaceId": WS, "name": "default"})

    client, rec = make_client(app)
    assert client.get_workspace(WS).workspace_id == WS
    assert len(rec.requests) == 3


@pytest.mark.parametrize("status", NOT_RETRIED, ids=[str(s) for s in NOT_RETRIED])
def test_other_statuses_are_never_retried(make_client: MakeClient, status: int) -> None:
    client, rec = make_client(lambda r: _problem(status, "x", "no"), api="config")
    with pytest.raises(AirbyteHTTPError) as info:
        client.get_job(42)
    assert info.value.status_code == status
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    ("status", "error", "hint"),
    [
        (401, AirbyteAuthenticationError, "`token`"),
        (403, AirbyteAuthenticationError, "`token`"),
        (404, AirbyteNotFoundError, "job 42"),
        (409, AirbyteConflictError, None),
        (400, AirbyteBadRequestError, None),
        (422, AirbyteBadRequestError, None),
        (500, AirbyteServerError, None),
    ],
    ids=["401", "403", "404", "409", "400", "422", "500"],
)
def test_each_status_maps_to_its_typed_error(
    status: int, error: type[AirbyteError], hint: str | None
) -> None:
    client2 = AirbyteClient.from_url(
        ROOT,
        api="config",
        transport=httpx.MockTransport(lambda r: _problem(status, "p", "Airbyte says no")),
        auth=BearerTokenAuth("tok-SECRET-123"),
        retry=RetryPolicy.none(),
    )
    with client2, pytest.raises(error) as info:
        client2.get_job(42)
    exc = info.value
    assert exc.status_code == status
    assert exc.message == "Airbyte says no"
    # Jobs are read without logs (jobs/get reads every attempt's log: REAL-BEHAVIOUR §1.3).
    assert exc.method == "POST" and exc.url == f"{ROOT}/api/v1/jobs/get_without_logs"
    if hint:
        assert hint in str(exc)
    if status == 404:
        assert isinstance(exc, AirbyteNotFoundError) and exc.resource_id == "42"
    assert "tok-SECRET-123" not in str(exc) + repr(exc)


def test_config_api_error_message_is_airbyte_own(make_client: MakeClient) -> None:
    body = {"message": "Could not find connection", "exceptionClassName": "ConfigNotFound"}
    client, _ = make_client(lambda r: httpx.Response(404, json=body), api="config")
    with pytest.raises(AirbyteNotFoundError) as info:
        client.get_connection(CONN)
    assert info.value.message == "Could not find connection"
    assert info.value.resource_id == CONN and CONN in str(info.value)


def test_html_body_means_not_airbyte(make_client: MakeClient) -> None:
    client, _ = make_client(
        lambda r: httpx.Response(
            200, text="<html>Welcome to nginx</html>", headers={"content-type": "text/html"}
        )
    )
    with pytest.raises(AirbyteNotAirbyteError, match="is this an Airbyte server"):
        client.list_workspaces()


def test_html_502_from_a_proxy_is_a_retryable_server_error(make_client: MakeClient) -> None:
    client, rec = make_client(lambda r: httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(AirbyteServerError):
        client.get_workspace(WS)
    assert len(rec.requests) == FAST.attempts


def test_unreachable_server_is_a_connect_error() -> None:
    # Port 9 (discard) on localhost: nothing listens there.
    with (
        AirbyteClient.from_url(
            "http://127.0.0.1:9", retry=RetryPolicy(attempts=2, wait_initial=0.001, wait_jitter=0)
        ) as client,
        pytest.raises(AirbyteConnectError) as info,
    ):
        client.list_workspaces()
    assert "http://127.0.0.1:9" in str(info.value) and "check the URL" in str(info.value)
    assert client.request_count == 2


def test_timeouts_are_typed_and_retried_on_reads(make_client: MakeClient) -> None:
    def app(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client, rec = make_client(app, api="config")
    with pytest.raises(AirbyteTimeoutError):
        client.get_job(1)
    assert len(rec.requests) == FAST.attempts


def test_retry_after_is_honoured_and_capped() -> None:
    # The backoff hook stamina calls: what to wait comes from the server's Retry-After.
    hook = make_retry_hook(RetryPolicy(retry_after_max=60.0), idempotent=True)
    limited = AirbyteHTTPError("slow down", status_code=429, retry_after=0.3)
    assert hook(limited) == 0.3
    greedy = AirbyteHTTPError("slow down", status_code=429, retry_after=3600.0)
    assert hook(greedy) == 60.0
    assert hook(AirbyteHTTPError("no", status_code=400)) is False
    # A POST that may have started something is never replayed; a refused one (429) is.
    write = make_retry_hook(RetryPolicy(), idempotent=False)
    assert write(AirbyteServerError("boom", status_code=503)) is False
    assert write(limited) == 0.3


def test_a_429_is_retried_then_succeeds(make_client: MakeClient) -> None:
    answers = [
        httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "0.3"}),
        httpx.Response(200, json=config_job()),
    ]
    client, rec = make_client(lambda r: answers.pop(0), api="config")
    with stamina.set_testing(True, attempts=5, cap=True):  # no waiting, same decisions
        assert client.get_job(42).job_id == 42
    assert len(rec.requests) == 2


def test_retries_use_the_policy(make_client: MakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    real = stamina.retry_context

    def spy(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr("dagster_airbyte_assets.client._http.stamina.retry_context", spy)
    policy = RetryPolicy(attempts=7, timeout=12.0, wait_initial=0.5, wait_max=4.0)
    client, rec = make_client(lambda r: httpx.Response(503, json={}), retry=policy)
    with stamina.set_testing(True, attempts=100, cap=True), pytest.raises(AirbyteServerError):
        client.get_workspace(WS)
    assert (seen["attempts"], seen["timeout"]) == (7, 12.0)
    assert (seen["wait_initial"], seen["wait_max"]) == (0.5, 4.0)
    assert len(rec.requests) == 7  # the policy's attempts, then the typed error


def test_dropped_connection_on_a_read_is_retried(make_client: MakeClient) -> None:
    def app(request: httpx.Request) -> httpx.Response:
        if len(rec.requests) == 1:
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return httpx.Response(200, json={"data": [{"workspaceId": WS, "name": "default"}]})

    client, rec = make_client(app)
    assert [w.workspace_id for w in client.list_workspaces()] == [WS]
    assert len(rec.requests) == 2


class _SyncServer:
    """Jobs endpoints of a tiny Public API: POST /jobs may fail *after* creating the job."""

    def __init__(self, first_post: str) -> None:
        self.first_post = first_post
        self.jobs: list[dict[str, Any]] = []
        self.posts = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path.endswith("/jobs"):
            self.posts += 1
            if self.first_post == "running" or (self.posts > 1 and self.jobs):
                return _problem(409, "try-again-later", f"A sync is already running for: {CONN}")
            job = public_job(job_id=100 + self.posts, status="pending")
            if self.first_post == "drop" and self.posts == 1:
                self.jobs.append(job)
                raise httpx.RemoteProtocolError("dropped after send", request=request)
            if self.first_post == "503-before" and self.posts == 1:
                return httpx.Response(503, json={})
            self.jobs.append(job)
            return httpx.Response(200, json=job)
        if request.method == "GET" and path.endswith("/jobs"):
            return httpx.Response(200, json={"data": list(reversed(self.jobs)), "next": ""})
        return httpx.Response(404, text="")


def test_start_sync_after_a_dropped_connection_attaches_instead_of_replaying(
    make_client: MakeClient,
) -> None:
    server = _SyncServer("drop")
    client, _ = make_client(server)
    job = client.start_sync(CONN)
    assert job.job_id == 101
    assert server.posts == 1  # no blind replay


def test_start_sync_resends_when_nothing_was_started(make_client: MakeClient) -> None:
    server = _SyncServer("503-before")
    client, _ = make_client(server)
    job = client.start_sync(CONN)
    assert server.posts == 2 and job.job_id == 102


def test_start_sync_409_attaches_to_the_running_sync(make_client: MakeClient) -> None:
    server = _SyncServer("running")
    server.jobs.append(public_job(job_id=7, status="running"))
    client, _ = make_client(server)
    start = client.trigger_sync(CONN)
    assert (start.how, start.job.job_id) == ("attached", 7)
    assert server.posts == 1


def test_start_sync_config_dialect(make_client: MakeClient) -> None:
    def app(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/jobs/list"):
            return httpx.Response(200, json={"jobs": [], "totalJobCount": 0})
        return httpx.Response(200, json=config_job(status="pending"))

    client, rec = make_client(app, api="config")
    job = client.start_sync(CONN, job_type="reset")
    assert job.status == "pending"
    # The newest sync job first (the baseline an ambiguous answer is judged by), then one POST.
    assert rec.paths() == ["POST /api/v1/jobs/list", "POST /api/v1/connections/reset"]


def test_pagination_never_follows_a_foreign_next(make_client: MakeClient) -> None:
    total = 230

    def app(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v1/"):
            return httpx.Response(404, json={"message": "Page Not Found"})  # no Config API
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        data = [
            {**PUBLIC_CONNECTION, "connectionId": f"c{i}"}
            for i in range(offset, min(offset + limit, total))
        ]
        nxt = f"https://evil.example.com/v1/connections?limit={limit}&offset={offset + limit}"
        return httpx.Response(200, json={"data": data, "next": nxt, "previous": ""})

    client, rec = make_client(app)
    connections = client.list_connections(WS)
    assert sorted(c.connection_id for c in connections) == sorted(f"c{i}" for i in range(total))
    public = [r for r in rec.requests if r.url.path.startswith("/api/public/")]
    assert {r.url.host for r in rec.requests} == {"airbyte.test"}
    # Pages of 100 (100 + 100 + 30, the short page ends it), then a second pass with another
    # page size that adds nothing: the Public API's pages have no stable order.
    assert [r.url.params["limit"] for r in public] == ["100"] * 3 + ["97"] * 3
    assert all(r.url.params["workspaceIds"] == WS for r in public)


def test_config_jobs_list_pages_by_row_offset(make_client: MakeClient) -> None:
    import json as _json

    def app(request: httpx.Request) -> httpx.Response:
        body = _json.loads(request.content)
        offset = body["pagination"]["rowOffset"]
        size = body["pagination"]["pageSize"]
        ids = range(offset, min(offset + size, 150))
        jobs = [{"job": config_job(job_id=i)["job"], "attempts": []} for i in ids]
        return httpx.Response(200, json={"jobs": jobs, "totalJobCount": 150})

    client, rec = make_client(app, api="config")
    jobs = client.list_jobs(connection_id=CONN)
    assert len(jobs) == 150 and len(rec.requests) == 2
    limited = client.list_jobs(connection_id=CONN, limit=5)
    assert [j.job_id for j in limited] == [0, 1, 2, 3, 4]


def test_public_list_jobs_sends_utc_filters(make_client: MakeClient) -> None:
    from datetime import datetime, timedelta, timezone

    client, rec = make_client(lambda r: httpx.Response(200, json={"data": []}))
    local = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    client.list_jobs(workspace_id=WS, connection_id=CONN, status="running", created_at_start=local)
    params = rec.requests[0].url.params
    assert params["createdAtStart"] == "2024-05-01T12:00:00Z"
    assert (params["status"], params["jobType"], params["connectionId"]) == (
        "running",
        "sync",
        CONN,
    )


def test_threads_share_one_client_and_count_requests(make_client: MakeClient) -> None:
    client, rec = make_client(lambda r: httpx.Response(200, json=config_job()), api="config")
    pool_client = client.http_client
    threads = [
        threading.Thread(target=lambda: [client.get_job(1) for _ in range(10)]) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.request_count == 80 == len(rec.requests)
    assert client.http_client is pool_client
