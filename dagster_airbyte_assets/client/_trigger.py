"""Starting a sync exactly once, although Airbyte has no idempotency key.

A start request can reach Airbyte although the client saw an error (a reset after sending, a
5xx from a proxy, a timeout, a cut-off body), and it can arrive late (REAL-BEHAVIOUR §2.10).
Airbyte runs one sync per connection at a time and job ids only grow, so:

1. **Before sending**, the connection's newest sync job id is known (the *baseline*).
2. **Success**: that job. **409 "already running"** (Public ``try-again-later``, Config 409):
   attach to the running job if it is a ``sync``; if another job type runs (reset, clear,
   refresh), wait for it to end, then send again (a 409 created nothing).
3. **An ambiguous outcome**: look, for a bounded window, for a ``sync`` job newer than the
   baseline and adopt it; a job that existed before the request is never the answer. Only when
   none appears is the request sent again; a re-sent request that meets the first one's late
   job gets a 409 and attaches to it.
4. **Inactive or deleted connection** (Public 409 ``state-conflict``, Config 500): a typed error
   naming the connection's status, never "already running", never re-sent.

Whatever could not be resolved (a request that may still arrive) is reported in
``SyncStart.late_start_deadline`` so the caller can watch for a late job and cancel it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from dagster_airbyte_assets.client._dialect import StartConflict
from dagster_airbyte_assets.client._models import AirbyteJob
from dagster_airbyte_assets.errors import (
    AirbyteConflictError,
    AirbyteConnectionInactiveError,
    AirbyteError,
    AirbyteNotAirbyteError,
    AirbyteNotFoundError,
    AirbyteRequestError,
    AirbyteServerError,
    SyncAlreadyRunningError,
)

if TYPE_CHECKING:
    from dagster_airbyte_assets.client._client import AirbyteClient

__all__ = [
    "StartLog",
    "StartState",
    "SyncHistory",
    "SyncStart",
    "SyncStarter",
    "connection_not_found",
    "is_ambiguous_start",
    "may_still_arrive",
]

logger = logging.getLogger("dagster_airbyte_assets.client")

StartHow = Literal["started", "attached", "adopted"]


class StartLog(Protocol):
    """Where the start protocol says what it does: a ``logging.Logger``, Dagster's log..."""

    def info(self, msg: str, /) -> Any: ...
    def warning(self, msg: str, /) -> Any: ...


# A 409 whose running job has ended by the time we look: send again this many times at most.
_VANISHED_CONFLICTS = 5
# Sends of a start whose failures were ambiguous but proven harmless (no job appeared): each is
# preceded by a look of several seconds, so five ride out a ~15 s burst of 5xx or resets; with
# three, one connection in ~300 failed at a 15 % fault rate (tests/reliability/test_faults.py).
_MAX_SENDS = 5
# How long to look for the job of a start request whose answer came but was not Airbyte's (a
# proxy's 5xx, a cut-off body): the server was done with it, so its job exists already, give
# or take the time the job list takes to show it.
_ANSWERED_WINDOW = 3.0


@dataclass(frozen=True)
class SyncHistory:
    """What the connection's recent sync jobs say, from one listing made before a start."""

    newest_job_id: int | None
    """The baseline: no sync job with this id or a lower one answers a start sent after it."""
    durations: tuple[float, ...] = ()
    """Seconds taken by recent successful syncs, newest first."""
    records: tuple[int, ...] = ()
    """Records those syncs moved (emitted where the dialect says, else committed)."""


@dataclass(frozen=True)
class SyncStart:
    job: AirbyteJob
    how: StartHow
    baseline: int | None
    late_start_deadline: float | None = None
    """Monotonic time until which a start request sent earlier, whose fate is unknown, may
    still create a job; ``None`` when every request sent was resolved."""


@dataclass
class StartState:
    """What the caller needs to clean up if the start is interrupted halfway."""

    baseline: int | None = None
    sent: bool = False
    late_start_deadline: float | None = None
    job: AirbyteJob | None = None
    notes: list[str] = field(default_factory=list)


