"""Starting a sync exactly once, each ambiguous outcome of the start call, both dialects.

The server here is a small in-memory Airbyte behind ``httpx.MockTransport`` that keeps real job
state (ids only grow; one sync runs per connection at a time; 409 while one runs) and can
answer the start call the ways a network and a proxy do: created-but-500, a reset after the
job was created, a cut-off body, 503 before forwarding, an HTML page, a timeout whose request
arrives late. Time is simulated (``sleep`` moves the clock), so the adoption window costs no
wall time. Shapes follow config-api.yaml / public-api.yaml; answers for an inactive connection
follow REAL-BEHAVIOUR §2.9 (Public 409 ``state-conflict``, Config 500 ``{errorId}``).
The end-to-end acceptance (a proxy on loopback, 60+ real materializations) is ``tests/faults``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import stamina
from client_payloads import CONN, ROOT

from dagster_airbyte_assets._sync import sync_and_wait
from dagster_airbyte_assets.client import AirbyteClient, RetryPolicy
from dagster_airbyte_assets.client._trigger import _MAX_SENDS
from dagster_airbyte_assets.errors import (
    AirbyteConnectionInactiveError,
    AirbyteServerError,
)

DIALECTS = ["config", "public"]
OLD_JOB = 41  # a sync that finished just before this run: never the answer to its start


@pytest.fixture(autouse=True)
def _no_backoff() -> Any:
    # stamina's test mode: retries happen (capped at the policy's attempts) without waiting.
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@dataclass
class FakeAirbyte:
    """Jobs of one connection, in both dialects' words; faults only on the start call."""

    dialect: str
    start_faults: list[str] = field(default_factory=list)
    status: str = "active"
    duration: float = 5.0
    now: float = 1000.0
    jobs: list[dict[str, Any]] = field(default_factory=list)
    starts_received: int = 0
    late: list[float] = field(default_factory=list)  # when delayed start requests arrive
    cancelled: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.jobs.append(self._new("sync", created=self.now - 3, status="succeeded"))

    # -- state ------------------------------------------------------------------------------
    def _new(self, kind: str, *, created: float, status: str = "running") -> dict[str, Any]:
        job_id = max((j["id"] for j in self.jobs), default=OLD_JOB - 1) + 1
        return {"id": job_id, "type": kind, "created": created, "status": status}

    def _finish(self, until: float) -> None:
        for job in self.jobs:
            if job["status"] == "running" and until >= job["created"] + self.duration:
                job["status"] = "succeeded"

    def _tick(self) -> None:
        for at in sorted(t for t in self.late if t <= self.now):
            self.late.remove(at)
            self._finish(at)
            self._create("sync", at)  # the delayed request reaches Airbyte now
        self._finish(self.now)

    def _running(self) -> dict[str, Any] | None:
        return next((j for j in self.jobs if j["status"] == "running"), None)

    def _create(self, kind: str, at: float) -> dict[str, Any] | None:
        if self._running() is not None or self.status != "active":
            return None
        job = self._new(kind, created=at)
        self.jobs.append(job)
        return job

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def new_jobs(self) -> list[dict[str, Any]]:
        return [j for j in self.jobs if j["id"] > OLD_JOB]

    # -- rendering ----------------------------------------------------------------------------
    def _config_job(self, job: dict[str, Any]) -> dict[str, Any]:
        config_type = {"sync": "sync", "reset": "reset_connection"}[job["type"]]
        return {
            "id": job["id"],
            "configType": config_type,
            "configId": CONN,
            "createdAt": int(job["created"]),
            "updatedAt": int(job["created"] + self.duration),
            "status": job["status"],
        }

    def _public_job(self, job: dict[str, Any]) -> dict[str, Any]:
        return {
            "jobId": job["id"],
            "status": job["status"],
            "jobType": job["type"],
            "connectionId": CONN,
            "startTime": "2026-01-01T00:00:00Z",
        }

    # -- the transport ---------------------------------------------------------------------------
    def __call__(self, request: httpx.Request) -> httpx.Response:
        self._tick()
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        if path == "/api/v1/connections/sync" or (
            request.method == "POST" and path.endswith("/jobs")
        ):
            return self._start(request)
        if path == "/api/v1/jobs/list":
            wanted = {"reset_connection": "reset"}.get
            types = {wanted(t, t) for t in body["configTypes"]}
            jobs = sorted((j for j in self.jobs if j["type"] in types), key=lambda j: -j["id"])
            return httpx.Response(
                200,
                json={
                    "jobs": [{"job": self._config_job(j), "attempts": []} for j in jobs],
                    "totalJobCount": len(jobs),
                },
            )
        if path == "/api/v1/jobs/get_without_logs":
            job = next(j for j in self.jobs if j["id"] == body["id"])
            return httpx.Response(200, json={"job": self._config_job(job), "attempts": []})
        if path in ("/api/v1/jobs/cancel",) or request.method == "DELETE":
            job_id = body.get("id") or int(path.rsplit("/", 1)[1])
            job = next(j for j in self.jobs if j["id"] == job_id)
            job["status"] = "cancelled"
            self.cancelled.append(job_id)
            render = self._config_job if self.dialect == "config" else self._public_job
            answer = render(job)
            return httpx.Response(
                200, json={"job": answer, "attempts": []} if self.dialect == "config" else answer
            )
        if path == "/api/v1/connections/get" or path.endswith(f"/connections/{CONN}"):
            return httpx.Response(200, json=self._connection())
        if path == "/api/v1/connections/sync_progress":
            running = self._running()
            answer: dict[str, Any] = {"connectionId": CONN, "streams": []}
            if running:
                answer.update(jobId=running["id"], configType="sync")
            return httpx.Response(200, json=answer)
        if request.method == "GET" and path.endswith("/jobs"):
            jobs = sorted(self.jobs, key=lambda j: -j["id"])
            job_type = request.url.params.get("jobType")
            if job_type:
                jobs = [j for j in jobs if j["type"] == job_type]
            return httpx.Response(200, json={"data": [self._public_job(j) for j in jobs]})
        if request.method == "GET" and "/jobs/" in path:
            job = next(j for j in self.jobs if j["id"] == int(path.rsplit("/", 1)[1]))
            return httpx.Response(200, json=self._public_job(job))
        return httpx.Response(404, json={"message": f"no route {path}"})

    def _connection(self) -> dict[str, Any]:
        common = {
            "connectionId": CONN,
            "name": "c",
            "sourceId": "s",
            "destinationId": "d",
            "status": self.status,
        }
        return {**common, "syncCatalog": {"streams": []}} if self.dialect == "config" else common

    def _start(self, request: httpx.Request) -> httpx.Response:
        self.starts_received += 1
        fault = self.start_faults.pop(0) if self.start_faults else None
        if fault in ("503-before", "html-before"):
            if fault == "html-before":
                return httpx.Response(200, text="<html>proxy</html>")
            return httpx.Response(503, text="<html>Service Unavailable</html>")
        if fault and fault.startswith("stall-"):
            # The request waits in a proxy and reaches Airbyte this many seconds later.
            self.late.append(self.now + float(fault.removeprefix("stall-")))
            raise httpx.ReadTimeout("stalled", request=request)
        if self.status != "active":
            if self.dialect == "config":
                return httpx.Response(500, json={"errorId": "5a1e"})
            return httpx.Response(
                409,
                json={
                    "status": 409,
                    "type": "https://reference.airbyte.com/reference/errors#409-state-conflict",
                    "title": "state-conflict",
                    "detail": "State conflict",
                    "data": {"message": "Could not fulfill request"},
                },
            )
        job = self._create("sync", self.now)
        if job is None:
            if self.dialect == "config":
                return httpx.Response(
                    409, json={"message": f"A sync is already running for: {CONN}"}
                )
            return httpx.Response(
                409,
                json={
                    "status": 409,
                    "type": "https://reference.airbyte.com/reference/errors#try-again-later",
                    "title": "try-again-later",
                    "data": {"message": f"A sync is already running for: {CONN}"},
                },
            )
        if fault == "created-500":
            return httpx.Response(500, json={"errorId": "e"})
        if fault == "reset-after":
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        if fault == "truncated":
            return httpx.Response(200, text='{"job": {"id": ' + str(job["id"]))
        answer = (
            {"job": self._config_job(job), "attempts": []}
            if self.dialect == "config"
            else self._public_job(job)
        )
        return httpx.Response(200, json=answer)


