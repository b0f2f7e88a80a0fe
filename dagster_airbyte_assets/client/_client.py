"""``AirbyteClient``: one interface over both API dialects, one pooled ``httpx.Client``.

The client is thread-safe (httpx's pool is; the few caches here are idempotent writes) and
owns its pool, so create one per resource and share it across threads.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, cast

import httpx

from dagster_airbyte_assets.client._auth import BasicAuth, BearerTokenAuth, ClientCredentialsAuth
from dagster_airbyte_assets.client._config_api import (
    ConfigApi,
    schedule_to_config,
    stream_to_config,
)
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
    AirbyteWorkspaceInfo,
    ApiDialect,
)
from dagster_airbyte_assets.client._public_api import (
    PublicApi,
    schedule_to_public,
    stream_to_public,
)
from dagster_airbyte_assets.client._retry import RetryPolicy
from dagster_airbyte_assets.client._urls import resolve_urls
from dagster_airbyte_assets.errors import (
    AirbyteAuthenticationError,
    AirbyteConfigurationError,
    AirbyteConflictError,
    AirbyteError,
    AirbyteNotAirbyteError,
    AirbyteNotFoundError,
    AirbyteRequestError,
    AirbyteServerError,
    SyncAlreadyRunningError,
)

__all__ = ["AirbyteClient"]

logger = logging.getLogger("dagster_airbyte_assets.client")

T = TypeVar("T")
_ALL_JOB_TYPES = ("sync", "reset", "refresh", "clear")
# Start-time slack when looking for "the job my ambiguous request created": server clocks
# drift a little from ours.
_CLOCK_SLACK = timedelta(seconds=30)


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
        self.config_api_url = config_api_url.rstrip("/") if config_api_url else None
        self.public_api_url = public_api_url.rstrip("/") if public_api_url else None
        self.retry = retry or RetryPolicy()
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
        # Public dialect: is the Config API usable for schemas and stream stats? None = unknown.
        self._config_usable: bool | None = None
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
        base = self.public_api_url if self.api == "public" else self.config_api_url
        return f"AirbyteClient(api={self.api!r}, url={base!r})"

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

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def _dialect(self) -> ConfigApi | PublicApi:
        dialect = self._config if self.api == "config" else self._public
        assert dialect is not None
        return dialect

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        with self._warn_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(message, *args)

    def _via_config(self, call: Any, what: str) -> Any:
        """Public dialect: try the Config API for richer data; None when it is not usable."""
        if self._config is None or self._config_usable is False:
            return None
        try:
            result = call(self._config)
        except AirbyteNotFoundError as exc:
            if exc.message is None or self._config_usable is None:
                # A bare 404 on a Config route means there is no Config API here.
                self._config_usable = False
                self._warn_once(
                    "config-missing",
                    "Airbyte's Config API is not reachable at %s (%s); using the Public API only: "
                    "%s",
                    self.config_api_url,
                    exc.summary,
                    what,
                )
            return None
        except (
            AirbyteRequestError,
            AirbyteNotAirbyteError,
            AirbyteAuthenticationError,
            KeyError,
            TypeError,
            ValueError,
        ) as exc:
            # Parse failures too: whatever answers there does not speak the Config API.
            self._config_usable = False
            self._warn_once(
                "config-missing",
                "Airbyte's Config API is not usable at %s (%s); using the Public API only: %s",
                self.config_api_url,
                type(exc).__name__,
                what,
            )
            return None
        self._config_usable = True
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
        if self.api == "config":
            assert self._config is not None
            try:
                return self._config.list_workspaces()
            except AirbyteNotFoundError:
                # workspaces/list is gone from Airbyte >= 1.7; the Public API has it.
                if self._public is None:
                    raise
                return self._public.list_workspaces()
        assert self._public is not None
        return self._public.list_workspaces()

    def get_workspace(self, workspace_id: str) -> AirbyteWorkspaceInfo:
        return self._dialect.get_workspace(workspace_id)

    # -- sources / destinations -------------------------------------------------------------------
    def list_sources(self, workspace_id: str) -> list[AirbyteSource]:
        return self._dialect.list_sources(workspace_id)

    def get_source(self, source_id: str) -> AirbyteSource:
        return self._dialect.get_source(source_id)

    def list_destinations(self, workspace_id: str) -> list[AirbyteDestination]:
        return self._dialect.list_destinations(workspace_id)

    def get_destination(self, destination_id: str) -> AirbyteDestination:
        return self._dialect.get_destination(destination_id)

    # -- connections ------------------------------------------------------------------------------
    def list_connections(
        self, workspace_id: str, *, with_schemas: bool = False
    ) -> list[AirbyteConnection]:
        """Every connection of the workspace (all pages).

        Config dialect: with catalogs and JSON schemas. Public dialect: streams come from
        ``configurations`` (selected streams only, ``has_json_schemas=False``); call
        ``get_connection`` for schemas. With ``with_schemas=True`` the public dialect first asks
        the Config API's ``connections/list``, which returns every catalog in one call, so
        loading a large workspace costs a handful of calls instead of one per connection.
        """
        if with_schemas and self.api == "public":
            rich = self._via_config(
                lambda c: c.list_connections(workspace_id), "stream column schemas will be missing"
            )
            if rich is not None:
                return cast(list[AirbyteConnection], rich)
        return self._dialect.list_connections(workspace_id)

    def get_connection(self, connection_id: str) -> AirbyteConnection:
        """One connection with its catalog and, where Airbyte allows, stream JSON schemas."""
        if self.api == "config":
            assert self._config is not None
            return self._config.get_connection(connection_id)
        rich = self._via_config(
            lambda c: c.get_connection(connection_id), "stream column schemas will be missing"
        )
        if rich is not None:
            return cast(AirbyteConnection, rich)
        assert self._public is not None
        connection = self._public.get_connection(connection_id)
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
        if self.api == "config":
            assert self._config is not None
            body: dict[str, Any] = {
                "sourceId": source_id,
                "destinationId": destination_id,
                "status": status,
                "namespaceDefinition": namespace_definition,
                "prefix": prefix,
                "syncCatalog": {"streams": [stream_to_config(s) for s in streams]},
                **schedule_to_config(schedule),
            }
            if name:
                body["name"] = name
            if namespace_format is not None:
                body["namespaceFormat"] = namespace_format
            return self._config.create_connection(body)
        assert self._public is not None
        public_body: dict[str, Any] = {
            "sourceId": source_id,
            "destinationId": destination_id,
            "status": status,
            "namespaceDefinition": (
                "custom_format" if namespace_definition == "customformat" else namespace_definition
            ),
            "prefix": prefix,
            "configurations": {"streams": [stream_to_public(s) for s in streams if s.selected]},
            "schedule": schedule_to_public(schedule),
        }
        if name:
            public_body["name"] = name
        if namespace_format is not None:
            public_body["namespaceFormat"] = namespace_format
        return self._public.create_connection(public_body)

    def update_connection(
        self,
        connection_id: str,
        *,
        schedule: AirbyteSchedule | None = None,
        status: str | None = None,
    ) -> AirbyteConnection:
        """Change a connection's schedule and/or status (``active`` / ``inactive``)."""
        use_config = self.api == "config" or (
            # The Public API cannot set a basic schedule; the Config API can.
            schedule is not None and schedule.schedule_type == "basic"
        )
        if use_config:
            if self._config is None:
                raise AirbyteConfigurationError("a basic schedule needs the Config API URL")
            return self._config.update_connection(connection_id, schedule=schedule, status=status)
        assert self._public is not None
        return self._public.update_connection(connection_id, schedule=schedule, status=status)

    # -- jobs ------------------------------------------------------------------------------------
    def start_sync(self, connection_id: str, job_type: str = "sync") -> AirbyteJob:
        """Start a job (``sync``, ``reset``, ``refresh``, ``clear``) without blind replays.

        A 409 raises ``SyncAlreadyRunningError`` carrying the running job when it can be
        found. An ambiguous failure (dropped connection, timeout, 5xx after sending) is
        resolved by looking for the job the request may have started; only when there is
        none is the request sent again, within the retry budget.
        """
        if job_type not in _ALL_JOB_TYPES:
            raise AirbyteConfigurationError(f"job_type must be one of {_ALL_JOB_TYPES}")
        started = time.monotonic()
        since = datetime.now(UTC) - _CLOCK_SLACK
        attempt = 0
        while True:
            attempt += 1
            try:
                job = self._dialect.start_job(connection_id, job_type)
                return self._check_status(job)
            except AirbyteConflictError as exc:
                running = self._quiet_find_running_job(connection_id)
                raise SyncAlreadyRunningError(
                    f"A job is already running for connection {connection_id}"
                    + (f" (job {running.job_id})" if running else ""),
                    running_job=running,
                    connection_id=connection_id,
                    status_code=exc.status_code,
                    message=exc.message,
                    method=exc.method,
                    url=exc.url,
                ) from None
            except (AirbyteRequestError, AirbyteServerError) as exc:
                if isinstance(exc, AirbyteServerError) and exc.status_code == 501:
                    raise
                found = self._find_job_started_since(connection_id, since)
                if found is not None:
                    logger.warning(
                        "Starting a %s for connection %s failed ambiguously (%s); "
                        "attaching to job %s instead of sending it again",
                        job_type,
                        connection_id,
                        type(exc).__name__,
                        found.job_id,
                    )
                    return found
                elapsed = time.monotonic() - started
                if attempt >= self.retry.attempts or elapsed >= self.retry.timeout:
                    raise
                wait = min(self.retry.wait_max, self.retry.wait_initial * (2 ** (attempt - 1)))
                time.sleep(wait)

    def _quiet_find_running_job(self, connection_id: str) -> AirbyteJob | None:
        try:
            return self.find_running_job(connection_id)
        except AirbyteError as exc:
            logger.warning("Could not look up the running job of %s: %s", connection_id, exc)
            return None

    def _find_job_started_since(self, connection_id: str, since: datetime) -> AirbyteJob | None:
        try:
            running = self.find_running_job(connection_id)
            if running is not None:
                return running
            recent = self.list_jobs(
                connection_id=connection_id,
                job_type=None,
                created_at_start=since,
                order_by="createdAt|DESC",
                limit=5,
            )
        except AirbyteError as exc:
            logger.warning("Could not look up jobs of %s: %s", connection_id, exc)
            return None
        return recent[0] if recent else None

    def get_job(self, job_id: int) -> AirbyteJob:
        """A job with attempts and per-stream stats where the dialect gives them."""
        if self.api == "config":
            assert self._config is not None
            return self._check_status(self._config.get_job(job_id))
        rich = self._via_config(lambda c: c.get_job(job_id), "jobs will have no per-stream stats")
        if rich is not None:
            return self._check_status(cast(AirbyteJob, rich))
        assert self._public is not None
        return self._check_status(self._public.get_job(job_id))

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
        """Jobs matching the filters (all pages up to ``limit``); ``job_type=None``: any type."""
        if self.api == "config":
            assert self._config is not None
            return self._config.list_jobs(
                connection_id=connection_id,
                job_type=job_type,
                status=status,
                created_at_start=created_at_start,
                updated_at_start=updated_at_start,
                order_by=order_by,
                limit=limit,
            )
        assert self._public is not None
        return self._public.list_jobs(
            workspace_id=workspace_id,
            connection_id=connection_id,
            job_type=job_type,
            status=status,
            created_at_start=created_at_start,
            updated_at_start=updated_at_start,
            order_by=order_by,
            limit=limit,
        )

    def find_running_job(self, connection_id: str) -> AirbyteJob | None:
        """The connection's newest job that has not finished (any job type), if any."""
        recent = self.list_jobs(
            connection_id=connection_id, job_type=None, order_by="createdAt|DESC", limit=10
        )
        for job in recent:
            if not job.is_terminal:
                return job
        return None

    def cancel_job(self, job_id: int) -> AirbyteJob:
        return self._dialect.cancel_job(job_id)

    # -- management (as the seeds' setup script) ------------------------------------------------
    def create_source(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteSource:
        return self._dialect.create_source(workspace_id, name, definition_id, configuration)

    def create_destination(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteDestination:
        return self._dialect.create_destination(workspace_id, name, definition_id, configuration)

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
        return f"{self._ui_url}/workspaces/{workspace_id}/connections/{connection_id}/status"

    def job_ui_url(self, workspace_id: str, connection_id: str, job_id: int) -> str | None:
        if not self._ui_url:
            return None
        return (
            f"{self._ui_url}/workspaces/{workspace_id}/connections/{connection_id}"
            f"/job-history#{job_id}::0"
        )


def _default_auth_hint(auth: httpx.Auth | None) -> str:
    if isinstance(auth, BasicAuth):
        return "`username` / `password`"
    if isinstance(auth, BearerTokenAuth):
        return "`token`"
    if isinstance(auth, ClientCredentialsAuth):
        return "`client_id` / `client_secret`"
    return "the credentials (`username`/`password`, `token` or `client_id`/`client_secret`)"