def connection_not_found(connection_id: str, cause: AirbyteNotFoundError) -> AirbyteNotFoundError:
    """A 404 about the connection, saying what to do: the saved state is older than Airbyte."""
    return AirbyteNotFoundError(
        f"Airbyte has no connection {connection_id} (deleted since the definitions were "
        "loaded?). Refresh the saved state: `dagster-airbyte-assets refresh-state -f "
        "<definitions file>`.",
        connection_id=connection_id,
        resource_id=connection_id,
        status_code=cause.status_code,
        message=cause.message,
        method=cause.method,
        url=cause.url,
    )


def may_still_arrive(error: AirbyteError) -> bool:
    """Could the request still reach Airbyte (and create a job) after this error?

    Only when nothing answered it: a timeout, a dropped connection, a gateway's 504 (the proxy
    stopped waiting, the server may not have). Any other answer came after the server was done
    with the request, and Airbyte answers a start only once the job exists
    (``TemporalClient.startNewManualSync`` waits for the workflow's new job id:
    airbyte-commons-temporal/.../TemporalClient.kt ~250-262), so its job, if any, exists already.
    """
    if isinstance(error, AirbyteRequestError):
        return error.request_sent
    return isinstance(error, AirbyteServerError) and error.status_code == 504


def is_ambiguous_start(error: AirbyteError) -> bool:
    """Did a start request possibly reach Airbyte although no answer says so?"""
    if isinstance(error, AirbyteRequestError):
        return error.request_sent
    if isinstance(error, AirbyteServerError):
        return error.status_code != 501
    return isinstance(error, AirbyteNotAirbyteError)


