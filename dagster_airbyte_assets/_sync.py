"""Layer 4, execution: start a connection's sync exactly once, wait for it, report it.

``sync_and_wait`` is the whole protocol for one connection:

1. **Start** (``client.trigger_sync``): the connection's newest sync job is known before the
   request; a 409 attaches to a running sync (or waits out a reset/clear/refresh); an
   ambiguous outcome adopts only a sync job created after the request (``client/_trigger``).
2. **Wait** (``_Waiter``): status checks timed by ``_poll.PollPlan`` from an endpoint that
   carries no logs; Airbyte being unreachable or failing is ridden out for ``outage_timeout``
   seconds and then fails the wait **without** cancelling the job (an outage says nothing
   about the job).
3. **Cancel** only when ``poll_timeout`` runs out or the run is terminated (and
   ``cancel_on_termination``), and always a job whose start could not be resolved. Starting and
   waiting sit in one ``try`` so that no interruption falls between "job started" and the
   clean-up.
4. **Report**: the final per-stream numbers from wherever this Airbyte keeps them
   (``client.get_job_report``); where it keeps none (Public API only), say so.

``sync_and_materialize`` runs it in a Dagster step for one connection's assets;
``sync_connections_and_materialize`` runs many from threads of a single step.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import dagster as dg

from dagster_airbyte_assets._metadata import AirbyteSpecMetadata
from dagster_airbyte_assets._poll import (
    MIN_POLL_DELAY,
    PollPlan,
    end_window,
    expected_from_history,
)
from dagster_airbyte_assets._row_counts import TableRowCounter, table_row_count
from dagster_airbyte_assets._units import human_bytes, human_duration
from dagster_airbyte_assets.client import (
    AirbyteClient,
    AirbyteJob,
    AirbyteStreamStats,
    AirbyteSyncProgress,
    StartState,
    SyncHistory,
)
from dagster_airbyte_assets.client._trigger import is_ambiguous_start
from dagster_airbyte_assets.errors import (
    AirbyteConfigurationError,
    AirbyteError,
    AirbyteJobCancelledError,
    AirbyteJobError,
    AirbyteJobFailedError,
    AirbyteJobTimeoutError,
    AirbyteNotFoundError,
    AirbyteOutageError,
    AirbyteServerError,
    AirbyteStaleStateError,
)
from dagster_airbyte_assets.translator import MetadataKeys, specs_by_connection

if TYPE_CHECKING:
    from dagster_airbyte_assets.resource import AirbyteWorkspace

__all__ = [
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_OUTAGE_TIMEOUT",
    "MIN_POLL_DELAY",
    "AirbyteSyncFailure",
    "PollPlan",
    "_SyncInterrupted",
    "materialize_results",
    "spec_connection_id",
    "stream_sync_modes",
    "sync_and_materialize",
    "sync_and_wait",
    "sync_connections_and_materialize",
]

logger = logging.getLogger("dagster_airbyte_assets")

DEFAULT_OUTAGE_TIMEOUT = 600.0
# How often a connection is checked for a job created by a late start request.
_LATE_WATCH_GAP = 2.0
# Progress is asked at most this often (in poll intervals) while a sync overruns.
_PROGRESS_EVERY = 2.0
DEFAULT_HEARTBEAT_INTERVAL = 30.0
"""Seconds between two "still running" lines while a sync runs."""


class Log(Protocol):
    """What the waiter logs through: a ``logging.Logger``, Dagster's ``context.log``..."""

    def info(self, msg: str, /) -> Any: ...
    def warning(self, msg: str, /) -> Any: ...


class _NamedLog:
    """Says a connection's name where a log line would name its id.

    Lines from the client layer (which knows ids only) and from here read
    ``connection 'Shop → Warehouse'`` instead of a UUID nobody recognises.
    """

    def __init__(self, log: Log, connection_id: str, label: str) -> None:
        self._log = log
        self._id = connection_id
        self._label = label

    def _named(self, msg: str) -> str:
        # One pass: "connection <id>" and a bare "<id>" both become the label, exactly once.
        return re.sub(rf"(?:connection )?{re.escape(self._id)}", lambda _: self._label, msg)

    def info(self, msg: str, /) -> Any:
        return self._log.info(self._named(msg))

    def warning(self, msg: str, /) -> Any:
        return self._log.warning(self._named(msg))


def connection_label(connection_id: str, name: str | None, *, with_id: bool = False) -> str:
    """How log lines and errors name a connection: ``connection 'Shop'`` (plus a short id
    where two connections share the name; the bare id only when no name is known)."""
    if not name:
        return f"connection {connection_id}"
    return f"connection {name!r}" + (f" ({connection_id[:8]})" if with_id else "")


class _SyncInterrupted(Exception):
    """Raised by a waiter's ``sleep`` to stop waiting (and cancel the job) from outside."""


class AirbyteSyncFailure(dg.Failure):
    """A Dagster step failure caused by an Airbyte job, with Airbyte's reason and the job link.

    The underlying typed error (job failed, cancelled, timed out, an outage, or an API error)
    is kept in ``error`` for programmatic handling.
    """

    def __init__(self, error: AirbyteError, *, job_url: str | None = None) -> None:
        metadata: dict[str, Any] = {}
        if error.job_id is not None:
            metadata[MetadataKeys.JOB_ID] = error.job_id
        if job_url:
            metadata[MetadataKeys.JOB_URL] = dg.MetadataValue.url(job_url)
        super().__init__(description=str(error), metadata=metadata, allow_retries=False)
        self.error = error


