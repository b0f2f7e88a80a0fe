"""Test controls under ``/_local/`` (not part of Airbyte's API); off unless enabled at start-up.

Faults (latency, failing statuses, dropped connections) apply to Airbyte API requests only, so
a test can always reach the controls themselves. Request counters let tests count API calls:
by literal route, by endpoint (ids replaced by ``{jobId}``-style names), per ``User-Agent`` (two
clients measured at once stay apart) and per category, so a test can assert "no log-carrying
endpoint was called while waiting" or "zero workspace-loading calls" (see :data:`CATEGORIES`).
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import Response

from .api_errors import InvalidInput, JobNotFound, NotFound
from .auth import TokenIssuer
from .engine import STATS_FLUSH_SECONDS
from .service import Service, get_field, require_object
from .store import TERMINAL_STATUSES

__all__ = ["CATEGORIES", "FaultPlan", "Faults", "build_router", "endpoint_of"]

_SINGULAR = {
    "jobs": "jobId",
    "connections": "connectionId",
    "sources": "sourceId",
    "destinations": "destinationId",
    "workspaces": "workspaceId",
    "tags": "tagId",
}

# Endpoints whose answers carry job logs: every JobInfoRead built by JobConverter.getJobInfoRead
# (jobs/get, jobs/cancel, connections/sync|reset|clear), which reads each attempt's log file.
_LOG_CARRYING = frozenset(
    "POST /api/v1/" + a
    for a in (
        "jobs/get",
        "jobs/cancel",
        "connections/sync",
        "connections/reset",
        "connections/clear",
        "attempt/get_for_job",
    )
)
# Endpoints that load a workspace's resources (what building asset definitions costs).
_WORKSPACE_LOADING_CONFIG = frozenset(
    "POST /api/v1/" + a
    for a in (
        "workspaces/list",
        "workspaces/get",
        "workspaces/get_by_slug",
        "workspaces/list_paginated",
        "connections/list",
        "connections/list_all",
        "connections/list_paginated",
        "connections/get",
        "web_backend/connections/get",
        "web_backend/connections/list",
        "sources/list",
        "sources/get",
        "destinations/list",
        "destinations/get",
        "sources/discover_schema",
    )
)
_WORKSPACE_LOADING_PUBLIC = (
    "GET /workspaces",
    "GET /connections",
    "GET /sources",
    "GET /destinations",
    "GET /streams",
)
CATEGORIES = {
    "log_carrying": "Config endpoints answering JobInfoRead with every attempt's logs",
    "workspace_loading": "reads of workspaces, connections, sources, destinations, streams",
}


def endpoint_of(method: str, path: str) -> str:
    """``"GET /api/public/v1/jobs/{jobId}"`` for ``GET /api/public/v1/jobs/42``."""
    parts = path.split("/")
    for index in range(1, len(parts)):
        name = _SINGULAR.get(parts[index - 1])
        if (
            name
            and parts[index]
            and not parts[index].startswith("{")
            and _looks_like_id(parts[index])
        ):
            parts[index] = "{" + name + "}"
    return f"{method} {'/'.join(parts)}"


def _looks_like_id(segment: str) -> bool:
    if segment.lstrip("-").isdigit():
        return True
    try:
        uuid.UUID(segment)
    except ValueError:
        return False
    return True


def _categories(endpoint: str) -> list[str]:
    found = []
    if endpoint in _LOG_CARRYING:
        found.append("log_carrying")
    method, _, path = endpoint.partition(" ")
    public_path = path
    for prefix in ("/api/public/v1", "/v1"):
        if path.startswith(prefix + "/"):
            public_path = path[len(prefix) :]
            break
    if endpoint in _WORKSPACE_LOADING_CONFIG or (
        method == "GET" and public_path.startswith(_PUBLIC_LOADING_PATHS) and path != public_path
    ):
        found.append("workspace_loading")
    return found


_PUBLIC_LOADING_PATHS = tuple(p.partition(" ")[2] for p in _WORKSPACE_LOADING_PUBLIC)


@dataclass
class FaultPlan:
    latency_ms: int = 0
    fail_rate: float = 0.0
    fail_status: int = 503
    retry_after: int | None = None
    drop_rate: float = 0.0
    path_regex: str | None = None
    seed: int | None = None
    # Besides ``fail_rate``: a share answered 429 with ``Retry-After``, so one plan can mix
    # server errors and rate limits as a real overloaded deployment does.
    limit_rate: float = 0.0
    # Latency spikes: a share of requests delayed by ``spike_ms`` on top of ``latency_ms``.
    spike_rate: float = 0.0
    spike_ms: int = 0


class Faults:
    """The active fault plan and the request counters (shared with the ASGI wrapper)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.plan: FaultPlan | None = None
        self._pattern: re.Pattern[str] | None = None
        self._random = random.Random()
        self.counts: Counter[str] = Counter()
        self.endpoints: Counter[str] = Counter()
        self.categories: Counter[str] = Counter()
        self.agents: Counter[str] = Counter()

    def set(self, plan: FaultPlan) -> None:
        with self._lock:
            self.plan = plan
            self._pattern = re.compile(plan.path_regex) if plan.path_regex else None
            self._random = random.Random(plan.seed)

    def clear(self) -> None:
        with self._lock:
            self.plan = None
            self._pattern = None

    def count(self, method: str, path: str, agent: str = "") -> None:
        endpoint = endpoint_of(method, path)
        with self._lock:
            self.counts[f"{method} {path}"] += 1
            self.endpoints[endpoint] += 1
            for category in _categories(endpoint):
                self.categories[category] += 1
            self.agents[agent[:100]] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self.counts.values()),
                "by_route": dict(self.counts),
                "by_endpoint": dict(self.endpoints),
                "by_category": {name: self.categories[name] for name in CATEGORIES},
                "by_agent": dict(self.agents),
            }

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.endpoints.clear()
            self.categories.clear()
            self.agents.clear()

    def decide(self, path: str) -> tuple[float, str | None, FaultPlan | None]:
        """``(latency seconds, "drop" | "fail" | "limit" | None, plan)`` for one request."""
        with self._lock:
            plan = self.plan
            if plan is None or (self._pattern is not None and not self._pattern.search(path)):
                return 0.0, None, None
            action = None
            if plan.drop_rate and self._random.random() < plan.drop_rate:
                action = "drop"
            elif plan.fail_rate and self._random.random() < plan.fail_rate:
                action = "fail"
            elif plan.limit_rate and self._random.random() < plan.limit_rate:
                action = "limit"
            latency = plan.latency_ms
            if plan.spike_rate and self._random.random() < plan.spike_rate:
                latency += plan.spike_ms
            return latency / 1000.0, action, plan


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(name, f"must be a number between {low} and {high}", value)
    return float(value)


