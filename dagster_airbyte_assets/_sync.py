"""Layer 4, execution: start (or attach to) a connection's sync, wait for it, report it.

Waiting is adaptive: a first check after half a second (a sync that fails at once, or a tiny
one, is seen at once), then intervals that grow with the time already waited (a quarter of it,
capped by ``poll_interval``). When the connection's recent successful syncs say how long a sync
usually takes, the waiter sleeps until that moment and checks densely around it, so a sync of any
length is usually seen within a second of finishing while a long one costs only a few calls
(before the expected end, gaps of up to ``2 * poll_interval``).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dagster_airbyte_assets.client import AirbyteClient, AirbyteJob, AirbyteStreamStats
from dagster_airbyte_assets.errors import (
    AirbyteError,
    AirbyteJobCancelledError,
    AirbyteJobFailedError,
    AirbyteJobTimeoutError,
    SyncAlreadyRunningError,
)
from dagster_airbyte_assets.translator import MetadataKeys

__all__ = [
    "AirbyteSyncFailure",
    "PollPlan",
    "SyncInterrupted",
    "materialize_results",
    "sync_and_wait",
]

MIN_POLL_DELAY = 0.5


class SyncInterrupted(Exception):
    """Raised by a waiter's ``sleep`` to stop waiting (and cancel the job) from outside."""


class AirbyteSyncFailure(dg.Failure):
    """A Dagster step failure caused by an Airbyte job, with Airbyte's reason and the job link.

    The underlying typed error (job failed, cancelled, timed out, or an API error) is kept in
    ``error`` for programmatic handling.
    """

    def __init__(self, error: AirbyteError, *, job_url: str | None = None) -> None:
        metadata: dict[str, Any] = {}
        job_id = getattr(error, "job_id", None)
        if job_id is not None:
            metadata[MetadataKeys.JOB_ID] = job_id
        if job_url:
            metadata[MetadataKeys.JOB_URL] = dg.MetadataValue.url(job_url)
        super().__init__(description=str(error), metadata=metadata, allow_retries=False)
        self.error = error


@dataclass
class PollPlan:
    """Decides how long to wait before the next status check."""

    poll_interval: float
    expected_duration: float | None = None

    def next_delay(self, elapsed: float) -> float:
        base = min(self.poll_interval, max(MIN_POLL_DELAY, elapsed * 0.25))
        expected = self.expected_duration
        if expected is None:
            return base
        remaining = expected - elapsed
        if remaining > MIN_POLL_DELAY:
            # Sleep until the expected end. Trusting the prediction, the gaps before it may be
            # twice the usual cap: a failure mid-sync is still seen within 2 * poll_interval.
            return min(2 * self.poll_interval, remaining)
        grace = max(2.0, 0.1 * expected)
        if elapsed <= expected + grace:
            return MIN_POLL_DELAY
        return base


def expected_duration(client: AirbyteClient, connection_id: str) -> float | None:
    """Median duration of the connection's last successful syncs, or ``None``."""
    try:
        jobs = client.list_jobs(
            connection_id=connection_id,
            job_type="sync",
            status="succeeded",
            order_by="createdAt|DESC",
            limit=5,
        )
    except AirbyteError:
        return None
    durations = [d for d in (job.duration_seconds for job in jobs) if d is not None and d > 0]
    return statistics.median(durations) if durations else None


def _records_so_far(job: AirbyteJob) -> int | None:
    if job.attempts and job.attempts[-1].records_synced is not None:
        return job.attempts[-1].records_synced
    if job.stream_stats:
        return sum(s.records_emitted or 0 for s in job.stream_stats)
    return job.rows_synced


