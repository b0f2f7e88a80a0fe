"""The ``progressive`` sync-duration control: records flow during the sync, as on the real Airbyte.

The real Airbyte persists an attempt's stats while it runs, on a fixed-rate timer of
``REPLICATION_FLUSH_PERIOD_SECONDS`` (10 s by default; ``SyncPersistence.kt``), so
``connections/sync_progress`` grows during a sync in steps that far apart; the poller's end
prediction ("records so far against earlier syncs' totals") depends on it. The default control
keeps the old shape (the whole wait, then every record at once).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import httpx
from local_airbyte.engine import _paced
from local_airbyte_helpers import wait_for_job
from openapi_validation import assert_matches_schema

CFG = "config-api"


def _post(server: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.config_api_url}{path}", json=body)
    assert response.status_code == 200, (path, response.text)
    result: dict[str, Any] = response.json()
    return result


def _control(server: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/_local/{path}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _jobs(server: Any, connection_id: str) -> list[dict[str, Any]]:
    body = {"configTypes": ["sync"], "configId": connection_id}
    jobs: list[dict[str, Any]] = _post(server, "/jobs/list", body)["jobs"]
    return jobs


def _without_bytes(value: Any) -> Any:
    """Stats without byte counts: Sample Data stamps each read's changed rows with the moment of
    the read (ids, timestamps), so two reads of the same shape differ by a few bytes."""
    if isinstance(value, dict):
        return {k: _without_bytes(v) for k, v in value.items() if not k.startswith("bytes")}
    if isinstance(value, list):
        return [_without_bytes(v) for v in value]
    return value


def _final_stats(server: Any, job_id: int) -> dict[str, Any]:
    """What a finished job reports: job-level and per-attempt stats, records and streams."""
    info = wait_for_job(server, job_id)
    assert info["job"]["status"] == "succeeded", info["job"]
    totals = info["job"]["aggregatedStats"]
    assert totals["bytesCommitted"] == totals["bytesEmitted"] > 0
    attempts = [x["attempt"] for x in info["attempts"]]
    return _without_bytes(
        {
            "aggregatedStats": totals,
            "streamAggregatedStats": info["job"]["streamAggregatedStats"],
            "attempts": [[a["status"], a["totalStats"], a["streamStats"]] for a in attempts],
        }
    )


def _sync(
    server: Any, seconds: float, *, progressive: bool, flush_seconds: float | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """One sync with ``seconds`` of duration; each ``sync_progress`` answer seen while it ran
    (with ``_seen_at``: seconds since the start request)."""
    cid = server.sample_connection_id
    body: dict[str, Any] = {"seconds": seconds, "progressive": progressive}
    if flush_seconds is not None:
        body["flush_seconds"] = flush_seconds
    control = _control(server, f"connections/{cid}/sync_duration", body)
    assert control["progressive"] is progressive
    assert control["flush_seconds"] == (flush_seconds or 10.0)
    started = time.monotonic()
    job_id: int = _post(server, "/connections/sync", {"connectionId": cid})["job"]["id"]
    seen: list[dict[str, Any]] = []
    for _ in range(2000):
        progress = _post(server, "/connections/sync_progress", {"connectionId": cid})
        if progress.get("jobId") != job_id:
            break  # the job ended: nothing runs on the connection any more
        assert_matches_schema(CFG, "/v1/connections/sync_progress", "post", 200, progress)
        seen.append({**progress, "_seen_at": time.monotonic() - started})
        time.sleep(0.02)
    return job_id, seen


def test_progressive_sync_progress_grows_and_final_stats_match(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """Polled during a progressive sync, ``sync_progress`` shows some records but not all (and
    never fewer than before); the finished job's stats equal a default sync's of the same data."""
    plain = local_airbyte_factory(seed="sample", test_controls=True)
    progressive = local_airbyte_factory(seed="sample", test_controls=True)

    plain_job, _ = _sync(plain, 1.0, progressive=False)
    expected = _final_stats(plain, plain_job)
    total = expected["aggregatedStats"]["recordsEmitted"]
    assert total > 0

    final = {s["streamName"]: s["recordsEmitted"] for s in expected["streamAggregatedStats"]}
    job_id, seen = _sync(progressive, 3.0, progressive=True, flush_seconds=0.5)
    assert seen, "the sync ended before the first progress poll"
    so_far = [p["recordsEmitted"] for p in seen]
    assert any(0 < records < total for records in so_far), so_far
    assert so_far == sorted(so_far), "records so far went down"
    # Within one stream too: its records arrive in slices, not all at once.
    partial = [
        s
        for p in seen
        for s in p["streams"]
        if 0 < s.get("recordsEmitted", 0) < final[s["streamName"]]
    ]
    assert partial, [p["streams"] for p in seen]
    assert _final_stats(progressive, job_id) == expected
    assert len(_jobs(progressive, progressive.sample_connection_id)) == 1


def test_running_stats_reach_the_api_once_per_flush_period(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """Records so far change only on the stats timer: with Airbyte's default (10 s) a 3 s sync
    shows none until it ends; with 2 s, the changes come about a period apart (never at the
    0.25 s pace of the records themselves)."""
    server = local_airbyte_factory(seed="sample", test_controls=True)
    _, seen = _sync(server, 3.0, progressive=True)
    assert len(seen) > 20, "polled too rarely to observe anything"
    assert {p["recordsEmitted"] for p in seen if "recordsEmitted" in p} <= {0}, seen[-1]

    _, seen = _sync(server, 5.0, progressive=True, flush_seconds=2.0)
    changes = [
        b["_seen_at"]
        for a, b in itertools.pairwise(seen)
        if b.get("recordsEmitted") != a.get("recordsEmitted")
    ]
    assert len(changes) >= 2, [p.get("recordsEmitted") for p in seen]
    # Polled every ~20 ms; half a period of slack for a busy machine delaying one poll.
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(changes)), changes


def test_progressive_sync_cancels_promptly_and_keeps_fail_after_streams(
    local_airbyte_factory,
) -> None:  # type: ignore[no-untyped-def]
    """A cancel mid-way ends the job (no waiting out the duration); an injected failure after
    one stream still commits exactly that stream first."""
    server = local_airbyte_factory(seed="sample", test_controls=True)
    cid = server.sample_connection_id
    _control(server, f"connections/{cid}/sync_duration", {"seconds": 600, "progressive": True})
    job_id = _post(server, "/connections/sync", {"connectionId": cid})["job"]["id"]
    cancelled = _post(server, "/jobs/cancel", {"id": job_id})
    assert cancelled["job"]["status"] == "cancelled"
    assert wait_for_job(server, job_id)["job"]["status"] == "cancelled"

    _control(server, f"connections/{cid}/sync_duration", {"seconds": 1.5, "progressive": True})
    _control(server, f"connections/{cid}/fail_next_attempts", {"count": 1, "after_streams": 1})
    job_id = _post(server, "/connections/sync", {"connectionId": cid})["job"]["id"]
    info = wait_for_job(server, job_id)
    first = info["attempts"][0]["attempt"]
    assert first["status"] == "failed"
    assert [s["streamName"] for s in first["streamStats"]] == ["customers"]
    assert first["failureSummary"]["partialSuccess"] is True
    assert info["job"]["status"] == "succeeded"  # the retry syncs every stream
    assert len(_jobs(server, cid)) == 2


def test_progressive_records_move_in_even_slices() -> None:
    """A steady rate: every slice of the duration carries an equal share of the records (a
    rounded-up share would run out of records a fifth of the way before the time does)."""
    sizes = [
        len(chunk) for chunk in _paced([{"id": i} for i in range(205)], 2.0, threading.Event())
    ]
    assert len(sizes) == 8  # a slice every 0.25 s
    assert sum(sizes) == 205
    assert max(sizes) - min(sizes) <= 1


def test_a_stats_flush_leaves_the_job_s_updated_at_alone(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    """Airbyte writes running stats to its stats tables, not to the job row
    (``DefaultJobPersistence.kt`` ``writeStats``): ``updatedAt`` moves with the status only."""
    server = local_airbyte_factory(seed="sample", test_controls=True)
    cid = server.sample_connection_id
    body = {"seconds": 4.0, "progressive": True, "flush_seconds": 1.0}
    _control(server, f"connections/{cid}/sync_duration", body)
    job_id = _post(server, "/connections/sync", {"connectionId": cid})["job"]["id"]
    time.sleep(0.5)
    early = _post(server, "/jobs/get_without_logs", {"id": job_id})["job"]
    time.sleep(2.5)
    later = _post(server, "/jobs/get_without_logs", {"id": job_id})["job"]
    assert later["status"] == "running", later
    assert later["aggregatedStats"]["recordsEmitted"] > early["aggregatedStats"]["recordsEmitted"]
    assert later["updatedAt"] == early["updatedAt"]
    wait_for_job(server, job_id)
