"""Small helpers shared by the local Airbyte tests (HTTP only, like a real client)."""

from __future__ import annotations

import time
from typing import Any

import httpx

__all__ = ["TERMINAL", "config_post", "wait_for_job"]

TERMINAL = ("succeeded", "failed", "cancelled")


def config_post(
    server: Any, path: str, body: dict[str, Any] | None = None, **kw: Any
) -> httpx.Response:
    return httpx.post(f"{server.config_api_url}{path}", json=body if body is not None else {}, **kw)


def wait_for_job(server: Any, job_id: int, timeout: float = 30, **kw: Any) -> dict[str, Any]:
    """Poll ``jobs/get_without_logs`` until the job is terminal; return its ``JobInfoRead``.

    That endpoint, not ``jobs/get``, carries the job's statistics (REAL-BEHAVIOUR §1.1, from
    v0.52.0) and no logs: what a client should poll.
    """
    deadline = time.monotonic() + timeout
    while True:
        info: dict[str, Any] = config_post(
            server, "/jobs/get_without_logs", {"id": job_id}, **kw
        ).json()
        if info["job"]["status"] in TERMINAL:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {info['job']['status']}")
        time.sleep(0.05)