def _is_termination(exc: BaseException) -> bool:
    # KeyboardInterrupt, SystemExit, GeneratorExit and Dagster's DagsterExecutionInterruptedError
    # are BaseExceptions; _SyncInterrupted is how a thread is told to stop.
    return isinstance(exc, _SyncInterrupted) or not isinstance(exc, Exception)


def _check_settings(
    poll_interval: float, poll_timeout: float | None, outage_timeout: float
) -> None:
    if not poll_interval > 0:
        raise AirbyteConfigurationError(
            f"poll_interval must be a number of seconds above 0, not {poll_interval!r}"
        )
    if poll_timeout is not None and not poll_timeout > 0:
        raise AirbyteConfigurationError(
            f"poll_timeout must be above 0 seconds (or None for no limit), not {poll_timeout!r}"
        )
    if not outage_timeout > 0:
        raise AirbyteConfigurationError(
            f"outage_timeout must be a number of seconds above 0, not {outage_timeout!r}"
        )


def sync_and_wait(
    client: AirbyteClient,
    connection_id: str,
    *,
    poll_interval: float = 10.0,
    poll_timeout: float | None = None,
    cancel_on_termination: bool = True,
    log: Log | None = None,
    job_type: str = "sync",
    sleep: Callable[[float], None] = time.sleep,
    outage_timeout: float = DEFAULT_OUTAGE_TIMEOUT,
    sync_modes: Mapping[tuple[str, str | None], str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    connection_name: str | None = None,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
) -> AirbyteJob:
    """Start a sync exactly once (or attach to the one running), wait, and return it.

    Returns the succeeded job with its final per-stream numbers (``sync_modes`` maps
    ``(stream, namespace)`` to ``incremental`` / ``full_refresh`` for aggregating attempts).
    Raises :class:`AirbyteJobFailedError`, :class:`AirbyteJobCancelledError`,
    :class:`AirbyteJobTimeoutError` (the job is cancelled first when
    ``cancel_on_termination``), :class:`AirbyteOutageError` (the job is left running) or the
    typed error of a start Airbyte refused. ``connection_name`` (or ``"Name (short id)"``)
    is how log lines and errors name the connection.
    """
    _check_settings(poll_interval, poll_timeout, outage_timeout)
    label = (
        connection_label(connection_id, connection_name)
        if connection_name is None or not connection_name.startswith("connection ")
        else connection_name
    )
    out: Log = _NamedLog(log or logger, connection_id, label)
    history = client.sync_history(connection_id)  # before anything is sent
    state = StartState()
    try:
        start = client.trigger_sync(
            connection_id,
            job_type=job_type,
            history=history,
            state=state,
            sleep=sleep,
            clock=clock,
            log=out,
            conflict_timeout=poll_timeout,
        )
        _log_start(out, start.how, start.job, label, job_type)
        waiter = _Waiter(
            client,
            connection_id,
            label=label,
            heartbeat_interval=heartbeat_interval,
            poll_interval=poll_interval,
            poll_timeout=poll_timeout,
            outage_timeout=outage_timeout,
            sleep=sleep,
            clock=clock,
            log=out,
        )
        job = waiter.wait(start.job, history, state)
    except BaseException as exc:
        _clean_up(client, connection_id, state, exc, cancel_on_termination, out)
        raise
    if start.late_start_deadline is not None:
        _cancel_late_starts(
            client, connection_id, job, start.late_start_deadline, sleep, clock, out
        )
    if job.status == "succeeded":
        report = client.get_job_report(job, sync_modes)
        out.info(_summary(report, label))
        return report
    if job.status == "cancelled":
        raise AirbyteJobCancelledError(
            f"Airbyte job {job.job_id} of {label} was cancelled.",
            job=job,
        )
    reason = job.failure_reason or "Airbyte gave no failure reason"
    attempts = f" after {len(job.attempts)} attempt(s)" if job.attempts_known else ""
    raise AirbyteJobFailedError(
        f"Airbyte job {job.job_id} of {label} failed{attempts}: {reason}",
        job=job,
        message=job.failure_reason,
    )


def _log_start(out: Log, how: str, job: AirbyteJob, label: str, job_type: str) -> None:
    if how == "attached":
        out.info(
            f"A sync is already running for {label}: attaching to Airbyte "
            f"job {job.job_id} instead of starting another."
        )
    elif how == "adopted":
        out.info(
            f"Airbyte job {job.job_id} was created by this run's start request although the "
            "answer was lost; waiting for it."
        )
    else:
        out.info(f"Started Airbyte {job_type} job {job.job_id} for {label}.")


def _clean_up(
    client: AirbyteClient,
    connection_id: str,
    state: StartState,
    exc: BaseException,
    cancel_on_termination: bool,
    out: Log,
) -> None:
    """After a failure: cancel what this run started and may no longer watch."""
    job = state.job
    if job is not None:
        wanted = isinstance(exc, AirbyteJobTimeoutError) or _is_termination(exc)
        if wanted and cancel_on_termination and not job.is_terminal:
            _cancel_quietly(client, job.job_id, out)
        return
    if not state.sent:
        return
    unresolved = isinstance(exc, AirbyteError) and is_ambiguous_start(exc)
    if not (unresolved or (_is_termination(exc) and cancel_on_termination)):
        return
    # The start request may have created a job we never learnt of: look once, cancel it.
    try:
        newer = client.sync_jobs_after(connection_id, state.baseline)
    except AirbyteError as lookup:
        out.warning(
            f"Could not check whether the interrupted start of connection {connection_id} "
            f"created a job: {lookup.summary}"
        )
        return
    for found in newer:
        if not found.is_terminal:
            _cancel_quietly(client, found.job_id, out)


def _cancel_quietly(client: AirbyteClient, job_id: int, out: Log) -> None:
    try:
        client.cancel_job(job_id)
        out.warning(f"Cancelled Airbyte job {job_id}: the step waiting for it stopped.")
    except AirbyteError as exc:
        out.warning(f"Could not cancel Airbyte job {job_id}: {exc}")


def _cancel_late_starts(
    client: AirbyteClient,
    connection_id: str,
    job: AirbyteJob,
    deadline: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    out: Log,
) -> None:
    """A start request whose fate was unknown may create a job after ours ended: watch until it
    can no longer arrive and cancel any sync job newer than ours, so none outlives the run."""
    if deadline > clock():
        out.info(
            f"Watching connection {connection_id} for {deadline - clock():.0f}s: a start "
            "request whose answer was lost could still create a job nobody waits for."
        )
    handled: set[int] = set()
    while True:
        try:
            late = client.sync_jobs_after(connection_id, job.job_id)
        except AirbyteError as exc:
            out.warning(f"Could not check connection {connection_id} for a late job: {exc.summary}")
            late = []
        for found in late:
            if found.job_id in handled:
                continue
            handled.add(found.job_id)
            out.warning(
                f"Airbyte job {found.job_id} was created by a start request that arrived late"
                + ("; cancelling it." if not found.is_terminal else f" and is {found.status}.")
            )
            if not found.is_terminal:
                _cancel_quietly(client, found.job_id, out)
        remaining = deadline - clock()
        if remaining <= 0:
            return
        sleep(min(_LATE_WATCH_GAP, remaining))


class _Waiter:
    """Polls one job until it ends, riding out outages (see the module docstring)."""

    def __init__(
        self,
        client: AirbyteClient,
        connection_id: str,
        *,
        label: str | None = None,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
        poll_interval: float,
        poll_timeout: float | None,
        outage_timeout: float,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        log: Log,
    ) -> None:
        self.client = client
        self.connection_id = connection_id
        self.label = label or connection_label(connection_id, None)
        self.heartbeat_interval = heartbeat_interval
        self._failed_said: set[int] = set()
        self._progress_at: tuple[float, AirbyteSyncProgress | None] | None = None
        self._progress_answers = True  # until this Airbyte answers without a progress endpoint
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.outage_timeout = outage_timeout
        self.sleep = sleep
        self.clock = clock
        self.log = log

    def wait(self, job: AirbyteJob, history: SyncHistory, state: StartState) -> AirbyteJob:
        started = self.clock()
        expected = expected_from_history(history.durations)
        plan = PollPlan(self.poll_interval, expected)
        calls: list[float] = []
        last_seen: tuple[str, int] | None = None
        outage_since: float | None = None
        budget_since = 0.0
        last_progress = float("-inf")
        # Progress is worth a call only against what earlier syncs moved, and only while this
        # Airbyte answers it with numbers.
        progress_useful = bool(history.records)
        last_listed = float("-inf")
        last_heartbeat = 0.0
        while not job.is_terminal:
            elapsed = self.clock() - started
            if self.poll_timeout is not None and elapsed >= self.poll_timeout:
                raise AirbyteJobTimeoutError(
                    f"Airbyte job {job.job_id} of {self.label} did not "
                    f"finish within poll_timeout={self.poll_timeout:g}s.",
                    job=job,
                )
            if outage_since is None:
                delay = plan.next_delay(elapsed, calls, budget_since)
            else:
                delay = min(self.poll_interval, max(1.0, (self.clock() - outage_since) / 4))
            if self.poll_timeout is not None:
                delay = min(delay, max(0.0, self.poll_timeout - elapsed))
            poll_at = elapsed + delay
            while (
                outage_since is None
                and last_seen is not None
                and last_heartbeat + self.heartbeat_interval < poll_at
            ):
                # A sparse plan sleeps past the heartbeat: wake for it alone (no status read;
                # a progress read only if the budget has room, and then the check waits its
                # turn in the budget).
                self.sleep(max(0.0, last_heartbeat + self.heartbeat_interval - elapsed))
                elapsed = last_heartbeat = self.clock() - started
                made = len(calls)
                if not self._beat(job, elapsed, plan, calls, budget_since):
                    poll_at = elapsed  # nothing of this job runs any more: read it now
                    break
                if len(calls) > made:
                    poll_at = max(poll_at, elapsed + plan.next_delay(elapsed, calls, budget_since))
                    if self.poll_timeout is not None:
                        poll_at = min(poll_at, self.poll_timeout)
            self.sleep(max(0.0, poll_at - (self.clock() - started)))
            calls.append(self.clock() - started)
            try:
                current = self.client.get_job(job.job_id)
            except AirbyteNotFoundError:
                raise
            except AirbyteError as exc:
                if isinstance(exc, AirbyteServerError) and self.clock() - last_listed > 60.0:
                    last_listed = self.clock()
                    self._raise_if_gone(job, exc)
                outage_since = self._outage(job, exc, outage_since)
                continue
            if outage_since is not None:
                self.log.info(
                    f"Airbyte answers again after {self.clock() - outage_since:.0f}s; "
                    f"job {job.job_id} is {current.status}."
                )
                outage_since = None
                budget_since = calls[-1]
            job = state.job = current
            self._log_failed_attempts(job)
            seen = (job.status, len(job.attempts))
            if seen != last_seen:
                self._log_status(job)
                last_heartbeat = self.clock() - started
                if last_seen is not None and seen[1] > last_seen[1] and expected is not None:
                    # A new attempt starts over: expect it to take as long again from now.
                    plan = plan.with_expected(self.clock() - started + expected)
                last_seen = seen
            now = self.clock() - started
            if not job.is_terminal and now - last_heartbeat >= self.heartbeat_interval:
                last_heartbeat = now
                self._beat(job, now, plan, calls, budget_since)
            due = plan.expected_duration
            if (
                progress_useful
                and not job.is_terminal
                and due is not None
                and now >= due
                and now - last_progress >= _PROGRESS_EVERY * self.poll_interval
                and plan.budget_allows(now, calls, budget_since)
            ):
                last_progress = now
                calls.append(now)  # a call like a check, in the budget and the ceiling
                refined = self._refine(plan, now, history, job.job_id)
                if refined is None:
                    progress_useful = False
                else:
                    plan = refined
        return job

    def _raise_if_gone(self, job: AirbyteJob, exc: AirbyteServerError) -> None:
        """A 500 on reading a job is also how Airbyte says it has no such job: ask the list."""
        try:
            listed = self.client.job_is_listed(self.connection_id, job.job_id)
        except AirbyteError:
            return
        if listed is False:
            raise AirbyteNotFoundError(
                f"Airbyte has no job {job.job_id} any more (it answers 500 to reading it and "
                f"{self.label} no longer lists it)",
                resource_id=str(job.job_id),
                job_id=job.job_id,
                connection_id=self.connection_id,
                status_code=exc.status_code,
                message=exc.message,
            ) from exc

    def _outage(self, job: AirbyteJob, exc: AirbyteError, since: float | None) -> float:
        now = self.clock()
        if since is None:
            self.log.warning(
                f"Cannot read Airbyte job {job.job_id} ({type(exc).__name__}: {exc.summary}); "
                f"the job is not cancelled for that. Retrying for up to "
                f"outage_timeout={self.outage_timeout:g}s."
            )
            return now
        if now - since > self.outage_timeout:
            raise AirbyteOutageError(
                f"Airbyte stayed unreachable or failing for {now - since:.0f}s (more than "
                f"outage_timeout={self.outage_timeout:g}s) while job {job.job_id} of "
                f"{self.label} was waited on; the job was not cancelled and may still "
                f"be running. Last error: {exc}",
                job=job,
                last_error=exc,
            )
        return since

    def _log_status(self, job: AirbyteJob) -> None:
        if job.succeeded:
            return  # the summary with every stream's numbers follows
        attempt = f", attempt {len(job.attempts)}" if job.attempts else ""
        records = None if job.is_terminal else _records_so_far(job)
        # "So far" only while the job runs: a finished job's numbers come in the summary.
        so_far = f", {records:,} records so far" if records is not None else ""
        self.log.info(f"Airbyte job {job.job_id} of {self.label}: {job.status}{attempt}{so_far}.")
        if not job.is_known_status:
            self.log.warning(
                f"Airbyte job {job.job_id} reports status {job.status!r}, which this "
                "version does not know; treating it as still running."
            )

    def _progress_is_fresh(self) -> bool:
        return (
            self._progress_at is not None
            and self.clock() - self._progress_at[0] < self.poll_interval
        )

    def _progress(self, *, ask: bool = True) -> AirbyteSyncProgress | None:
        """``connections/sync_progress``, asked at most once per poll interval.

        The heartbeat and the end prediction share one answer instead of asking twice; with
        ``ask=False`` only a fresh answer is reused (the call budget allows no new one).
        """
        if self._progress_at is not None and self._progress_is_fresh():
            return self._progress_at[1]
        if not ask:
            return None
        progress = self.client.sync_progress(self.connection_id)
        self._progress_at = (self.clock(), progress)
        if progress is None:
            self._progress_answers = False
        return progress

    def _log_failed_attempts(self, job: AirbyteJob) -> None:
        """Each failed attempt once, with Airbyte's reason (Airbyte retries it on its own)."""
        for attempt in job.attempts:
            if attempt.status != "failed" or attempt.attempt_number in self._failed_said:
                continue
            self._failed_said.add(attempt.attempt_number)
            reason = attempt.failure_reason or "Airbyte gave no reason"
            partial = " after committing part of the data" if attempt.partial_success else ""
            self.log.warning(
                f"Airbyte job {job.job_id} of {self.label}: attempt "
                f"{attempt.attempt_number + 1} failed{partial}: {reason}"
            )

    def _beat(
        self,
        job: AirbyteJob,
        elapsed: float,
        plan: PollPlan,
        calls: list[float],
        budget_since: float,
    ) -> bool:
        """A heartbeat; ``False`` (and no line) when progress shows the job no longer runs.

        Live numbers cost a call, so only where the polling budget has room for it and for the
        status read that follows if the job turns out to have ended (a sync with a history is
        polled sparsely until its expected end); else the heartbeat says what the last status
        read carried.
        """
        ask = (
            self._progress_answers
            and not self._progress_is_fresh()
            and plan.budget_allows(elapsed, [*calls, elapsed], budget_since)
        )
        if ask:
            calls.append(elapsed)
        return self._heartbeat(job, elapsed, ask=ask)

    def _heartbeat(self, job: AirbyteJob, elapsed: float, *, ask: bool) -> bool:
        """A "still running" line: time waited, and records and bytes so far where known.

        From ``connections/sync_progress`` where the server has it (live numbers), else from
        the job's current attempt. Progress that names no job or another one means this job
        ended since its last status read: no line then, and ``False``.
        """
        records: int | None = None
        size: int | None = None
        progress = self._progress(ask=ask)
        if ask and progress is not None and progress.job_id != job.job_id:
            return False
        if progress is not None and progress.job_id == job.job_id:
            records = _first(progress.records_emitted, progress.records_committed)
            size = _first(progress.bytes_emitted, progress.bytes_committed)
        if records is None and job.attempts:
            current = job.attempts[-1]
            records = _first(current.records_emitted, current.records_synced)
            size = current.bytes_synced
        numbers = []
        if records is not None:
            numbers.append(f"{records:,} records")
        if size is not None:
            numbers.append(human_bytes(size))
        so_far = ", ".join(numbers) + " so far" if numbers else "no numbers from Airbyte yet"
        attempt = f" (attempt {len(job.attempts)})" if len(job.attempts) > 1 else ""
        self.log.info(
            f"Airbyte job {job.job_id} of {self.label} still {job.status}{attempt} after "
            f"{human_duration(elapsed)}: {so_far}."
        )
        return True

    def _refine(
        self, plan: PollPlan, now: float, history: SyncHistory, job_id: int
    ) -> PollPlan | None:
        """The sync runs past its expected end: ask how far it got and predict the end.

        ``None`` when this Airbyte gives no numbers (no endpoint, or one without records):
        asking again would only spend calls.
        """
        progress = self._progress()
        if progress is None or self._progress_at is None:
            return None
        now -= self.clock() - self._progress_at[0]  # the answer may be a heartbeat's, reused
        if progress.job_id != job_id:
            return plan  # it ended since its status was read: the next check says how
        so_far = progress.records_emitted
        if so_far is None:
            so_far = progress.records_committed
        if so_far is None:
            return None
        window = end_window(now, so_far, history.records)
        return plan if window is None else plan.with_window(*window)


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def _summary(job: AirbyteJob, label: str) -> str:
    """The end of a sync in one line: time, attempts, and what each stream moved."""
    took = f" in {human_duration(job.duration_seconds)}" if job.duration_seconds is not None else ""
    attempts = f" ({len(job.attempts)} attempts)" if len(job.attempts) > 1 else ""
    head = f"Airbyte job {job.job_id} of {label} {job.status}{took}{attempts}"
    if not job.stream_stats:
        total = f"{job.rows_synced:,} records in all" if job.rows_synced is not None else ""
        return f"{head}: per-stream numbers unknown{'; ' + total if total else ''}."
    parts = []
    for stats in sorted(job.stream_stats, key=lambda s: (s.stream_namespace or "", s.stream_name)):
        records = _first(stats.records_committed, stats.records_emitted)
        text = (
            f"{stats.stream_name} {records:,} records" if records is not None else stats.stream_name
        )
        if stats.bytes_committed is not None:
            text += f" ({human_bytes(stats.bytes_committed)})"
        parts.append(text)
    return f"{head}: " + ", ".join(parts) + "."


def _records_so_far(job: AirbyteJob) -> int | None:
    if job.attempts and job.attempts[-1].records_synced is not None:
        return job.attempts[-1].records_synced
    if job.stream_stats:
        return sum(s.records_emitted or 0 for s in job.stream_stats)
    return job.rows_synced if job.is_terminal else None


# -- results ------------------------------------------------------------------------------------


def _find_stats(
    stats: Sequence[AirbyteStreamStats], name: str, namespace: str | None
) -> AirbyteStreamStats | None:
    by_name = [s for s in stats if s.stream_name == name]
    exact = [s for s in by_name if (s.stream_namespace or None) == namespace]
    candidates = exact or by_name
    return candidates[0] if candidates else None


def _no_stats_reason(job: AirbyteJob) -> str:
    if not job.attempts_known:
        total = f" (the job moved {job.rows_synced} rows in all)" if job.rows_synced else ""
        return (
            "this Airbyte answers only through its Public API, which reports no per-stream "
            f"numbers{total}"
        )
    return "Airbyte reported no numbers for them"


def materialize_results(
    job: AirbyteJob,
    specs: Sequence[dg.AssetSpec],
    *,
    job_url: str | None = None,
    log: Log | None = None,
    table_rows: Mapping[dg.AssetKey, int] | None = None,
) -> Iterator[dg.MaterializeResult[Any]]:
    """One ``MaterializeResult`` per stream asset, with what Airbyte reported for that stream.

    ``airbyte/records_synced`` is what the sync committed for the stream; ``dagster/row_count``
    the table's size where it is known (``table_rows``, counted in the destination, or a full
    refresh overwrite: see ``_row_counts``).

    A stream the job did not report gets no made-up numbers: its result says
    ``airbyte/stats_reported: False`` and a warning says why. Attempts are counted only where
    Airbyte reports them; a partial success and a success with no records after failed
    attempts are said in metadata and a warning.
    """
    out: Log = log or logger
    common: dict[str, Any] = {MetadataKeys.JOB_ID: job.job_id}
    if job.attempts_known:
        common[MetadataKeys.ATTEMPTS] = len(job.attempts)
        if job.failed_attempts:
            common[MetadataKeys.FAILED_ATTEMPTS] = job.failed_attempts
        if job.partial_success:
            common[MetadataKeys.PARTIAL_SUCCESS] = True
    if job.duration_seconds is not None:
        # Float seconds (Airbyte's timestamps are whole seconds; never an int 0 for a short sync)
        common[MetadataKeys.DURATION_S] = dg.MetadataValue.float(round(job.duration_seconds, 3))
    if job_url:
        common[MetadataKeys.JOB_URL] = dg.MetadataValue.url(job_url)
    if job.stats_source is None:
        if job.rows_synced is not None:
            common[MetadataKeys.JOB_ROWS_SYNCED] = job.rows_synced
        if job.bytes_synced is not None:
            common[MetadataKeys.JOB_BYTES_SYNCED] = job.bytes_synced
    unreported: list[str] = []
    empty_after_failure: list[str] = []
    for spec in specs:
        meta = AirbyteSpecMetadata.of(spec.metadata)
        name = meta.stream_name or spec.key.path[-1]
        stats = _find_stats(job.stream_stats, name, meta.stream_namespace or None)
        metadata: dict[str, Any] = dict(common)
        if stats is None:
            unreported.append(name)
            metadata[MetadataKeys.STATS_REPORTED] = False
        else:
            metadata[MetadataKeys.STATS_REPORTED] = True
            if stats.records_committed is not None:
                metadata[MetadataKeys.RECORDS_SYNCED] = stats.records_committed
                if stats.records_committed == 0 and job.failed_attempts:
                    empty_after_failure.append(name)
            if stats.bytes_committed is not None:
                metadata[MetadataKeys.BYTES_COMMITTED] = stats.bytes_committed
                metadata[MetadataKeys.SIZE_COMMITTED] = human_bytes(stats.bytes_committed)
            if stats.records_emitted is not None:
                metadata[MetadataKeys.RECORDS_EMITTED] = stats.records_emitted
        rows = table_row_count(spec, stats.records_committed if stats else None, table_rows or {})
        if rows is not None:
            metadata[MetadataKeys.ROW_COUNT] = rows
        yield dg.MaterializeResult(asset_key=spec.key, metadata=metadata)
    if unreported:
        out.warning(
            f"Airbyte job {job.job_id} succeeded but its per-stream numbers are unknown for "
            f"stream(s) {', '.join(sorted(unreported))}: {_no_stats_reason(job)}. They are "
            "marked materialized without row counts (airbyte/stats_reported: False)."
        )
    if job.partial_success:
        out.warning(
            f"Airbyte job {job.job_id} succeeded after an attempt that failed having committed "
            "part of the data (partialSuccess); check the destination for duplicates or gaps."
        )
    if empty_after_failure:
        out.warning(
            f"Airbyte job {job.job_id} succeeded with 0 records for stream(s) "
            f"{', '.join(sorted(empty_after_failure))} after {job.failed_attempts} failed "
            "attempt(s): the data may have been committed by a failed attempt, or nothing "
            "was new."
        )


def _unsynced(
    client: AirbyteClient, job: AirbyteJob, specs: Sequence[dg.AssetSpec], log: Log
) -> list[dg.AssetSpec]:
    """Specs whose stream this job did not sync (no longer selected since the state was saved)."""
    synced: set[tuple[str, str | None]]
    if job.enabled_streams is not None:
        synced = {(name, namespace or None) for name, namespace in job.enabled_streams}
    else:
        try:
            connection = client.dialect.get_connection(job.connection_id or "")
        except AirbyteError as exc:
            log.warning(f"Could not check which streams job {job.job_id} synced: {exc.summary}")
            return []
        synced = {(s.name, s.namespace or None) for s in connection.selected_streams}
    missing = []
    for spec in specs:
        meta = AirbyteSpecMetadata.of(spec.metadata)
        name, namespace = meta.stream_name, meta.stream_namespace or None
        # Lenient about a namespace one side leaves out (stats and catalogs differ on it).
        if name is not None and not any(
            n == name and (ns == namespace or ns is None or namespace is None) for n, ns in synced
        ):
            missing.append(spec)
    return missing


def spec_connection_name(specs: Sequence[dg.AssetSpec]) -> str | None:
    """The connection's name as the definitions know it (for log lines)."""
    return AirbyteSpecMetadata.of(specs[0].metadata).connection_name if specs else None


def spec_connection_id(specs: Sequence[dg.AssetSpec]) -> str:
    ids = {AirbyteSpecMetadata.of(spec.metadata).connection_id for spec in specs}
    if len(ids) != 1 or None in ids:
        raise ValueError(
            f"Expected the specs of exactly one connection, got {sorted(map(str, ids))}."
        )
    return str(ids.pop())


def stream_sync_modes(specs: Sequence[dg.AssetSpec]) -> dict[tuple[str, str | None], str]:
    modes: dict[tuple[str, str | None], str] = {}
    for spec in specs:
        meta = AirbyteSpecMetadata.of(spec.metadata)
        if meta.stream_name and meta.sync_mode:
            modes[(meta.stream_name, meta.stream_namespace or None)] = meta.sync_mode
    return modes


def job_url(specs: Sequence[dg.AssetSpec], job: AirbyteJob | None) -> str | None:
    """The job's page in Airbyte's UI, opened at its last attempt (the one that succeeded).

    Built from the connection's page on the specs (``airbyte/connection_url``), as the real
    UI links a job: ``.../connections/<id>/job-history#<job id>::<attempt number>``.
    """
    if job is None or not specs:
        return None
    value = specs[0].metadata.get(MetadataKeys.CONNECTION_URL)
    connection_url = str(getattr(value, "value", value) or "")
    if not connection_url.endswith("/status"):
        return None
    attempt = job.attempts[-1].attempt_number if job.attempts else 0
    return f"{connection_url.removesuffix('/status')}/job-history#{job.job_id}::{attempt}"


def _results(
    context: dg.AssetExecutionContext,
    client: AirbyteClient,
    job: AirbyteJob,
    specs: Sequence[dg.AssetSpec],
    log: Log,
    counter: TableRowCounter | None = None,
) -> Iterator[dg.MaterializeResult[Any]]:
    """Selected streams get a ``MaterializeResult``; streams that synced unselected, an event.

    A stream the job did not sync fails the step after the others are reported: nothing is
    marked fresh that was not synced.
    """
    connection_id = job.connection_id or spec_connection_id(specs)
    stale = _unsynced(client, job, specs, log)
    stale_keys = {spec.key for spec in stale}
    synced_specs = [spec for spec in specs if spec.key not in stale_keys]
    url = job_url(specs, job)
    selected = context.selected_asset_keys
    rows = counter.count(connection_id, synced_specs) if counter is not None else {}
    for result in materialize_results(job, synced_specs, job_url=url, log=log, table_rows=rows):
        assert result.asset_key is not None
        if result.asset_key in selected:
            yield result
        else:
            # Synced with its connection although not selected: say so rather than hide it.
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=result.asset_key,
                    description="Synced with its Airbyte connection; not selected in this run.",
                    metadata=result.metadata,
                )
            )
    if stale:
        names = ", ".join(
            sorted(str(AirbyteSpecMetadata.of(s.metadata).stream_name) for s in stale)
        )
        raise AirbyteSyncFailure(
            AirbyteStaleStateError(
                f"Airbyte job {job.job_id} of "
                f"{connection_label(connection_id, spec_connection_name(specs))} did not sync stream(s) "
                f"{names}: they are no longer selected in the connection. Refresh the saved "
                "state (`dagster-airbyte-assets refresh-state -f <definitions file>`); those "
                "assets were not marked materialized.",
                connection_id=connection_id,
                job_id=job.job_id,
            ),
            job_url=url,
        )


