"""A due schedule really starts a sync: ``POST /_local/scheduler/tick {"now": ...}`` end to end.

The server runs with ``scheduler=True`` but an hour between passes, so only the ticks the test
sends decide anything; ``now`` moves the scheduler's clock, never the job's.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from local_airbyte_helpers import config_post, wait_for_job


@pytest.fixture
def server(local_airbyte_factory):  # type: ignore[no-untyped-def]
    return local_airbyte_factory(
        seed="sample", test_controls=True, scheduler=True, scheduler_interval=3600
    )


def _tick(server: Any, now: float | str) -> list[int]:
    response = httpx.post(f"{server.url}/_local/scheduler/tick", json={"now": now})
    assert response.status_code == 200, response.text
    started: list[int] = response.json()["startedJobIds"]
    return started


def _next_weekday_at(after: datetime, hour: int, minute: int, zone: str) -> datetime:
    """First Monday-Friday ``hour:minute`` in ``zone`` strictly after ``after`` (the oracle)."""
    tz = ZoneInfo(zone)
    day = after.astimezone(tz).date()
    while True:
        candidate = datetime.combine(day, time(hour, minute), tzinfo=tz)
        if candidate.weekday() < 5 and candidate > after:
            return candidate
        day += timedelta(days=1)


def test_due_basic_schedule_starts_a_sync_that_succeeds(server) -> None:  # type: ignore[no-untyped-def]
    cid = server.sample_connection_id
    conn = config_post(server, "/connections/get", {"connectionId": cid}).json()
    conn.update(
        scheduleType="basic", scheduleData={"basicSchedule": {"units": 1, "timeUnit": "hours"}}
    )
    assert config_post(server, "/connections/update", conn).status_code == 200
    created = conn["created_at"]

    assert _tick(server, created + 3599) == []  # an hour after creation is not there yet
    (job_id,) = _tick(server, created + 3600)
    info = wait_for_job(server, job_id)
    assert info["job"]["status"] == "succeeded" and info["job"]["configType"] == "sync"
    assert info["job"]["aggregatedStats"]["recordsCommitted"] > 0
    public = httpx.get(f"{server.public_api_url}/jobs/{job_id}").json()
    assert public["status"] == "succeeded" and public["connectionId"] == cid

    # The next run counts from the moment that made the last one due, an hour later again.
    assert _tick(server, created + 3600) == []
    assert _tick(server, created + 7199) == []
    (second,) = _tick(server, datetime.fromtimestamp(created + 7200, UTC).isoformat())
    assert second != job_id and wait_for_job(server, second)["job"]["status"] == "succeeded"

    # An inactive connection is never due.
    httpx.patch(f"{server.public_api_url}/connections/{cid}", json={"status": "inactive"})
    assert _tick(server, created + 30 * 86400) == []


def test_due_cron_schedule_in_new_york_starts_a_sync(server) -> None:  # type: ignore[no-untyped-def]
    # A zone other than UTC is only settable through the Config API (the Public mappers store
    # cronTimeZone "UTC", ConnectionCreateMapper.kt ~54-58).
    cid = server.sample_connection_id
    conn = config_post(server, "/connections/get", {"connectionId": cid}).json()
    conn.update(
        scheduleType="cron",
        scheduleData={
            "cron": {"cronExpression": "0 30 8 ? * MON-FRI", "cronTimeZone": "America/New_York"}
        },
    )
    patched = config_post(server, "/connections/update", conn)
    assert patched.status_code == 200, patched.text
    created = datetime.fromtimestamp(patched.json()["created_at"], UTC)
    fire = _next_weekday_at(created, 8, 30, "America/New_York")
    assert fire.astimezone(UTC).hour in (12, 13)  # 08:30 in New York is not 08:30 UTC
    utc_reading = _next_weekday_at(created, 8, 30, "UTC")
    if utc_reading < fire:
        assert _tick(server, utc_reading.timestamp()) == []  # the zone is honoured
    assert _tick(server, fire.timestamp() - 1) == []
    (job_id,) = _tick(server, fire.isoformat())
    info = wait_for_job(server, job_id)
    assert info["job"]["status"] == "succeeded"
    assert info["job"]["aggregatedStats"]["recordsCommitted"] > 0
    # Once a job ran, the same moment is no longer due (the next fire is a weekday later).
    assert _tick(server, fire.timestamp()) == []


def test_tick_rejects_a_bad_now(server) -> None:  # type: ignore[no-untyped-def]
    for now in ("yesterday", "2030-01-01T00:00:00", -5, True):
        response = httpx.post(f"{server.url}/_local/scheduler/tick", json={"now": now})
        assert response.status_code == 422, now
    assert httpx.post(f"{server.url}/_local/scheduler/tick").json() == {"startedJobIds": []}
