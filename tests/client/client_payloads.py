"""Payloads shaped like the OpenAPI files in /work/shared/airbyte-api/ and a MockTransport app.

Config API payloads follow ``config-api.yaml`` (``ConnectionRead``, ``JobInfoRead``...);
Public API payloads follow ``public-api.yaml`` (``ConnectionResponse``, ``JobResponse``...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from dagster_airbyte_assets.client import AirbyteClient, RetryPolicy

WS = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
CONN = "18dccc91-0ab1-4f72-9ed7-0b8fc27c5826"
SRC = "0c31738c-0b2d-4887-b506-e2cd1c39cc35"
DST = "744cc0ed-7f05-4949-9e60-2a814f90c035"
ROOT = "http://airbyte.test:8000"

# ConnectionRead (config-api.yaml): cron schedule, customformat namespace, one stream unselected.
CONFIG_CONNECTION: dict[str, Any] = {
    "connectionId": CONN,
    "name": "Postgres → DuckDB",
    "workspaceId": WS,
    "sourceId": SRC,
    "destinationId": DST,
    "status": "active",
    "breakingChange": False,
    "namespaceDefinition": "customformat",
    "namespaceFormat": "${SOURCE_NAMESPACE}_raw",
    "prefix": "pg_",
    "scheduleType": "cron",
    "scheduleData": {"cron": {"cronExpression": "0 0 * * * ?", "cronTimeZone": "UTC"}},
    "created_at": 1714566896,
    "futureField": {"ignored": True},
    "syncCatalog": {
        "streams": [
            {
                "stream": {
                    "name": "customers",
                    "namespace": "public",
                    "jsonSchema": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer"},
                            "email": {"type": ["null", "string"]},
                        },
                    },
                    "supportedSyncModes": ["full_refresh", "incremental"],
                },
                "config": {
                    "syncMode": "incremental",
                    "destinationSyncMode": "append_dedup",
                    "cursorField": ["updated_at"],
                    "primaryKey": [["id"]],
                    "selected": True,
                },
            },
            {
                "stream": {"name": "orders", "namespace": "public", "jsonSchema": {}},
                "config": {
                    "syncMode": "full_refresh",
                    "destinationSyncMode": "overwrite",
                    "selected": False,
                },
            },
        ]
    },
}

# ConnectionResponse (public-api.yaml) for the same connection.
PUBLIC_CONNECTION: dict[str, Any] = {
    "connectionId": CONN,
    "name": "Postgres → DuckDB",
    "sourceId": SRC,
    "destinationId": DST,
    "workspaceId": WS,
    "status": "active",
    "schedule": {"scheduleType": "cron", "cronExpression": "0 0 * * * ? UTC"},
    "namespaceDefinition": "custom_format",
    "namespaceFormat": "${SOURCE_NAMESPACE}_raw",
    "prefix": "pg_",
    "createdAt": 1714566896,
    "tags": [],
    "configurations": {
        "streams": [
            {
                "name": "customers",
                "namespace": "public",
                "syncMode": "incremental_deduped_history",
                "cursorField": ["updated_at"],
                "primaryKey": [["id"]],
            }
        ]
    },
}


def config_job(job_id: int = 42, status: str = "running", **extra: Any) -> dict[str, Any]:
    """A ``JobInfoRead``."""
    job = {
        "id": job_id,
        "configType": "sync",
        "configId": CONN,
        "createdAt": 1714566896,
        "updatedAt": 1714567418,
        "status": status,
        "aggregatedStats": {
            "recordsEmitted": 120,
            "bytesEmitted": 4096,
            "recordsCommitted": 100,
            "bytesCommitted": 4000,
        },
        "streamAggregatedStats": [
            {
                "streamName": "customers",
                "streamNamespace": "public",
                "recordsEmitted": 120,
                "bytesEmitted": 4096,
                "recordsCommitted": 100,
                "bytesCommitted": 4000,
            }
        ],
        **extra,
    }
    return {
        "job": job,
        "attempts": [
            {
                "attempt": {
                    "id": 0,
                    "status": "failed" if status == "failed" else "running",
                    "createdAt": 1714566896,
                    "updatedAt": 1714567418,
                    "recordsSynced": 100,
                    "bytesSynced": 4000,
                    "failureSummary": {
                        "failures": [
                            {
                                "timestamp": 1714567418000,
                                "failureOrigin": "source",
                                "externalMessage": "Source connector failed: bad password",
                            }
                        ]
                    }
                    if status == "failed"
                    else None,
                },
                "logs": {"logLines": ["line 1"]},
            }
        ],
    }


def public_job(job_id: int = 42, status: str = "running") -> dict[str, Any]:
    """A ``JobResponse``."""
    body: dict[str, Any] = {
        "jobId": job_id,
        "status": status,
        "jobType": "sync",
        "startTime": "2024-05-01T12:34:56Z",
        "connectionId": CONN,
        "bytesSynced": 4000,
        "rowsSynced": 100,
    }
    if status in ("succeeded", "failed", "cancelled"):
        body["lastUpdatedAt"] = "2024-05-01T12:43Z"
        body["duration"] = "PT8M4S"
    return body


Handler = Callable[[httpx.Request], httpx.Response]

FAST = RetryPolicy(attempts=4, timeout=5.0, wait_initial=0.001, wait_max=0.01, wait_jitter=0.0)


class Recorder:
    """A MockTransport that records every request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


MakeClient = Callable[..., tuple[AirbyteClient, Recorder]]