def _wait_settings(workspace: AirbyteWorkspace) -> dict[str, Any]:
    return {
        "poll_interval": workspace.poll_interval,
        "poll_timeout": workspace.poll_timeout,
        "cancel_on_termination": workspace.cancel_on_termination,
        "outage_timeout": workspace.outage_timeout,
        "heartbeat_interval": workspace.heartbeat_interval,
    }


def sync_and_materialize(
    context: dg.AssetExecutionContext,
    workspace: AirbyteWorkspace,
    row_counter: TableRowCounter | None = None,
) -> Iterator[dg.MaterializeResult[Any]]:
    """Sync the connection behind ``context``'s assets and yield one result per stream asset.

    The body of every asset built here; call it from an ``@airbyte_assets`` function too.
    """
    specs = list(context.assets_def.specs)
    connection_id = spec_connection_id(specs)
    client = workspace.get_client()
    try:
        job = sync_and_wait(
            client,
            connection_id,
            log=context.log,
            sync_modes=stream_sync_modes(specs),
            connection_name=spec_connection_name(specs),
            **_wait_settings(workspace),
        )
    except AirbyteError as exc:
        raise AirbyteSyncFailure(exc, job_url=job_url(specs, getattr(exc, "job", None))) from exc
    counter = row_counter if workspace.fetch_row_counts else None
    yield from _results(context, client, job, specs, context.log, counter)