def _moment(value: Any) -> float | None:
    """Epoch seconds from a number or an ISO-8601 string with an offset (``Z`` allowed)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.timestamp()
    raise InvalidInput("now", "must be epoch seconds or an ISO-8601 time with an offset", value)


def build_router(service: Service, faults: Faults, tokens: TokenIssuer) -> APIRouter:
    router = APIRouter(prefix="/_local")

    def find_job(job_id: str) -> dict[str, Any]:
        """The job, or a plain 404: the controls are not Airbyte and need no 500 for a typo."""
        try:
            return service.job(job_id)
        except JobNotFound:
            raise NotFound("job", job_id) from None

    @router.post("/faults")
    def set_faults(body: Any = Body(None)) -> dict[str, Any]:
        data = require_object(body)
        status = int(_number(data, "fail_status", 503, 100, 599))
        limit_rate = _number(data, "limit_rate", 0.0, 0.0, 1.0)
        retry_after = data.get("retry_after")
        if retry_after is None and status == 429:
            retry_after = 1
        pattern = data.get("path_regex")
        if pattern is not None:
            try:
                re.compile(pattern)
            except (re.error, TypeError):
                raise InvalidInput("path_regex", "must be a regular expression", pattern) from None
        plan = FaultPlan(
            latency_ms=int(_number(data, "latency_ms", 0, 0, 60_000)),
            fail_rate=_number(data, "fail_rate", 0.0, 0.0, 1.0),
            fail_status=status,
            retry_after=None if retry_after is None else int(retry_after),
            drop_rate=_number(data, "drop_rate", 0.0, 0.0, 1.0),
            path_regex=pattern,
            seed=data.get("seed"),
            limit_rate=limit_rate,
            spike_rate=_number(data, "spike_rate", 0.0, 0.0, 1.0),
            spike_ms=int(_number(data, "spike_ms", 0, 0, 60_000)),
        )
        faults.set(plan)
        return {"faults": plan.__dict__}

    @router.delete("/faults")
    def clear_faults() -> Response:
        faults.clear()
        return Response(status_code=204)

    @router.get("/requests")
    def requests() -> dict[str, Any]:
        return faults.snapshot()

    @router.delete("/requests")
    def reset_requests() -> Response:
        faults.reset_counts()
        return Response(status_code=204)

    @router.post("/connections/{connection_id}/fail_next_attempts")
    def fail_next(connection_id: str, body: Any = Body(None)) -> dict[str, Any]:
        data = require_object(body)
        service.connection(connection_id)
        count = int(_number(data, "count", 1, 0, 1000))
        message = data.get("message") or "Injected failure (test control)."
        # after_streams: commit that many streams first (a partial success, like a source
        # that fails mid-sync), then fail.
        after = int(_number(data, "after_streams", 0, 0, 10_000))
        service.engine.fail_next[connection_id] = (count, str(message), after)
        return {"connectionId": connection_id, "count": count, "after_streams": after}

    @router.post("/connections/{connection_id}/sync_duration")
    def sync_duration(connection_id: str, body: Any = Body(None)) -> dict[str, Any]:
        data = require_object(body)
        service.connection(connection_id)
        seconds = _number(data, "seconds", 0.0, 0.0, 3600.0)
        # progressive: records move in slices over the duration (sync_progress grows) instead
        # of all at once after it.
        progressive = data.get("progressive", False)
        if not isinstance(progressive, bool):
            raise InvalidInput("progressive", "must be true or false", progressive)
        if seconds:
            service.engine.sync_duration[connection_id] = seconds
        else:
            service.engine.sync_duration.pop(connection_id, None)
        if seconds and progressive:
            service.engine.progressive.add(connection_id)
        else:
            service.engine.progressive.discard(connection_id)
        # flush_seconds: how often a running attempt's stats reach the API (Airbyte's
        # REPLICATION_FLUSH_PERIOD_SECONDS, 10 s unless a deployment sets it).
        flush = _number(data, "flush_seconds", STATS_FLUSH_SECONDS, 0.05, 3600.0)
        service.engine.stats_flush_seconds[connection_id] = flush
        return {
            "connectionId": connection_id,
            "seconds": seconds,
            "progressive": progressive,
            "flush_seconds": flush,
        }

    @router.post("/jobs/{job_id}/force_status")
    def force_status(job_id: str, body: Any = Body(None)) -> dict[str, Any]:
        data = require_object(body)
        job = find_job(job_id)
        if data.get("status") is None:
            # {"status": null} releases the job: its real status shows again.
            service.engine.forced_status.pop(job["id"], None)
            return {"jobId": job["id"], "status": None}
        status = get_field(data, "status")
        service.engine.forced_status[job["id"]] = status
        return {"jobId": job["id"], "status": status}

    @router.get("/jobs/{job_id}/timeline")
    def timeline(job_id: str) -> dict[str, Any]:
        """A job's milestones as float epoch seconds (the APIs round them to whole seconds)."""
        job = find_job(job_id)
        terminal = job["status"] in TERMINAL_STATUSES
        return {
            "jobId": job["id"],
            "status": job["status"],
            "createdAt": job.get("createdAt"),
            "startedAt": job.get("startedAt"),
            "updatedAt": job.get("updatedAt"),
            # The last save is the one that made the terminal status visible to clients.
            "endedAt": job.get("updatedAt") if terminal else None,
            "attempts": [
                {
                    "status": a.get("status"),
                    "createdAt": a.get("createdAt"),
                    "endedAt": a.get("endedAt"),
                }
                for a in job.get("attempts", [])
            ],
        }

    @router.delete("/jobs/{job_id}")
    def delete_job(job_id: str) -> Response:
        job = find_job(job_id)
        service.engine.delete(job["id"])
        return Response(status_code=204)

    @router.post("/tokens/revoke")
    def revoke() -> Response:
        tokens.revoke_all()
        return Response(status_code=204)

    @router.post("/bulk")
    def bulk(body: Any = Body(None)) -> dict[str, Any]:
        data = require_object(body)
        n = int(_number(data, "connections", 1, 1, 100_000))
        m = int(_number(data, "streams", 1, 1, 1000))
        workspace_id = data.get("workspace_id") or data.get("workspaceId")
        if workspace_id is None:
            workspaces = service.store.list("workspaces")
            if not workspaces:
                raise NotFound("workspace", None)
            workspace_id = workspaces[0]["workspaceId"]
        service.workspace(workspace_id)
        return {"workspaceId": workspace_id, "connectionIds": _bulk(service, workspace_id, n, m)}

    @router.post("/scheduler/tick")
    def tick(body: Any = Body(None)) -> dict[str, Any]:
        """One scheduler pass; ``{"now": <epoch seconds | ISO-8601>}`` decides what is due.

        Jobs themselves still start and run on the real clock: only "is it due" uses ``now``,
        which is what lets a test fire an hourly or cron schedule without waiting for it.
        """
        now = _moment(require_object(body).get("now"))
        return {"startedJobIds": service.engine.tick(now)}

    return router