def sync_and_wait(
    client: AirbyteClient,
    connection_id: str,
    *,
    poll_interval: float = 10.0,
    poll_timeout: float | None = None,
    cancel_on_termination: bool = True,
    log: logging.Logger | Any | None = None,
    job_type: str = "sync",
    sleep: Callable[[float], None] = time.sleep,
) -> AirbyteJob:
    """Start a sync (or attach to the one already running) and wait until it ends.

    Returns the succeeded job. Raises :class:`AirbyteJobFailedError`,
    :class:`AirbyteJobCancelledError` or :class:`AirbyteJobTimeoutError`; on a timeout or an
    interruption (a terminated Dagster run) the Airbyte job is cancelled first when
    ``cancel_on_termination`` is set, so no sync outlives the step that wanted it.
    """
    log = log or logging.getLogger("dagster_airbyte_assets")
    plan = PollPlan(poll_interval, expected_duration(client, connection_id))
    try:
        job = client.start_sync(connection_id, job_type=job_type)
        log.info(f"Started Airbyte {job_type} job {job.job_id} for connection {connection_id}.")
    except SyncAlreadyRunningError as exc:
        running = exc.running_job or client.find_running_job(connection_id)
        if running is None:
            raise
        job = running
        log.info(
            f"A sync is already running for connection {connection_id}: attaching to Airbyte "
            f"job {job.job_id} instead of starting another."
        )

    started = time.monotonic()
    last_seen: tuple[str, int] | None = None
    finished = False
    try:
        while True:
            elapsed = time.monotonic() - started
            if poll_timeout is not None and elapsed >= poll_timeout:
                raise AirbyteJobTimeoutError(
                    f"Airbyte job {job.job_id} of connection {connection_id} did not finish "
                    f"within poll_timeout={poll_timeout:g}s.",
                    job=job,
                )
            delay = plan.next_delay(elapsed)
            if poll_timeout is not None:
                delay = min(delay, max(0.0, poll_timeout - elapsed))
            sleep(delay)
            job = client.get_job(job.job_id)
            seen = (job.status, len(job.attempts))
            if seen != last_seen:
                records = _records_so_far(job)
                attempt = f", attempt {len(job.attempts)}" if job.attempts else ""
                so_far = f", {records} records so far" if records is not None else ""
                log.info(f"Airbyte job {job.job_id}: {job.status}{attempt}{so_far}.")
                if not job.is_known_status:
                    log.warning(
                        f"Airbyte job {job.job_id} reports status {job.status!r}, which this "
                        "version does not know; treating it as still running."
                    )
                last_seen = seen
            if job.is_terminal:
                finished = True
                break
    finally:
        if not finished and cancel_on_termination:
            _cancel_quietly(client, job, log)

    if job.status == "succeeded":
        return job
    if job.status == "cancelled":
        raise AirbyteJobCancelledError(
            f"Airbyte job {job.job_id} of connection {connection_id} was cancelled.",
            job=job,
        )
    reason = job.failure_reason or "Airbyte gave no failure reason"
    raise AirbyteJobFailedError(
        f"Airbyte job {job.job_id} of connection {connection_id} failed after "
        f"{len(job.attempts)} attempt(s): {reason}",
        job=job,
        message=job.failure_reason,
    )


def _cancel_quietly(client: AirbyteClient, job: AirbyteJob, log: Any) -> None:
    try:
        client.cancel_job(job.job_id)
        log.warning(f"Cancelled Airbyte job {job.job_id}: the step waiting for it stopped.")
    except AirbyteError as exc:
        log.warning(f"Could not cancel Airbyte job {job.job_id}: {exc}")


def _find_stats(
    stats: Sequence[AirbyteStreamStats], name: str, namespace: str | None
) -> AirbyteStreamStats | None:
    by_name = [s for s in stats if s.stream_name == name]
    exact = [s for s in by_name if s.stream_namespace == namespace]
    candidates = exact or by_name
    return candidates[0] if candidates else None


def materialize_results(
    job: AirbyteJob,
    specs: Sequence[dg.AssetSpec],
    *,
    job_url: str | None = None,
    log: Any | None = None,
) -> Iterator[dg.MaterializeResult]:
    """One ``MaterializeResult`` per stream asset, with what Airbyte reported for that stream.

    A stream the job did not report gets no made-up numbers: its result says
    ``airbyte/stats_reported: False`` and a warning is logged.
    """
    log = log or logging.getLogger("dagster_airbyte_assets")
    common: dict[str, Any] = {
        MetadataKeys.JOB_ID: job.job_id,
        MetadataKeys.ATTEMPTS: len(job.attempts),
    }
    if job.duration_seconds is not None:
        common[MetadataKeys.DURATION_S] = round(job.duration_seconds, 3)
    if job_url:
        common[MetadataKeys.JOB_URL] = dg.MetadataValue.url(job_url)
    unreported = []
    for spec in specs:
        name = str(spec.metadata[MetadataKeys.STREAM_NAME])
        namespace = spec.metadata.get(MetadataKeys.STREAM_NAMESPACE)
        stats = _find_stats(job.stream_stats, name, str(namespace) if namespace else None)
        metadata: dict[str, Any] = dict(common)
        if stats is None:
            unreported.append(name)
            metadata[MetadataKeys.STATS_REPORTED] = False
        else:
            metadata[MetadataKeys.STATS_REPORTED] = True
            if stats.records_committed is not None:
                metadata[MetadataKeys.ROW_COUNT] = stats.records_committed
            if stats.bytes_committed is not None:
                metadata[MetadataKeys.BYTES_COMMITTED] = stats.bytes_committed
            if stats.records_emitted is not None:
                metadata[MetadataKeys.RECORDS_EMITTED] = stats.records_emitted
        yield dg.MaterializeResult(asset_key=spec.key, metadata=metadata)
    if unreported:
        log.warning(
            f"Airbyte job {job.job_id} succeeded but reported no statistics for stream(s) "
            f"{', '.join(sorted(unreported))}; they are marked materialized without row counts."
        )


def spec_connection_id(specs: Sequence[dg.AssetSpec]) -> str:
    ids = {str(spec.metadata[MetadataKeys.CONNECTION_ID]) for spec in specs}
    if len(ids) != 1:
        raise ValueError(f"Expected the specs of exactly one connection, got {sorted(ids)}.")
    return ids.pop()
