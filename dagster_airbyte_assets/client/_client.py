"""``AirbyteClient``: one interface over both API dialects, one pooled ``httpx.Client``.

The client is thread-safe (httpx's pool is; the little state here is guarded) and owns its
pool, so create one per resource and share it across threads. It speaks its dialect through
``AirbyteDialect`` and uses the Config API, where it answers, for what only it has (column
schemas, attempts, per-stream numbers, progress). Whether the Config API answers is learnt
from its answers and never decided by one failure (see ``_ConfigReach``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

import httpx

from dagster_airbyte_assets.client._auth import BearerTokenAuth, ClientCredentialsAuth
from dagster_airbyte_assets.client._config_api import ConfigApi
from dagster_airbyte_assets.client._dialect import AirbyteDialect, ConnectionDraft, JobQuery
from dagster_airbyte_assets.client._http import HttpCore
from dagster_airbyte_assets.client._models import (
    AirbyteCheckResult,
    AirbyteConnection,
    AirbyteConnectorDefinition,
    AirbyteDestination,
    AirbyteJob,
    AirbyteSchedule,
    AirbyteSource,
    AirbyteStream,
    AirbyteSyncProgress,
    AirbyteWorkspaceInfo,
    ApiDialect,
)
from dagster_airbyte_assets.client._public_api import PublicApi, public_can_schedule
from dagster_airbyte_assets.client._retry import RetryPolicy
from dagster_airbyte_assets.client._stats import StreamKey, aggregate_attempt_stats
from dagster_airbyte_assets.client._trigger import (
    StartLog,
    StartState,
    SyncHistory,
    SyncStart,
    SyncStarter,
    connection_not_found,
)
from dagster_airbyte_assets.client._urls import resolve_urls
from dagster_airbyte_assets.client._wire import check_uuid, path_segment
from dagster_airbyte_assets.errors import (
    AirbyteAuthenticationError,
    AirbyteBadRequestError,
    AirbyteConfigurationError,
    AirbyteError,
    AirbyteJobError,
    AirbyteNotAirbyteError,
    AirbyteNotFoundError,
)

__all__ = ["AirbyteClient"]

logger = logging.getLogger("dagster_airbyte_assets.client")

T = TypeVar("T")
_ALL_JOB_TYPES = ("sync", "reset", "refresh", "clear")
_HISTORY_SIZE = 10


class _ConfigReach:
    """Does the Config API answer here? Learnt from answers, never from a single one.

    It is set aside only after ``ABSENT_AFTER`` answers in a row that say it is not there
    (404 on its routes, 401/403, a body that is not Airbyte's) and for ``RECHECK_AFTER``
    seconds at most; transient failures (5xx, resets, timeouts) say nothing about it.
    """

    ABSENT_AFTER = 3
    RECHECK_AFTER = 300.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._absent_answers = 0
        self._absent_since: float | None = None

    def usable(self) -> bool:
        with self._lock:
            if self._absent_since is None:
                return True
            if self._clock() - self._absent_since > self.RECHECK_AFTER:
                self._absent_since = None
                self._absent_answers = self.ABSENT_AFTER - 1  # one more "absent" sets it aside
                return True
            return False

    def answered(self) -> None:
        with self._lock:
            self._absent_answers = 0
            self._absent_since = None

    def absent(self) -> bool:
        """Record an answer saying "no Config API here"; True when it is now set aside."""
        with self._lock:
            self._absent_answers += 1
            if self._absent_answers >= self.ABSENT_AFTER and self._absent_since is None:
                self._absent_since = self._clock()
                return True
            return False


_ABSENT_SIGNS = (AirbyteNotFoundError, AirbyteAuthenticationError, AirbyteNotAirbyteError)


class AirbyteClient:
    """Talks to one Airbyte deployment in the ``config`` or ``public`` dialect."""

    def __init__(
        self,
        *,
        api: ApiDialect | str,
        config_api_url: str | None,
        public_api_url: str | None,
        auth: httpx.Auth | None = None,
        request_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 20,
        transport: httpx.BaseTransport | None = None,
        ui_url: str | None = None,
        auth_hint: str | None = None,
    ) -> None:
        if api not in ("config", "public"):
            raise AirbyteConfigurationError(f"api must be 'config' or 'public', not {api!r}")
        if api == "config" and not config_api_url:
            raise AirbyteConfigurationError("the config dialect needs config_api_url")
        if api == "public" and not public_api_url:
            raise AirbyteConfigurationError("the public dialect needs public_api_url")
        self.api: ApiDialect = "config" if api == "config" else "public"
        """Informational; callers never need to branch on it."""
        self.config_api_url = config_api_url.rstrip("/") if config_api_url else None
        self.public_api_url = public_api_url.rstrip("/") if public_api_url else None
        self.retry = retry or RetryPolicy()
        self.request_timeout = request_timeout
        self._ui_url = ui_url.rstrip("/") if ui_url else None
        self._http = HttpCore(
            auth=auth,
            auth_hint=auth_hint or _default_auth_hint(auth),
            request_timeout=request_timeout,
            retry=self.retry,
            max_connections=max_connections,
            transport=transport,
        )
        self._config = ConfigApi(self._http, self.config_api_url) if self.config_api_url else None
        self._public = PublicApi(self._http, self.public_api_url) if self.public_api_url else None
        dialect: AirbyteDialect | None = self._config if self.api == "config" else self._public
        assert dialect is not None
        self.dialect: AirbyteDialect = dialect
        self._config_reach = _ConfigReach()
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, api: str | None = None, **kw: Any) -> AirbyteClient:
        """Build from a deployment root or an API base URL (see ``_urls.resolve_urls``)."""
        resolved = resolve_urls(url, api)
        kw.setdefault("ui_url", resolved.ui_url)
        return cls(
            api=resolved.dialect,
            config_api_url=kw.pop("config_api_url", None) or resolved.config_api_url,
            public_api_url=kw.pop("public_api_url", None) or resolved.public_api_url,
            **kw,
        )

    def __repr__(self) -> str:
        return f"AirbyteClient(api={self.api!r}, url={self.dialect.base_url!r})"

    def describe(self) -> str:
        """``<base URL> (<dialect> API)``, for messages."""
        return f"{self.dialect.base_url} ({self.api} API)"

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirbyteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def request_count(self) -> int:
        """HTTP requests sent by this client (for tests and benchmarks)."""
        return self._http.request_count

    @property
    def http_client(self) -> httpx.Client:
        """The one pooled ``httpx.Client`` every call goes through."""
        return self._http.client

    @property
    def ambiguity_window(self) -> float:
        """How long a start request whose fate is unknown may still create a job."""
        return max(5.0, self.request_timeout)

    # -- plumbing -------------------------------------------------------------------------------
    def _warn_once(self, key: str, message: str, *args: object) -> None:
        with self._warn_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(message, *args)

    def _via_config(self, call: Callable[[ConfigApi], T], what: str) -> T | None:
        """The Config API's answer where it answers; ``None`` to use the Public API instead."""
        config = self._config
        if config is None or not self._config_reach.usable():
            return None
        if config is self.dialect:
            return call(config)
        try:
            result = call(config)
        except _ABSENT_SIGNS as exc:
            if self._config_reach.absent():
                self._warn_once(
                    "config-absent",
                    "Airbyte's Config API does not answer at %s (%s); using the Public API only "
                    "for now: %s",
                    self.config_api_url,
                    exc.summary,
                    what,
                )
            return None
        except AirbyteError as exc:
            logger.info("Config API call failed (%s); using the Public API for it", exc.summary)
            return None
        self._config_reach.answered()
        return result

    def _check_status(self, job: AirbyteJob) -> AirbyteJob:
        if not job.is_known_status:
            self._warn_once(
                f"status:{job.status}",
                "Airbyte job %s has an unknown status %r; treating it as still running",
                job.job_id,
                job.status,
            )
        return job

    # -- workspaces -------------------------------------------------------------------------------
    def list_workspaces(self) -> list[AirbyteWorkspaceInfo]:
        try:
            return self.dialect.list_workspaces()
        except AirbyteNotFoundError:
            # Config workspaces/list is gone from Airbyte >= 1.7; the Public API has it.
            if self.dialect is self._public or self._public is None:
                raise
            return self._public.list_workspaces()

    def get_workspace(self, workspace_id: str) -> AirbyteWorkspaceInfo:
        return self.dialect.get_workspace(workspace_id)

    # -- sources / destinations -------------------------------------------------------------------
    def list_sources(self, workspace_id: str) -> list[AirbyteSource]:
        return self.dialect.list_sources(workspace_id)

    def get_source(self, source_id: str) -> AirbyteSource:
        return self.dialect.get_source(source_id)

    def list_destinations(self, workspace_id: str) -> list[AirbyteDestination]:
        return self.dialect.list_destinations(workspace_id)

    def get_destination(self, destination_id: str) -> AirbyteDestination:
        return self.dialect.get_destination(destination_id)

    # -- connections ------------------------------------------------------------------------------
    def list_connections(
        self, workspace_id: str, *, with_schemas: bool = False
    ) -> list[AirbyteConnection]:
        """Every connection of the workspace.

        The Config API's ``connections/list`` is asked first where it answers: it returns
        every connection with its catalog and JSON schemas in one call, unpaginated. The Public
        API pages with LIMIT/OFFSET and no ORDER BY (REAL-BEHAVIOUR §3.12), so its pages can
        overlap and skip rows; there streams come from ``configurations`` (selected streams
        only, ``has_json_schemas=False``; ``get_connection`` has the schemas where the Config
        API answers). ``with_schemas`` is kept for compatibility: schemas come whenever they can.
        """
        rich = self._via_config(
            lambda c: c.list_connections(workspace_id), "stream column schemas will be missing"
        )
        if rich is not None:
            return rich
        return self.dialect.list_connections(workspace_id)

    def get_connection(self, connection_id: str) -> AirbyteConnection:
        """One connection with its catalog and, where Airbyte allows, stream JSON schemas."""
        rich = self._via_config(
            lambda c: c.get_connection(connection_id), "stream column schemas will be missing"
        )
        if rich is not None:
            return rich
        connection = self.dialect.get_connection(connection_id)
        self._warn_once(
            "no-schemas",
            "Connection %s: no column schemas (the Public API has none and the Config API is "
            "not reachable)",
            connection_id,
        )
        return connection

    def create_connection(
        self,
        source_id: str,
        destination_id: str,
        *,
        name: str | None = None,
        streams: list[AirbyteStream] | None = None,
        schedule: AirbyteSchedule | None = None,
        status: str = "active",
        namespace_definition: Literal["source", "destination", "customformat"] = "destination",
        namespace_format: str | None = None,
        prefix: str = "",
    ) -> AirbyteConnection:
        """Create a connection; ``streams=None`` selects every stream the source discovers."""
        if streams is None:
            streams = self.discover_source_schema(source_id)
        schedule = schedule or AirbyteSchedule()
        later = None if self._dialect_can_schedule(schedule) else schedule
        draft = ConnectionDraft(
            source_id=source_id,
            destination_id=destination_id,
            streams=streams,
            name=name,
            schedule=AirbyteSchedule() if later else schedule,
            status=status,
            namespace_definition=namespace_definition,
            namespace_format=namespace_format,
            prefix=prefix,
        )
        connection = self.dialect.create_connection(draft)
        if later is None:
            return connection
        return self.update_connection(connection.connection_id, schedule=later)

    def _dialect_can_schedule(self, schedule: AirbyteSchedule) -> bool:
        return self.dialect is not self._public or public_can_schedule(schedule)

    def update_connection(
        self,
        connection_id: str,
        *,
        schedule: AirbyteSchedule | None = None,
        status: str | None = None,
    ) -> AirbyteConnection:
        """Change a connection's schedule and/or status (``active`` / ``inactive``).

        A basic schedule, or a cron in a time zone other than UTC, goes through the Config API:
        the Public API cannot set them (``public_can_schedule``).
        """
        if schedule is not None and not self._dialect_can_schedule(schedule):
            if self._config is None:
                raise AirbyteConfigurationError(
                    f"a {schedule.schedule_type} schedule"
                    + (f" in {schedule.cron_time_zone}" if schedule.cron_time_zone else "")
                    + " needs the Config API URL (the Public API schedules crons in UTC only)"
                )
            return self._config.update_connection(connection_id, schedule=schedule, status=status)
        return self.dialect.update_connection(connection_id, schedule=schedule, status=status)

    # -- starting jobs --------------------------------------------------------------------------
    def sync_history(self, connection_id: str, limit: int = _HISTORY_SIZE) -> SyncHistory:
        """The newest sync job id (the baseline of a start) and recent successful syncs."""
        check_uuid(connection_id, "connection id")
        try:
            jobs = self.dialect.list_jobs(
                JobQuery(connection_id=connection_id, order_by="createdAt|DESC", limit=limit)
            )
        except AirbyteNotFoundError as exc:
            raise connection_not_found(connection_id, exc) from exc
        jobs = [job for job in jobs if job.job_type == "sync"]
        succeeded = sorted(
            (job for job in jobs if job.succeeded), key=lambda j: j.job_id, reverse=True
        )
        durations = tuple(
            d for d in (job.duration_seconds for job in succeeded) if d is not None and d > 0
        )
        records = tuple(
            n
            for n in (
                job.records_emitted if job.records_emitted is not None else job.rows_synced
                for job in succeeded
            )
            if n is not None
        )
        newest = max((job.job_id for job in jobs), default=None)
        return SyncHistory(newest_job_id=newest, durations=durations, records=records)

    def trigger_sync(
        self,
        connection_id: str,
        *,
        job_type: str = "sync",
        history: SyncHistory | None = None,
        state: StartState | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        log: StartLog | None = None,
        conflict_timeout: float | None = None,
    ) -> SyncStart:
        """Start a job exactly once, or attach to the sync already running (see ``_trigger``)."""
        if job_type not in _ALL_JOB_TYPES:
            raise AirbyteConfigurationError(f"job_type must be one of {_ALL_JOB_TYPES}")
        check_uuid(connection_id, "connection id")
        starter = SyncStarter(
            self,
            window=self.ambiguity_window,
            sleep=sleep,
            clock=clock,
            log=log,
            conflict_timeout=conflict_timeout,
        )
        start = starter.start(connection_id, job_type=job_type, history=history, state=state)
        return SyncStart(
            job=self._check_status(start.job),
            how=start.how,
            baseline=start.baseline,
            late_start_deadline=start.late_start_deadline,
        )

    def start_sync(self, connection_id: str, job_type: str = "sync") -> AirbyteJob:
        """Start a job (``sync``, ``reset``...) exactly once; attach to a running sync.

        See ``trigger_sync`` for how the job was obtained (started, attached, adopted).
        """
        return self.trigger_sync(connection_id, job_type=job_type).job

    def sync_jobs_after(self, connection_id: str, baseline: int | None) -> list[AirbyteJob]:
        """The connection's sync jobs with an id above ``baseline`` (all, when ``None``)."""
        jobs = self.dialect.list_jobs(
            JobQuery(connection_id=connection_id, order_by="createdAt|DESC", limit=_HISTORY_SIZE)
        )
        return [
            job
            for job in jobs
            if job.job_type == "sync"
            and job.connection_id in ("", connection_id)
            and (baseline is None or job.job_id > baseline)
        ]

    def job_is_listed(self, connection_id: str, job_id: int) -> bool | None:
        """Is the job among the connection's sync jobs? ``None`` when the listing cannot tell.

        Airbyte answers a read of an unknown job id with a bare 500 (2.0: ``{errorId}`` only),
        indistinguishable from a failing server; the connection's job list tells them apart.
        """
        jobs = self.dialect.list_jobs(
            JobQuery(connection_id=connection_id, order_by="createdAt|DESC", limit=_HISTORY_SIZE)
        )
        ids = {job.job_id for job in jobs}
        if job_id in ids:
            return True
        if len(jobs) < _HISTORY_SIZE or (ids and min(ids) < job_id):
            return False
        return None

    def find_running_sync(self, connection_id: str) -> AirbyteJob | None:
        """The connection's newest sync job that has not ended, if any."""
        jobs = self.dialect.list_jobs(
            JobQuery(connection_id=connection_id, order_by="createdAt|DESC", limit=_HISTORY_SIZE)
        )
        running = [job for job in jobs if job.job_type == "sync" and not job.is_terminal]
        return max(running, key=lambda j: j.job_id) if running else None

    def find_running_job(self, connection_id: str) -> AirbyteJob | None:
        """The connection's newest job of any type that has not ended, if any.

        Config API: ``connections/sync_progress`` names the running job whatever its type
        (``refresh`` and ``clear`` cannot be listed on servers that predate them), else
        ``jobs/list`` with the types every version knows. Public API: its job list without a
        type filter lists every type.
        """
        progress = self.sync_progress(connection_id)
        if progress is not None and progress.job_id is not None:
            return self._check_status(self.get_job(progress.job_id))
        jobs = self.dialect.list_jobs(
            JobQuery(
                connection_id=connection_id,
                job_types=None,
                order_by="createdAt|DESC",
                limit=_HISTORY_SIZE,
            )
        )
        running = [job for job in jobs if not job.is_terminal]
        if not running and self.dialect is self._public:
            # Up to v2.0.0 the Public job list leaves clear and refresh jobs out unless asked
            # for by type; servers before v0.63 refuse those types (400), which is an answer.
            for job_type in ("clear", "refresh"):
                try:
                    typed = self.dialect.list_jobs(
                        JobQuery(connection_id=connection_id, job_types=(job_type,), limit=5)
                    )
                except AirbyteBadRequestError:
                    continue
                running += [job for job in typed if not job.is_terminal]
        return max(running, key=lambda j: j.job_id) if running else None

    # -- refresh, clear, reset ---------------------------------------------------------------------
    # Never replayed (a clear deletes data): the caller resolves an ambiguous answer by looking
    # for a job newer than ``newest_job_id`` taken before the request.
    def newest_job_id(self, connection_id: str, job_type: str | None = None) -> int | None:
        """The connection's newest job id (of ``job_type``; ``None``: the types all versions know)."""
        jobs = self.dialect.list_jobs(
            JobQuery(
                connection_id=connection_id,
                job_types=(job_type,) if job_type else None,
                order_by="createdAt|DESC",
                limit=_HISTORY_SIZE,
            )
        )
        return max((job.job_id for job in jobs), default=None)

    def start_refresh(
        self,
        connection_id: str,
        refresh_mode: str = "Truncate",
        streams: Sequence[str] | None = None,
    ) -> AirbyteJob:
        """Start Airbyte's refresh (``Truncate``: only the refreshed data stays; ``Merge``: kept).

        Only the Config API can: the Public API answers ``POST /jobs`` ``refresh`` with 422
        "Refreshes are not supported in the public API" (``JobsController.kt`` ~187,
        REAL-BEHAVIOUR §1.7). ``connections/refresh`` exists from v0.58.0.
        """
        if refresh_mode not in ("Truncate", "Merge"):
            raise AirbyteConfigurationError(
                f"refresh_mode must be 'Truncate' or 'Merge', not {refresh_mode!r}"
            )
        check_uuid(connection_id, "connection id")
        config = self._config
        if config is None:
            raise AirbyteConfigurationError(
                "A refresh needs Airbyte's Config API, and this workspace has only the Public "
                "API URL: Airbyte's Public API refuses refreshes (422 'Refreshes are not "
                "supported in the public API'). Give the deployment root URL (or the Config API "
                "URL) so both are reachable."
            )
        before = self._newest_on(config, connection_id, "refresh")
        try:
            job = config.start_refresh(connection_id, refresh_mode, streams)
        except AirbyteNotFoundError as exc:
            if "Could not find configuration" in (exc.message or ""):
                raise connection_not_found(connection_id, exc) from exc
            raise AirbyteConfigurationError(
                f"Airbyte's Config API at {self.config_api_url} does not answer "
                f"connections/refresh ({exc.summary}): refreshes need the Config API of Airbyte "
                "0.58 or later, reachable from Dagster (a proxy may expose only the Public API, "
                "which refuses refreshes)."
            ) from exc
        if job is None:
            job = self._newest_new_job(config, connection_id, "refresh", before)
        if job is None:
            raise AirbyteJobError(
                f"Airbyte started no refresh for connection {connection_id}: its destination "
                "does not support refreshes (StreamRefreshesHandler returns no job then)."
            )
        return self._check_status(job)

    def start_clear(self, connection_id: str) -> tuple[AirbyteJob, str]:
        """Start Airbyte's clear (deletes the connection's data); returns the job and the request.

        Config ``connections/clear`` (v0.58+) or the Public ``clear`` job type (v0.63+); older
        servers have only ``reset``, which clears the same way (a clear runs as a reset:
        ``JobMapper.kt`` ~111, REAL-BEHAVIOUR §1.7).
        """
        check_uuid(connection_id, "connection id")
        job = self._start_where_known(connection_id, "clear")
        if job is not None:
            return job, "clear"
        logger.info("This Airbyte has no clear: sending a reset, which clears the same way.")
        return self.start_reset(connection_id), "reset"

    def start_reset(self, connection_id: str) -> AirbyteJob:
        """Start Airbyte's reset (deletes the connection's data; every version has it)."""
        check_uuid(connection_id, "connection id")
        job = self._start_where_known(connection_id, "reset")
        if job is None:
            raise AirbyteConfigurationError(
                f"Neither of Airbyte's APIs at {self.describe()} answers a reset of connection "
                f"{connection_id}: check the URL."
            )
        return job

    def _start_where_known(self, connection_id: str, job_type: str) -> AirbyteJob | None:
        """The job from the first API that has the route (Config first: every version has it);
        ``None`` when none does. A route miss or an unknown job type created nothing, so
        trying the next API never starts a second job."""
        dialects: list[AirbyteDialect] = []
        if self._config is not None and self._config_reach.usable():
            dialects.append(self._config)
        if self._public is not None:
            dialects.append(self._public)
        for dialect in dialects:
            try:
                return dialect.start_job(connection_id, job_type)
            except AirbyteNotFoundError as exc:
                missing = exc.problem == "resource-not-found"
                if missing or "Could not find configuration" in (exc.message or ""):
                    raise connection_not_found(connection_id, exc) from exc
                logger.info("No %s at %s (route miss).", job_type, dialect.base_url)
            except AirbyteNotAirbyteError:
                logger.info("No %s at %s: the route is not Airbyte's.", job_type, dialect.base_url)
            except AirbyteBadRequestError:
                logger.info("No %s job type at %s.", job_type, dialect.base_url)
        return None

    def _newest_on(self, dialect: AirbyteDialect, connection_id: str, job_type: str) -> int | None:
        try:
            jobs = dialect.list_jobs(
                JobQuery(connection_id=connection_id, job_types=(job_type,), limit=_HISTORY_SIZE)
            )
        except AirbyteError:
            return None
        return max((job.job_id for job in jobs), default=None)

    def _newest_new_job(
        self, dialect: AirbyteDialect, connection_id: str, job_type: str, before: int | None
    ) -> AirbyteJob | None:
        jobs = dialect.list_jobs(
            JobQuery(connection_id=connection_id, job_types=(job_type,), limit=_HISTORY_SIZE)
        )
        new = [job for job in jobs if before is None or job.job_id > before]
        return max(new, key=lambda j: j.job_id) if new else None

    def find_new_job(
        self, connection_id: str, job_type: str, before: int | None
    ) -> AirbyteJob | None:
        """A job of ``job_type`` newer than ``before``: what an ambiguous start created."""
        config = self._config if job_type == "refresh" else None
        return self._newest_new_job(config or self.dialect, connection_id, job_type, before)

    # -- waiting for jobs ----------------------------------------------------------------------
    def get_job(self, job_id: int) -> AirbyteJob:
        """A job's status from an endpoint that carries no logs.

        The Config API's ``jobs/get_without_logs`` where it answers (attempts, and on most
        versions the job's own per-stream numbers); else the Public API's ``GET /jobs/{id}``.
        ``jobs/get`` is never called: it reads every attempt's log (REAL-BEHAVIOUR §1.3).
        """
        rich = self._via_config(lambda c: c.get_job(job_id), "jobs will have no per-stream stats")
        if rich is not None:
            return self._check_status(rich)
        return self._check_status(self.dialect.get_job(job_id))

    def sync_progress(self, connection_id: str) -> AirbyteSyncProgress | None:
        """What the connection's running job has moved so far; ``None`` where unavailable.

        ``connections/sync_progress`` exists from Airbyte 0.50.33, on the Config API only.
        """
        config = self._config
        if config is None or not self._config_reach.usable():
            return None
        try:
            return config.sync_progress(connection_id)
        except AirbyteError as exc:
            logger.debug("No sync progress for %s: %s", connection_id, exc.summary)
            return None

    def get_job_report(
        self, job: AirbyteJob, sync_modes: Mapping[StreamKey, str] | None = None
    ) -> AirbyteJob:
        """``job`` with its final per-stream numbers, from wherever this Airbyte keeps them.

        In order: the job's own ``streamAggregatedStats`` (``jobs/get_without_logs`` from
        v0.52, ``jobs/list``); the attempts' ``streamStats`` aggregated as Airbyte does (sum
        for incremental streams, last attempt for full refresh; ``sync_modes`` says which);
        ``jobs/list`` with ``includingJobId``, which hydrates attempt stats on every version.
        Where only the Public API answers, the numbers stay unknown (``stats_source=None``).
        """
        modes = sync_modes or {}
        detailed: AirbyteJob | None = job
        if not job.attempts_known:
            detailed = self._via_config(lambda c: c.get_job(job.job_id), "no per-stream stats")
        if detailed is None:
            return job
        with_stats = _with_stream_stats(detailed, modes)
        if with_stats.stats_source is not None or self._config is None:
            return with_stats
        connection_id = detailed.connection_id or job.connection_id
        try:
            listed = self._via_config(
                lambda c: c.get_job_from_list(connection_id, job.job_id), "no per-stream stats"
            )
        except AirbyteError as exc:
            # The job succeeded; failing to read its numbers must not fail the sync.
            logger.warning("Could not read the numbers of job %s: %s", job.job_id, exc.summary)
            return with_stats
        if listed is None:
            return with_stats
        merged = _with_stream_stats(listed, modes)
        return with_stats.model_copy(
            update={"stream_stats": merged.stream_stats, "stats_source": merged.stats_source}
        )

    def cancel_job(self, job_id: int) -> AirbyteJob:
        return self.dialect.cancel_job(job_id)

    # -- listing jobs ------------------------------------------------------------------------------
    def list_jobs(
        self,
        *,
        workspace_id: str | None = None,
        connection_id: str | None = None,
        job_type: str | None = "sync",
        status: str | None = None,
        created_at_start: datetime | None = None,
        updated_at_start: datetime | None = None,
        order_by: str = "createdAt|DESC",
        limit: int | None = None,
    ) -> list[AirbyteJob]:
        """Jobs matching the filters (all pages up to ``limit``).

        ``job_type=None``: every type the server surely knows (the Config API leaves out
        ``refresh`` and ``clear``, which servers before v0.58/v0.60 reject).
        """
        query = JobQuery(
            connection_id=connection_id,
            workspace_id=workspace_id,
            job_types=(job_type,) if job_type else None,
            status=status,
            created_at_start=created_at_start,
            updated_at_start=updated_at_start,
            order_by=order_by,
            limit=limit,
        )
        return self.dialect.list_jobs(query)

    def list_sync_jobs(
        self,
        *,
        workspace_id: str | None,
        connection_ids: Iterable[str],
        updated_at_start: datetime,
    ) -> list[AirbyteJob]:
        """Sync jobs of these connections updated since ``updated_at_start`` (all pages).

        The Public API lists a whole workspace in one listing; the Config API lists by
        connection.
        """
        wanted = set(connection_ids)
        jobs: list[AirbyteJob] = []
        if self.dialect is self._public and workspace_id:
            jobs = self.dialect.list_jobs(
                JobQuery(
                    workspace_id=workspace_id,
                    updated_at_start=updated_at_start,
                    order_by="updatedAt|ASC",
                )
            )
        else:
            for connection_id in sorted(wanted):
                jobs.extend(
                    self.dialect.list_jobs(
                        JobQuery(
                            connection_id=connection_id,
                            updated_at_start=updated_at_start,
                            order_by="updatedAt|ASC",
                        )
                    )
                )
        return [job for job in jobs if job.connection_id in wanted]

    # -- management (as the seeds' setup script) ------------------------------------------------
    def create_source(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteSource:
        return self.dialect.create_source(workspace_id, name, definition_id, configuration)

    def create_destination(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteDestination:
        return self.dialect.create_destination(workspace_id, name, definition_id, configuration)

    def _config_only(self, what: str) -> ConfigApi:
        # The Public API has no check / discover-catalog / definition list in the same shape.
        if self._config is None:
            raise AirbyteConfigurationError(f"{what} needs the Config API URL")
        return self._config

    def check_source(self, source_id: str) -> AirbyteCheckResult:
        return self._config_only("check_source").check_source(source_id)

    def check_destination(self, destination_id: str) -> AirbyteCheckResult:
        return self._config_only("check_destination").check_destination(destination_id)

    def discover_source_schema(self, source_id: str) -> list[AirbyteStream]:
        return self._config_only("discover_source_schema").discover_source_schema(source_id)

    def list_source_definitions(self) -> list[AirbyteConnectorDefinition]:
        return self._config_only("list_source_definitions").list_source_definitions()

    def list_destination_definitions(self) -> list[AirbyteConnectorDefinition]:
        return self._config_only("list_destination_definitions").list_destination_definitions()

    # -- UI links ----------------------------------------------------------------------------------
    @property
    def ui_url(self) -> str | None:
        return self._ui_url

    def connection_ui_url(self, workspace_id: str, connection_id: str) -> str | None:
        if not self._ui_url:
            return None
        return (
            f"{self._ui_url}/workspaces/{path_segment(workspace_id)}/connections/"
            f"{path_segment(connection_id)}/status"
        )

    def job_ui_url(
        self, workspace_id: str, connection_id: str, job_id: int, attempt: int = 0
    ) -> str | None:
        """The job's page at attempt ``attempt`` (0-based, as the UI's ``#job::attempt``)."""
        if not self._ui_url:
            return None
        return (
            f"{self._ui_url}/workspaces/{path_segment(workspace_id)}/connections/"
            f"{path_segment(connection_id)}/job-history#{int(job_id)}::{int(attempt)}"
        )


def _with_stream_stats(job: AirbyteJob, modes: Mapping[StreamKey, str]) -> AirbyteJob:
    if job.stream_stats:
        return job.model_copy(update={"stats_source": "job"})
    aggregated = aggregate_attempt_stats(job.attempts, modes)
    if not aggregated:
        return job
    return job.model_copy(update={"stream_stats": aggregated, "stats_source": "attempts"})


def _default_auth_hint(auth: httpx.Auth | None) -> str:
    if isinstance(auth, httpx.BasicAuth):
        return "`username` / `password`"
    if isinstance(auth, BearerTokenAuth):
        return "`token`"
    if isinstance(auth, ClientCredentialsAuth):
        return "`client_id` / `client_secret`"
    return "the credentials (`username`/`password`, `token` or `client_id`/`client_secret`)"