class SyncStarter:
    """Runs the start protocol above for one client; ``sleep`` and ``clock`` are injectable."""

    def __init__(
        self,
        client: AirbyteClient,
        *,
        window: float,
        wait_gap: float = 5.0,
        conflict_timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        log: StartLog | None = None,
    ) -> None:
        self.client = client
        self.window = window
        self.wait_gap = wait_gap
        self.conflict_timeout = conflict_timeout
        self.sleep = sleep
        self.clock = clock
        self.log: StartLog = log or logger

    def start(
        self,
        connection_id: str,
        *,
        job_type: str = "sync",
        history: SyncHistory | None = None,
        state: StartState | None = None,
    ) -> SyncStart:
        state = state if state is not None else StartState()
        if history is None:
            history = self.client.sync_history(connection_id)
        state.baseline = history.newest_job_id
        began = self.clock()
        sends = 0
        vanished = 0
        while True:
            sends += 1
            state.sent = True
            sent_at = self.clock()
            try:
                job = self.client.dialect.start_job(connection_id, job_type)
            except AirbyteNotFoundError as exc:
                raise connection_not_found(connection_id, exc) from exc
            except AirbyteConflictError as exc:
                if self.client.dialect.start_conflict(exc) is StartConflict.NOT_ACTIVE:
                    self._raise_if_not_active(connection_id, exc)
                    raise
                try:
                    running = self.client.find_running_sync(connection_id)
                    blocker = None if running else self.client.find_running_job(connection_id)
                except AirbyteError as lookup:
                    self.log.warning(f"Could not look up the running job: {lookup.summary}")
                    running = blocker = None
                if running is not None:
                    return self._done(state, running, "attached", history)
                if blocker is not None and blocker.job_type != "sync":
                    self._wait_for(blocker, began)
                    continue
                vanished += 1
                if vanished > _VANISHED_CONFLICTS:
                    raise SyncAlreadyRunningError(
                        f"Airbyte kept answering that a job is running for connection "
                        f"{connection_id}, but none could be found",
                        connection_id=connection_id,
                        status_code=exc.status_code,
                        message=exc.message,
                        method=exc.method,
                        url=exc.url,
                    ) from exc
                self.sleep(1.0)  # the running job ended between the 409 and the lookup
                continue
            except AirbyteError as exc:
                if not is_ambiguous_start(exc):
                    raise
                self._raise_if_not_active(connection_id, exc)
                self.log.warning(
                    f"Starting a {job_type} of connection {connection_id} failed ambiguously "
                    f"({type(exc).__name__}: {exc.summary}); looking for the job it may have "
                    f"created (newer than job {history.newest_job_id}) before sending again."
                )
                in_flight = may_still_arrive(exc)
                window = self.window if in_flight else min(self.window, _ANSWERED_WINDOW)
                found = self._await_new_sync(connection_id, history.newest_job_id, window)
                if found is not None:
                    self.log.info(
                        f"Adopting Airbyte job {found.job_id}: created by the ambiguous start."
                    )
                    return self._done(state, found, "adopted", history)
                if in_flight:
                    state.late_start_deadline = max(
                        state.late_start_deadline or 0.0, sent_at + 2 * self.window
                    )
                if sends >= _MAX_SENDS:
                    raise
                continue
            return self._done(state, job, "started", history)

    def _done(
        self, state: StartState, job: AirbyteJob, how: StartHow, history: SyncHistory
    ) -> SyncStart:
        state.job = job
        return SyncStart(
            job=job,
            how=how,
            baseline=history.newest_job_id,
            late_start_deadline=state.late_start_deadline,
        )

    def _raise_if_not_active(self, connection_id: str, cause: AirbyteError) -> None:
        """An inactive or deleted connection refuses syncs: say so with its status.

        The Config API answers such a sync with a bare 500 (REAL-BEHAVIOUR §2.9), so every
        ambiguous outcome is checked against the connection's status (one read).
        """
        try:
            connection = self.client.dialect.get_connection(connection_id)
        except AirbyteNotFoundError as exc:
            raise connection_not_found(connection_id, exc) from exc
        except AirbyteError:
            return  # unknown: the caller goes on resolving the original outcome
        if connection.status == "active":
            return
        advice = (
            "it was deleted: refresh the saved state (`dagster-airbyte-assets refresh-state`)"
            if connection.status == "deprecated"
            else "enable it in Airbyte, or leave its assets out of this run"
        )
        raise AirbyteConnectionInactiveError(
            f"Airbyte refuses to sync connection {connection.name!r} ({connection_id}): its "
            f"status is {connection.status!r}; {advice}",
            connection_id=connection_id,
            connection_status=connection.status,
            status_code=getattr(cause, "status_code", None),
            message=cause.message,
            method=cause.method,
            url=cause.url,
        ) from cause

    def _await_new_sync(
        self, connection_id: str, baseline: int | None, window: float
    ) -> AirbyteJob | None:
        """A sync job newer than ``baseline``, looked for during ``window`` seconds."""
        deadline = self.clock() + window
        gap = 0.5
        while True:
            try:
                newer = self.client.sync_jobs_after(connection_id, baseline)
            except AirbyteError as exc:
                self.log.warning(f"Could not list the jobs of {connection_id}: {exc.summary}")
                newer = []
            if newer:
                return min(newer, key=lambda job: job.job_id)
            remaining = deadline - self.clock()
            if remaining <= 0:
                return None
            self.sleep(min(gap, remaining))
            gap = min(gap * 2, 2.0)

    def _wait_for(self, blocker: AirbyteJob, began: float) -> None:
        """Wait for a non-sync job (reset, clear, refresh) to end before starting the sync."""
        self.log.info(
            f"A {blocker.job_type} job ({blocker.job_id}) is running for connection "
            f"{blocker.connection_id}; waiting for it to end before starting the sync."
        )
        job = blocker
        while not job.is_terminal:
            if self.conflict_timeout is not None and self.clock() - began > self.conflict_timeout:
                raise SyncAlreadyRunningError(
                    f"The {blocker.job_type} job {blocker.job_id} of connection "
                    f"{blocker.connection_id} did not end within {self.conflict_timeout:g}s",
                    running_job=job,
                    connection_id=blocker.connection_id,
                )
            self.sleep(self.wait_gap)
            try:
                job = self.client.get_job(blocker.job_id)
            except AirbyteNotFoundError:
                return
            except AirbyteError as exc:
                self.log.warning(f"Could not read job {blocker.job_id}: {exc.summary}")
