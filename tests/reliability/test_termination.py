"""Terminating a Dagster run while its step waits cancels the Airbyte job, checked on the server.

The run is real: ``dagster asset materialize -f <defs>`` in a subprocess with its own
DAGSTER_HOME. It is interrupted the way Dagster interrupts a run worker (SIGINT; run workers map
SIGTERM to it), the step sees Dagster's interruption in its wait, and ``_sync.py`` cancels the
job in its ``finally``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from reliability_helpers import control, jobs_of, wait_until

DEFS = """
import os

import dagster as dg

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions

airbyte = AirbyteWorkspace(url=os.environ["AIRBYTE_URL"], poll_interval=30.0)
defs = dg.Definitions(
    assets=build_airbyte_assets_definitions(
        workspace=airbyte, state_path=os.environ["STATE_PATH"]
    ),
    resources={"airbyte": airbyte},
)
"""

WORKER = """
import os, sys

import dagster as dg
from dagster._utils.interrupts import setup_interrupt_handlers

sys.path.insert(0, os.environ["DEFS_DIR"])
from defs import defs

setup_interrupt_handlers()  # what `dagster api execute_run` does: SIGTERM -> interrupt
with dg.DagsterInstance.get() as instance:
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, raise_on_error=False)
print("RUN SUCCESS" if result.success else "RUN NOT SUCCESSFUL", flush=True)
"""


def _launch(server: Any, tmp_path: Path, command: list[str]) -> subprocess.Popen[str]:
    (tmp_path / "defs.py").write_text(DEFS)
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        **os.environ,
        "AIRBYTE_URL": server.url,
        "STATE_PATH": str(tmp_path / "state.json"),
        "DAGSTER_HOME": str(home),
        "DEFS_DIR": str(tmp_path),
    }
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _interrupt_and_check(
    server: Any, process: subprocess.Popen[str], tmp_path: Path, signum: int
) -> str:
    connection_id = server.sample_connection_id
    try:
        job = wait_until(
            lambda: next(
                (j for j in jobs_of(server, connection_id) if j["status"] == "running"), None
            ),
            60,
            "the run to start its Airbyte sync",
            step=0.2,
        )
        sent = time.monotonic()
        process.send_signal(signum)
        try:
            wait_until(
                lambda: jobs_of(server, connection_id)[0]["status"] == "cancelled",
                15,
                "the Airbyte job to be cancelled",
            )
        except AssertionError:
            process.kill()
            raise AssertionError(
                f"not cancelled; the run said:\n{process.communicate()[0]}"
            ) from None
        cancelled_after = time.monotonic() - sent
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # A few seconds: the step is woken from its sleep by the interrupt, not at its next poll
    # (poll_interval is 30 s here). Generous, because the whole suite shares two cores.
    assert cancelled_after < 15
    (only,) = jobs_of(server, connection_id)
    assert only["id"] == job["id"] and only["status"] == "cancelled"
    assert "RUN SUCCESS" not in output
    # Dagster recorded a run that did not succeed, and the step said what it cleaned up.
    with dg.DagsterInstance.from_ref(
        InstanceRef.from_dir(str(tmp_path / "dagster_home"))
    ) as instance:
        (run,) = instance.get_runs()
        assert run.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
        messages = [r.user_message for r in instance.all_logs(run.run_id)]
    assert any(f"Cancelled Airbyte job {job['id']}" in m for m in messages), messages
    return output


@pytest.mark.timeout(120)
def test_sigint_to_dagster_cli_run_cancels_the_airbyte_job(
    local_airbyte: Any, tmp_path: Path
) -> None:
    control(
        local_airbyte,
        "POST",
        f"connections/{local_airbyte.sample_connection_id}/sync_duration",
        {"seconds": 120},
    )
    dagster = str(Path(sys.executable).with_name("dagster"))
    process = _launch(
        local_airbyte, tmp_path, [dagster, "asset", "materialize", "-f", "defs.py", "--select", "*"]
    )
    _interrupt_and_check(local_airbyte, process, tmp_path, signal.SIGINT)


@pytest.mark.timeout(120)
def test_sigterm_to_run_worker_cancels_the_airbyte_job(local_airbyte: Any, tmp_path: Path) -> None:
    control(
        local_airbyte,
        "POST",
        f"connections/{local_airbyte.sample_connection_id}/sync_duration",
        {"seconds": 120},
    )
    (tmp_path / "worker.py").write_text(WORKER)
    process = _launch(local_airbyte, tmp_path, [sys.executable, "worker.py"])
    _interrupt_and_check(local_airbyte, process, tmp_path, signal.SIGTERM)