# -- many connections from one step --------------------------------------------------------------


@dataclass(frozen=True)
class _LogLine:
    level: str
    text: str


@dataclass(frozen=True)
class _Synced:
    connection_id: str
    job: AirbyteJob


@dataclass(frozen=True)
class _SyncFailed:
    connection_id: str
    error: AirbyteError


@dataclass(frozen=True)
class _Crashed:
    connection_id: str
    error: BaseException


_Message = _LogLine | _Synced | _SyncFailed | _Crashed


class _QueuedLog:
    """A logger for worker threads: messages go through a queue to the step's own thread.

    Dagster's step logger writes events to the run; keeping every write on the step's thread
    keeps their order and avoids sharing it across threads.
    """

    def __init__(self, messages: queue.Queue[_Message]) -> None:
        self._messages = messages

    def info(self, msg: str, /) -> None:
        self._messages.put(_LogLine("info", msg))

    def warning(self, msg: str, /) -> None:
        self._messages.put(_LogLine("warning", msg))


def sync_connections_and_materialize(
    context: dg.AssetExecutionContext,
    workspace: AirbyteWorkspace,
    max_concurrent_syncs: int = 32,
    row_counter: TableRowCounter | None = None,
) -> Iterator[dg.MaterializeResult[Any]]:
    """Sync every connection with a selected asset concurrently, from this one step.

    Airbyte moves the data; a Dagster step only waits. One step with a thread per running sync
    waits for 50 connections in about the time of the longest sync, in one process. Results are
    yielded as each connection finishes; connections that failed are reported together at the
    end, after every other connection's results. If the step is interrupted (run terminated),
    every waiting thread cancels its Airbyte job before the step exits.
    """
    selected = context.selected_asset_keys
    wanted = {
        cid: specs
        for cid, specs in specs_by_connection([context.assets_def]).items()
        if any(spec.key in selected for spec in specs)
    }
    client = workspace.get_client()
    settings = _wait_settings(workspace)
    labels = _labels(wanted)
    stop = threading.Event()
    messages: queue.Queue[_Message] = queue.Queue()
    log = _QueuedLog(messages)

    def interruptible_sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise _SyncInterrupted("the Dagster step stopped")

    def run(cid: str) -> None:
        try:
            job = sync_and_wait(
                client,
                cid,
                log=log,
                sleep=interruptible_sleep,
                sync_modes=stream_sync_modes(wanted[cid]),
                connection_name=labels[cid],
                **settings,
            )
            messages.put(_Synced(cid, job))
        except AirbyteError as exc:
            messages.put(_SyncFailed(cid, exc))
        except BaseException as exc:
            messages.put(_Crashed(cid, exc))

    failures: list[tuple[str, AirbyteError]] = []
    stale: list[AirbyteSyncFailure] = []
    pool = ThreadPoolExecutor(max_workers=max(1, min(max_concurrent_syncs, len(wanted))))
    try:
        for cid in wanted:
            pool.submit(run, cid)
        remaining = len(wanted)
        while remaining:
            try:
                # A timeout keeps the step's thread responsive to Dagster's interrupts.
                message = messages.get(timeout=1.0)
            except queue.Empty:
                continue
            if isinstance(message, _LogLine):
                if message.level == "warning":
                    context.log.warning(message.text)
                else:
                    context.log.info(message.text)
                continue
            remaining -= 1
            if isinstance(message, _Synced):
                try:
                    yield from _results(
                        context,
                        client,
                        message.job,
                        wanted[message.connection_id],
                        context.log,
                        row_counter if workspace.fetch_row_counts else None,
                    )
                except AirbyteSyncFailure as failure:
                    stale.append(failure)
            elif isinstance(message, _SyncFailed):
                failures.append((message.connection_id, message.error))
                context.log.error(f"Airbyte {labels[message.connection_id]}: {message.error}")
            elif isinstance(message.error, AirbyteError):
                failures.append((message.connection_id, message.error))
            else:
                raise message.error
    finally:
        # On an interruption, wake every waiting thread so it cancels its job, then wait for them.
        stop.set()
        pool.shutdown(wait=True)
    failures += [(f.error.connection_id or "", f.error) for f in stale]
    if len(failures) == 1:
        raise AirbyteSyncFailure(failures[0][1])
    if failures:
        summary = "; ".join(f"{labels.get(cid, cid)}: {exc}" for cid, exc in failures)
        raise AirbyteSyncFailure(
            AirbyteJobError(f"{len(failures)} of {len(wanted)} Airbyte syncs failed: {summary}")
        )


def _labels(wanted: Mapping[str, Sequence[dg.AssetSpec]]) -> dict[str, str]:
    """``connection 'Name'`` per connection; with a short id where two share a name."""
    names = {cid: spec_connection_name(specs) for cid, specs in wanted.items()}
    shared = {n for n in names.values() if list(names.values()).count(n) > 1}
    return {cid: connection_label(cid, name, with_id=name in shared) for cid, name in names.items()}
