"""The local Airbyte restarts (same state dir, same port) while a Dagster step waits on a sync.

Either the step completes once the server is back (the job is recovered and retried by the
server), or, when the server stays down longer than ``outage_timeout``, it fails with a typed
outage error naming the last connection error, and without cancelling the job: an outage says
nothing about the job, which the server finishes once it is back.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from local_airbyte import LocalAirbyte
from reliability_helpers import (
    TERMINAL,
    build_assets,
    control,
    duckdb_count,
    jobs_of,
    materialized_metadata,
    sample_duckdb_path,
    wait_until,
)

from dagster_airbyte_assets._sync import AirbyteSyncFailure
from dagster_airbyte_assets.errors import AirbyteConnectError, AirbyteOutageError
from dagster_airbyte_assets.translator import MetadataKeys


def _running_job(server: LocalAirbyte) -> dict[str, Any] | None:
    assert server.sample_connection_id is not None
    jobs = jobs_of(server, server.sample_connection_id)
    return next((j for j in jobs if j["status"] == "running"), None)


def _start(state: Path, port: int = 0) -> LocalAirbyte:
    return LocalAirbyte(state_dir=state, port=port, seed="sample", test_controls=True).start()


@pytest.mark.timeout(90)
def test_step_completes_after_the_server_comes_back(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _start(state)
    port, connection_id = first.port, first.sample_connection_id
    servers = [first]
    try:
        control(first, "POST", f"connections/{connection_id}/sync_duration", {"seconds": 30})
        workspace, assets = build_assets(
            first, tmp_path, poll_interval=1.0, request_max_retries=10, retry_timeout=60
        )

        def restart() -> None:
            wait_until(lambda: _running_job(first), 20, "the sync to run")
            first.stop()
            time.sleep(2.0)  # the step's polls fail (connection refused) meanwhile
            servers.append(_start(state, port))

        restarter = threading.Thread(target=restart)
        restarter.start()
        result = dg.materialize(assets, resources={"airbyte": workspace}, raise_on_error=False)
        restarter.join(30)
        second = servers[-1]
        assert second is not first and second.port == port

        assert result.success, [e.message for e in result.all_events if e.is_failure]
        (job,) = jobs_of(second, str(connection_id))
        assert job["status"] == "succeeded"
        metadata = materialized_metadata(result)
        path = sample_duckdb_path(second)
        for key, meta in metadata.items():
            # The attempt lost at the restart failed; the server retried it.
            assert meta[MetadataKeys.ATTEMPTS] == 2
            assert meta[MetadataKeys.JOB_ID] == job["id"]
            assert meta[MetadataKeys.ROW_COUNT] == duckdb_count(path, "raw", key.path[-1]) > 0
    finally:
        for server in servers:
            server.stop()


@pytest.mark.timeout(90)
def test_step_fails_clearly_without_cancelling_when_the_server_stays_down(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _start(state)
    port, connection_id = first.port, str(first.sample_connection_id)
    control(first, "POST", f"connections/{connection_id}/sync_duration", {"seconds": 30})
    workspace, assets = build_assets(
        first,
        tmp_path,
        poll_interval=1.0,
        request_max_retries=3,
        retry_timeout=5,
        outage_timeout=8,
    )

    def stop_when_running() -> None:
        wait_until(lambda: _running_job(first), 20, "the sync")
        first.stop()

    stopper = threading.Thread(target=stop_when_running)
    stopper.start()
    try:
        with pytest.raises(AirbyteSyncFailure) as caught:
            dg.materialize(assets, resources={"airbyte": workspace})
    finally:
        stopper.join(30)
        first.stop()
    error = caught.value.error
    # An outage is not a reason to cancel: the step fails after outage_timeout, says so, and
    # names the last error; the job it waited for is left to Airbyte.
    assert isinstance(error, AirbyteOutageError)
    assert "outage_timeout=8s" in str(error) and "was not cancelled" in str(error)
    assert isinstance(error.last_error, AirbyteConnectError)
    assert f"Cannot reach Airbyte at http://127.0.0.1:{port}" in str(error.last_error)
    assert error.job is not None

    second = _start(state, port)
    try:
        # The job the dead server was running is recovered and finishes on its own.
        wait_until(
            lambda: all(j["status"] in TERMINAL for j in jobs_of(second, connection_id)),
            60,
            "the recovered job to finish",
        )
        (job,) = jobs_of(second, connection_id)
        assert job["id"] == error.job.job_id
        assert job["status"] == "succeeded"  # never cancelled: retried by the server
    finally:
        second.stop()
