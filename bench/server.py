"""The local Airbyte both sides are measured against, plus the bench's own admin calls.

The server's handlers are wrapped in a :class:`~bench.requestlog.RequestLog`, which counts every
API call per side (by ``User-Agent``), times the handler (the server's own time per request,
injected latency excluded) and, when asked, records the answers for the fast stub. The admin
client sends its own ``User-Agent`` so that its calls never count for either side.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from local_airbyte import LocalAirbyte

from bench.requestlog import ADMIN_AGENT, RequestLog

__all__ = ["BenchServer", "install_request_log"]

SAMPLE_STREAMS = ("customers", "products", "orders")
TERMINAL = ("succeeded", "failed", "cancelled")


def install_request_log(server: LocalAirbyte, log: RequestLog) -> None:
    """Put ``log`` between the local Airbyte's outer layer and its request handlers.

    The one place the bench reaches into the local Airbyte: ``LocalAirbyte.start`` serves a
    ``LocalAirbyteApp`` (auth, request counters, injected faults) whose ``app`` attribute holds
    the FastAPI handlers. Wrapping the handlers, not the outer layer, keeps the injected latency
    out of the server's own time. If local-airbyte changes how it is assembled, change only this.
    """
    outer = server._server.config.app
    outer.app = log.wrap(outer.app)


class BenchServer:
    """A fresh local Airbyte (client-credentials auth, test controls on) in a temp directory."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-airbyte-")
        self.dir = Path(self._tmp.name)
        self.server = LocalAirbyte(
            state_dir=self.dir / "state", auth="client-credentials", test_controls=True
        )
        self._http: httpx.Client | None = None
        self.log = RequestLog()

    def __enter__(self) -> BenchServer:
        self.server.start()
        install_request_log(self.server, self.log)
        client_id, client_secret = self.server.client_credentials
        token = httpx.post(
            f"{self.server.public_api_url}/applications/token",
            json={"client_id": client_id, "client_secret": client_secret},
            headers={"User-Agent": ADMIN_AGENT},
        ).json()["access_token"]
        self._http = httpx.Client(
            base_url=self.server.url,
            headers={"User-Agent": ADMIN_AGENT, "Authorization": f"Bearer {token}"},
            timeout=120,
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            self._http.close()
        self.server.stop()
        self._tmp.cleanup()

    @property
    def http(self) -> httpx.Client:
        assert self._http is not None
        return self._http

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def worker_config(self, side: str, **extra: Any) -> dict[str, Any]:
        """What a worker needs to build its side's resource (the secret travels in argv of a
        local child process only, never into results or logs)."""
        client_id, client_secret = self.server.client_credentials
        return {
            "side": side,
            "url": self.server.url,
            "config_api_url": self.server.config_api_url,
            "public_api_url": self.server.public_api_url,
            "workspace_id": self.server.workspace_id,
            "client_id": client_id,
            "client_secret": client_secret,
            **extra,
        }

    # -- test controls --------------------------------------------------------------------------

    def counts_by_side(self) -> dict[str, int]:
        return self.log.counts()

    def reset_counts(self) -> None:
        self.log.clear()

    def latency(self, ms: int) -> None:
        if ms:
            self._call("POST", "/_local/faults", {"latency_ms": ms})
        else:
            self._call("DELETE", "/_local/faults")

    def bulk(self, connections: int, streams: int) -> list[str]:
        body = {"connections": connections, "streams": streams}
        ids: list[str] = self._call("POST", "/_local/bulk", body)["connectionIds"]
        return ids

    def sync_duration(
        self, connection_id: str, seconds: float, *, progressive: bool = False
    ) -> None:
        """Set the connection's sync length; ``progressive``: records flow during it (the
        progress endpoint grows as on a real Airbyte) instead of all at once at the end."""
        body = {"seconds": seconds, "progressive": progressive}
        self._call("POST", f"/_local/connections/{connection_id}/sync_duration", body)

    def run_sync(self, connection_id: str, timeout: float = 3600) -> dict[str, Any]:
        """Start a sync as an admin (not as either side) and wait for it; its timeline."""
        job = self._call("POST", "/api/v1/connections/sync", {"connectionId": connection_id})
        job_id = int(job["job"]["id"])
        deadline = time.monotonic() + timeout
        while True:
            timeline = self.timeline(job_id)
            if timeline["status"] in TERMINAL:
                if timeline["status"] != "succeeded":
                    raise RuntimeError(f"warm-up sync {job_id} of {connection_id}: {timeline}")
                return timeline
            if time.monotonic() > deadline:
                raise TimeoutError(f"warm-up sync {job_id} of {connection_id} did not end")
            time.sleep(0.2)

    def timeline(self, job_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/_local/jobs/{job_id}/timeline")
        return result

    def job_ids(self, connection_id: str) -> list[int]:
        body = {
            "configTypes": ["sync"],
            "configId": connection_id,
            "pagination": {"pageSize": 1000},
        }
        jobs = self._call("POST", "/api/v1/jobs/list", body)["jobs"]
        return sorted(int(j["job"]["id"]) for j in jobs)

    # -- real connections -----------------------------------------------------------------------

    def sample_connections(self, count: int, name: str) -> list[str]:
        """``count`` real Sample Data -> DuckDB connections (one DuckDB file, a prefix each).

        The DuckDB destination commits under a per-file lock, so one file is safe to share.
        """
        workspace_id = self.server.workspace_id
        definitions = self._call(
            "POST", "/api/v1/source_definitions/list", {"workspaceId": workspace_id}
        )["sourceDefinitions"]
        sample = next(d for d in definitions if d["name"] == "Sample Data")
        source = self._call(
            "POST",
            "/api/v1/sources/create",
            {
                "sourceDefinitionId": sample["sourceDefinitionId"],
                "connectionConfiguration": {},
                "workspaceId": workspace_id,
                "name": f"{name} source",
            },
        )
        definitions = self._call(
            "POST", "/api/v1/destination_definitions/list", {"workspaceId": workspace_id}
        )["destinationDefinitions"]
        duck = next(d for d in definitions if d["name"] == "DuckDB")
        destination = self._call(
            "POST",
            "/api/v1/destinations/create",
            {
                "destinationDefinitionId": duck["destinationDefinitionId"],
                "connectionConfiguration": {
                    "destination_path": str(self.dir / f"{name}.duckdb"),
                    "schema": "raw",
                },
                "workspaceId": workspace_id,
                "name": f"{name} DuckDB",
            },
        )
        streams = [
            {
                "stream": {"name": stream},
                "config": {
                    "syncMode": "full_refresh",
                    "destinationSyncMode": "overwrite",
                    "selected": True,
                },
            }
            for stream in SAMPLE_STREAMS
        ]
        ids = []
        for i in range(count):
            connection = self._call(
                "POST",
                "/api/v1/connections/create",
                {
                    "sourceId": source["sourceId"],
                    "destinationId": destination["destinationId"],
                    "syncCatalog": {"streams": streams},
                    "scheduleType": "manual",
                    "name": f"{name}_{i}",
                    "prefix": f"{name}_{i}_",
                    "namespaceDefinition": "destination",
                    "status": "active",
                },
            )
            ids.append(str(connection["connectionId"]))
        return ids