def _bulk(service: Service, workspace_id: str, n: int, m: int) -> list[str]:
    """N connections x M streams straight into the store, sharing one source/destination."""
    sources = service.registry.sources
    destinations = service.registry.destinations
    if not sources or not destinations:
        raise InvalidInput("connections", "this server has no connectors registered")
    source_def = next(
        (k for k, c in sources.items() if c.name == "Sample Data"), next(iter(sources))
    )
    dest_def = next(
        (k for k, c in destinations.items() if c.name == "DuckDB"), next(iter(destinations))
    )
    source = service.create_actor("sources", workspace_id, source_def, "Bulk source", {})
    destination = service.create_actor(
        "destinations", workspace_id, dest_def, "Bulk destination", {}
    )
    now = int(time.time())
    streams = [
        {
            "stream": {
                "name": f"stream_{j}",
                "jsonSchema": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "updated_at": {"type": "string"}},
                },
                "supportedSyncModes": ["full_refresh", "incremental"],
                "defaultCursorField": ["updated_at"],
                "sourceDefinedPrimaryKey": [["id"]],
            },
            "config": {
                "syncMode": "incremental",
                "destinationSyncMode": "append",
                "cursorField": ["updated_at"],
                "primaryKey": [["id"]],
                "selected": True,
                "aliasName": f"stream_{j}",
            },
        }
        for j in range(m)
    ]
    docs = []
    ids = []
    for i in range(n):
        connection_id = str(uuid.uuid4())
        ids.append(connection_id)
        docs.append(
            (
                connection_id,
                {
                    "connectionId": connection_id,
                    "name": f"bulk_{i}",
                    "sourceId": source["sourceId"],
                    "destinationId": destination["destinationId"],
                    "workspaceId": workspace_id,
                    "namespaceDefinition": "destination",
                    "namespaceFormat": None,
                    "prefix": f"bulk_{i}_",
                    "status": "active",
                    "scheduleType": "manual",
                    "operationIds": [],
                    "breakingChange": False,
                    "nonBreakingChangesPreference": "ignore",
                    "created_at": now,
                    "syncCatalog": {"streams": streams},
                },
                workspace_id,
            )
        )
    service.store.put_many("connections", docs)
    return ids