def _client(server: FakeAirbyte) -> AirbyteClient:
    return AirbyteClient.from_url(
        ROOT,
        api=server.dialect,
        transport=httpx.MockTransport(server),
        retry=RetryPolicy(attempts=3, timeout=30),
        request_timeout=5.0,
    )


def _sync(server: FakeAirbyte) -> Any:
    with _client(server) as client:
        return sync_and_wait(
            client, CONN, poll_interval=1.0, sleep=server.sleep, clock=lambda: server.now
        )


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("fault", ["created-500", "reset-after", "truncated"])
def test_a_start_that_reached_airbyte_is_adopted_never_sent_again(dialect: str, fault: str) -> None:
    server = FakeAirbyte(dialect, start_faults=[fault])
    job = _sync(server)
    (new,) = server.new_jobs()
    assert job.job_id == new["id"] and job.succeeded
    assert server.starts_received == 1


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("fault", ["503-before", "html-before"])
def test_a_start_that_never_reached_airbyte_is_sent_again_once(dialect: str, fault: str) -> None:
    server = FakeAirbyte(dialect, start_faults=[fault])
    began = server.now
    job = _sync(server)
    (new,) = server.new_jobs()
    assert job.job_id == new["id"] and job.succeeded
    assert server.starts_received == 2
    # An answered request (a proxy's page) cannot arrive later: a short look, no late watch.
    assert server.now - began < 3.0 + server.duration + 2.0


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_previous_runs_job_is_never_adopted(dialect: str) -> None:
    # The old job finished 3 s ago (the old client adopted "any job of the last 30 s"); every
    # start answer is lost, and no new job ever appears.
    server = FakeAirbyte(dialect, start_faults=["503-before"] * _MAX_SENDS)
    with pytest.raises(AirbyteServerError):
        _sync(server)
    assert server.new_jobs() == []
    assert server.starts_received == _MAX_SENDS  # bounded, then a typed error


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_late_start_request_is_adopted_not_duplicated(dialect: str) -> None:
    # The request stalls past request_timeout and reaches Airbyte 3 s later, while the
    # client is still looking for the job it may have created.
    server = FakeAirbyte(dialect, start_faults=["stall-3"])
    job = _sync(server)
    (new,) = server.new_jobs()
    assert job.job_id == new["id"] and job.succeeded
    assert server.starts_received == 1


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_resent_start_meets_the_late_one_with_a_409(dialect: str) -> None:
    # The stalled request arrives after the adoption window, while the re-sent one's job runs:
    # Airbyte refuses it (one sync per connection), so there is still one job.
    server = FakeAirbyte(dialect, start_faults=["stall-8"], duration=5.0)
    job = _sync(server)
    (new,) = server.new_jobs()
    assert job.job_id == new["id"] and job.succeeded
    assert server.starts_received == 2 and server.cancelled == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_late_job_created_after_the_run_is_cancelled(dialect: str) -> None:
    # As above, but the re-sent sync ends (2 s) before the stalled request arrives (8 s): it
    # creates a second job. The run waits until no lost request can arrive any more, then
    # cancels it, so no job outlives the run untracked.
    server = FakeAirbyte(dialect, start_faults=["stall-8"], duration=2.0)
    job = _sync(server)
    first, late = server.new_jobs()
    assert job.job_id == first["id"] and job.succeeded
    assert server.cancelled == [late["id"]] and late["status"] == "cancelled"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_409_attaches_to_the_running_sync(dialect: str) -> None:
    server = FakeAirbyte(dialect)
    running = server._create("sync", server.now)
    assert running is not None
    with _client(server) as client:
        start = client.trigger_sync(CONN, sleep=server.sleep, clock=lambda: server.now)
    assert (start.how, start.job.job_id) == ("attached", running["id"])
    assert server.starts_received == 1


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_running_reset_is_waited_for_then_the_sync_starts(dialect: str) -> None:
    server = FakeAirbyte(dialect)
    reset = server._create("reset", server.now)
    assert reset is not None
    job = _sync(server)
    assert reset["status"] == "succeeded"  # waited for, not attached to, not cancelled
    assert job.job_type == "sync" and job.job_id > reset["id"] and job.succeeded
    assert [j["type"] for j in server.new_jobs()] == ["reset", "sync"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_inactive_connection_is_a_typed_error_never_resent(dialect: str) -> None:
    server = FakeAirbyte(dialect, status="inactive")
    with pytest.raises(AirbyteConnectionInactiveError) as caught:
        _sync(server)
    assert caught.value.connection_status == "inactive"
    assert "enable it in Airbyte" in str(caught.value)
    assert "already running" not in str(caught.value)
    assert server.starts_received == 1
    assert server.new_jobs() == []
