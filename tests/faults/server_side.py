"""What the local Airbyte itself says, asked directly over plain HTTP (never through the proxy).

The fault suite judges every materialization by the server's record: which jobs a connection
has, their status and their per-stream numbers. These calls are the test's own, so they raise
on any error status.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["TERMINAL", "ServerJob", "ServerSide", "StreamNumbers"]

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
_ALL_TYPES = ["sync", "reset_connection", "refresh", "clear"]


@dataclass(frozen=True)
class StreamNumbers:
    records_committed: int | None
    bytes_committed: int | None
    records_emitted: int | None


@dataclass(frozen=True)
class ServerJob:
    """One job as the server reports it in ``jobs/list`` (the hydrated listing)."""

    id: int
    config_type: str
    status: str
    created_at: float
    updated_at: float
    attempts: int
    streams: dict[str, StreamNumbers] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def describe(self) -> str:
        return f"job {self.id} ({self.config_type}, {self.status}, {self.attempts} attempt(s))"

    @classmethod
    def from_list_entry(cls, entry: dict[str, Any]) -> ServerJob:
        job = entry["job"]
        streams: dict[str, StreamNumbers] = {}
        aggregated = job.get("streamAggregatedStats")
        if aggregated:
            for item in aggregated:
                # Flat in jobs/list (Airbyte's StreamStats); tolerate a nested ``stats`` too.
                stats = item.get("stats", item)
                streams[item["streamName"]] = StreamNumbers(
                    stats.get("recordsCommitted"),
                    stats.get("bytesCommitted"),
                    stats.get("recordsEmitted"),
                )
        else:
            # No hydrated numbers: aggregate the attempts as Airbyte's StatsAggregationHelper
            # does for incremental streams (every stream here is incremental): sum them.
            sums: dict[str, dict[str, int]] = {}
            for attempt in entry.get("attempts") or []:
                for item in attempt.get("streamStats") or []:
                    stats = item.get("stats", item)
                    total = sums.setdefault(item["streamName"], {})
                    for key in ("recordsCommitted", "bytesCommitted", "recordsEmitted"):
                        if stats.get(key) is not None:
                            total[key] = total.get(key, 0) + int(stats[key])
            streams = {
                name: StreamNumbers(
                    s.get("recordsCommitted"), s.get("bytesCommitted"), s.get("recordsEmitted")
                )
                for name, s in sums.items()
            }
        return cls(
            id=int(job["id"]),
            config_type=str(job["configType"]),
            status=str(job["status"]),
            created_at=float(job["createdAt"]),
            updated_at=float(job["updatedAt"]),
            attempts=len(entry.get("attempts") or []),
            streams=streams,
        )


class _TokenAuth(httpx.Auth):
    """Client credentials for the test's own calls: fetch once, again after a 401."""

    def __init__(self, token_url: str, client_id: str, client_secret: str) -> None:
        self._url = token_url
        self._credentials = {"client_id": client_id, "client_secret": client_secret}
        self._token: str | None = None
        self._lock = threading.Lock()

    def _fetch(self) -> str:
        response = httpx.post(self._url, json=self._credentials, timeout=30)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            if self._token is None:
                self._token = self._fetch()
            token = self._token
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            with self._lock:
                self._token = self._fetch()
                token = self._token
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


class ServerSide:
    """Direct, authenticated access to one local Airbyte, for the test's own checks."""

    def __init__(self, server: Any) -> None:
        self.server = server
        auth: httpx.Auth | None = None
        if server.auth == "basic":
            auth = httpx.BasicAuth(*server.basic_credentials)
        elif server.auth == "client-credentials":
            auth = _TokenAuth(
                f"{server.public_api_url}/applications/token", *server.client_credentials
            )
        self._http = httpx.Client(base_url=server.url, auth=auth, timeout=60)

    def close(self) -> None:
        self._http.close()

    def config_api(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(f"/api/v1/{path}", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json() if response.content else {}
        return result

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A ``/_local/`` test control (POST)."""
        response = self._http.post(f"/_local/{path}", json=body or {})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    # -- connections ----------------------------------------------------------------------------

    def clone_sample_connection(self, name: str, prefix: str) -> str:
        """A new manual Sample Data -> DuckDB connection (its own tables via ``prefix``)."""
        sample = self.config_api(
            "connections/get", {"connectionId": self.server.sample_connection_id}
        )
        body = {
            key: sample[key]
            for key in ("sourceId", "destinationId", "namespaceDefinition", "status", "syncCatalog")
        }
        body.update(name=name, prefix=prefix, scheduleType="manual")
        return str(self.config_api("connections/create", body)["connectionId"])

    def set_sync_duration(self, connection_id: str, seconds: float) -> None:
        """Every attempt of the connection waits ``seconds`` before moving data."""
        self.control(f"connections/{connection_id}/sync_duration", {"seconds": seconds})

    # -- jobs -----------------------------------------------------------------------------------

    def jobs(self, connection_id: str) -> list[ServerJob]:
        """Every job of the connection (any type), oldest first."""
        body = {"configTypes": _ALL_TYPES, "configId": connection_id}
        entries = self.config_api("jobs/list", body)["jobs"]
        return sorted((ServerJob.from_list_entry(e) for e in entries), key=lambda j: j.id)

    def job(self, connection_id: str, job_id: int) -> ServerJob | None:
        return next((j for j in self.jobs(connection_id) if j.id == job_id), None)

    def sync_and_wait(self, connection_id: str, timeout: float = 60) -> ServerJob:
        """Start a sync directly and wait until it ends (a "previous run" of the connection)."""
        job_id = int(
            self.config_api("connections/sync", {"connectionId": connection_id})["job"]["id"]
        )
        return self.wait_terminal(connection_id, job_id, timeout)

    def wait_terminal(self, connection_id: str, job_id: int, timeout: float = 60) -> ServerJob:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(connection_id, job_id)
            if job is not None and job.terminal:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} did not end within {timeout}s: {job}")
            time.sleep(0.1)

    def cancel_running(self, connection_id: str) -> list[int]:
        """Cancel whatever still runs for the connection (cleanup between cases)."""
        cancelled = []
        for job in self.jobs(connection_id):
            if job.terminal:
                continue
            response = self._http.post("/api/v1/jobs/cancel", json={"id": job.id})
            if response.status_code < 400:
                cancelled.append(job.id)
        for job_id in cancelled:
            self.wait_terminal(connection_id, job_id, timeout=30)
        return cancelled
