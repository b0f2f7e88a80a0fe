"""Job engine: incremental syncs, failing attempts and retries, restart recovery, schedules."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from local_airbyte.cron import QuartzCron
from local_airbyte_helpers import config_post, wait_for_job


def _sync(server) -> dict:  # type: ignore[no-untyped-def,type-arg]
    job_id = config_post(
        server, "/connections/sync", {"connectionId": server.sample_connection_id}
    ).json()["job"]["id"]
    return wait_for_job(server, job_id)


def test_second_incremental_sync_moves_only_new_rows(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    first = _sync(local_airbyte)["job"]["aggregatedStats"]["recordsCommitted"]
    second = _sync(local_airbyte)["job"]["aggregatedStats"]["recordsCommitted"]
    assert 0 < second < first


def test_failed_attempts_retry_then_fail(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    server = local_airbyte_factory(seed="sample", test_controls=True, max_attempts=2)
    cid = server.sample_connection_id
    httpx.post(
        f"{server.url}/_local/connections/{cid}/fail_next_attempts",
        json={"count": 1, "message": "boom once"},
    )
    info = _sync(server)
    assert info["job"]["status"] == "succeeded"
    assert [a["attempt"]["status"] for a in info["attempts"]] == ["failed", "succeeded"]
    failure = info["attempts"][0]["attempt"]["failureSummary"]["failures"][0]
    assert failure["externalMessage"] == "boom once"
    httpx.post(
        f"{server.url}/_local/connections/{cid}/fail_next_attempts",
        json={"count": 5, "message": "boom"},
    )
    info = _sync(server)
    assert info["job"]["status"] == "failed" and len(info["attempts"]) == 2
    public = httpx.get(f"{server.public_api_url}/jobs/{info['job']['id']}").json()
    assert public["status"] == "failed"


def test_incomplete_between_attempts(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    server = local_airbyte_factory(
        seed="sample", test_controls=True, max_attempts=2, retry_delay=1.0
    )
    cid = server.sample_connection_id
    httpx.post(f"{server.url}/_local/connections/{cid}/fail_next_attempts", json={"count": 1})
    job_id = config_post(server, "/connections/sync", {"connectionId": cid}).json()["job"]["id"]
    seen = set()
    info = None
    for _ in range(200):
        info = config_post(server, "/jobs/get", {"id": job_id}).json()
        seen.add(info["job"]["status"])
        if info["job"]["status"] == "succeeded":
            break
        import time

        time.sleep(0.02)
    assert "incomplete" in seen and info is not None and info["job"]["status"] == "succeeded"


def test_restart_keeps_state_and_recovers_running_jobs(local_airbyte_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = local_airbyte_factory(state_dir=tmp_path, seed="sample", test_controls=True)
    cid = server.sample_connection_id
    done = _sync(server)["job"]["id"]
    httpx.post(f"{server.url}/_local/connections/{cid}/sync_duration", json={"seconds": 30})
    running = config_post(server, "/connections/sync", {"connectionId": cid}).json()["job"]["id"]
    server.stop()  # like a crash: the running job records nothing more
    again = local_airbyte_factory(state_dir=tmp_path, seed="sample")
    assert again.sample_connection_id == cid and again.workspace_id == server.workspace_id
    assert config_post(again, "/jobs/get", {"id": done}).json()["job"]["status"] == "succeeded"
    info = wait_for_job(again, running)
    assert info["attempts"][0]["attempt"]["status"] == "failed"
    assert info["job"]["status"] == "succeeded"  # retried after the restart
    listed = config_post(again, "/connections/list", {"workspaceId": again.workspace_id}).json()
    assert len(listed["connections"]) == 1  # seeding an existing state changes nothing


def test_scheduler_tick_runs_due_basic_schedule(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    cid = local_airbyte.sample_connection_id
    conn = config_post(local_airbyte, "/connections/get", {"connectionId": cid}).json()
    conn.update(
        scheduleType="basic", scheduleData={"basicSchedule": {"units": 1, "timeUnit": "hours"}}
    )
    assert config_post(local_airbyte, "/connections/update", conn).status_code == 200
    assert httpx.post(f"{local_airbyte.url}/_local/scheduler/tick").json()["startedJobIds"] == []
    # Not due yet: the connection was created just now. Make it due by starting from an old job.
    _sync(local_airbyte)
    assert httpx.post(f"{local_airbyte.url}/_local/scheduler/tick").json()["startedJobIds"] == []


def test_quartz_cron() -> None:
    every_hour = QuartzCron("0 0 * * * ?", "UTC")
    assert every_hour.next_after(datetime(2024, 5, 1, 12, 30, tzinfo=UTC)) == datetime(
        2024, 5, 1, 13, 0, tzinfo=UTC
    )
    paris = QuartzCron("0 30 8 ? * MON-FRI", "Europe/Paris")
    fire = paris.next_after(datetime(2024, 5, 4, 0, 0, tzinfo=UTC))  # a Saturday
    assert fire is not None and fire.astimezone(UTC) == datetime(2024, 5, 6, 6, 30, tzinfo=UTC)
