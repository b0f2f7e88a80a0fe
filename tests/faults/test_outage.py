"""Airbyte unreachable in the middle of a sync: the run rides it out and succeeds with one job.

The proxy goes "down" (connections refused, or reset on accept) two seconds after the job
started on the server, for 30 s or 120 s; the job ends on the server in the middle of the
outage, so the run can only succeed by waiting the outage out and reading the job afterwards.
The workspace keeps its default patience settings (request timeout, retries): riding out an
outage is the integration's default behaviour, not something a test tunes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from fault_cases import (
    POLL_INTERVAL,
    Case,
    ClientLogs,
    Outcome,
    auth_settings,
    judge,
    materialize,
    run_messages,
)
from fault_report import LEDGER
from proxy import FaultProxy, Outage
from server_side import ServerSide

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions
from dagster_airbyte_assets.translator import MetadataKeys

pytestmark = [pytest.mark.faults]

LEAD_SECONDS = 2.0  # the job has been running this long when the outage starts


def _down_once_running(
    proxy: FaultProxy,
    side: ServerSide,
    connection_id: str,
    before: set[int],
    seconds: float,
    mode: Any,
    outages: list[Outage],
    stop: threading.Event,
) -> None:
    while not stop.is_set():
        if any(not j.terminal for j in side.jobs(connection_id) if j.id not in before):
            stop.wait(LEAD_SECONDS)
            if not stop.is_set():
                outages.append(proxy.down(seconds, mode=mode))
            return
        stop.wait(0.1)


@pytest.mark.parametrize(
    ("seconds", "dialect", "auth", "mode"),
    [
        pytest.param(30, "config", "basic", "refuse", id="down_30s_refuse-config-basic"),
        pytest.param(
            30,
            "public",
            "client-credentials",
            "reset",
            id="down_30s_reset-public-client-credentials",
        ),
        pytest.param(
            120,
            "public",
            "client-credentials",
            "refuse",
            id="down_120s_refuse-public-client-credentials",
            marks=[pytest.mark.slow, pytest.mark.timeout(600)],
        ),
    ],
)
def test_outage_mid_sync_then_success_with_exactly_one_job(
    airbyte_servers: Any, tmp_path: Path, seconds: int, dialect: str, auth: str, mode: str
) -> None:
    server = airbyte_servers.get(auth)
    side: ServerSide = airbyte_servers.side(auth)
    case = Case(0, "outage", f"down_{seconds}s_{mode}", dialect, auth)
    outcome = Outcome(case)
    connection_id = side.clone_sample_connection(f"outage {seconds}s {mode}", f"o{seconds}{mode}_")
    outcome.connection_id = connection_id
    # The job ends on the server in the middle of the outage.
    side.set_sync_duration(connection_id, LEAD_SECONDS + seconds / 2)

    with FaultProxy(server.url) as proxy:
        url = f"{proxy.url}/api/v1" if dialect == "config" else proxy.url
        outcome.url = url
        settings: dict[str, Any] = {
            "url": url,
            "poll_interval": POLL_INTERVAL,
            **auth_settings(auth, server),
        }
        assets = build_airbyte_assets_definitions(
            workspace=AirbyteWorkspace(**settings),
            state_path=tmp_path / "state.json",
            connection_selector=lambda c: c.connection_id == connection_id,
        )
        streams = {
            spec.key: str(spec.metadata[MetadataKeys.STREAM_NAME]) for spec in assets[0].specs
        }
        proxy.reset()
        outcome.jobs_before = side.jobs(connection_id)
        before = {j.id for j in outcome.jobs_before}
        outages: list[Outage] = []
        stop = threading.Event()
        watcher = threading.Thread(
            target=_down_once_running,
            args=(proxy, side, connection_id, before, seconds, mode, outages, stop),
            daemon=True,
        )
        watcher.start()
        started = time.monotonic()
        instance = dg.DagsterInstance.ephemeral()
        with ClientLogs() as logs:
            result = materialize(assets, settings, instance, outcome)
            client_log = logs.take()
        run_ended = time.time()
        stop.set()
        watcher.join(10)
        outcome.seconds = time.monotonic() - started
        outcome.jobs_at_end = side.jobs(connection_id)
        if proxy.is_down:
            proxy.up()  # the run gave up during the outage: let late requests through
        assert proxy.wait_idle(60)
        outcome.jobs_after = side.jobs(connection_id)
        outcome.exchanges = proxy.exchanges
        outcome.log = [line for _, line in sorted(run_messages(instance) + client_log)]
        instance.dispose()
    side.cancel_running(connection_id)

    judge(outcome, result, streams, before, run_ended)
    if not outcome.succeeded:
        outcome.add("run_failed", f"the run did not survive a {seconds}s outage")
    LEDGER.record(outcome)
    if outcome.violations:
        pytest.fail(outcome.report(), pytrace=False)

    # It was an outage mid-sync, and the job ended inside it: only reading the job after the
    # outage can have told the run that it succeeded.
    assert outages, f"the job never ran, so the proxy never went down\n{outcome.report()}"
    (outage,) = outages
    assert outage.ended_at is not None
    (job,) = [j for j in outcome.jobs_at_end if j.id not in before]
    # The server's times are whole seconds in jobs/list.
    assert outage.started_at - 1 <= job.updated_at <= outage.ended_at + 1, outcome.report()
    if mode == "reset":
        assert outage.rejected > 0, "the client never tried to reach Airbyte during the outage"
