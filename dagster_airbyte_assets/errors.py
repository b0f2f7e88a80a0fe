"""Every exception the package raises, in one tree (no Dagster import).

```
AirbyteError                      status_code, message (Airbyte's own), method, url, ids
├── AirbyteRequestError           the request did not get an HTTP answer
│   ├── AirbyteConnectError       server unreachable (names the URL and what to check)
│   └── AirbyteTimeoutError       no answer within request_timeout
├── AirbyteNotAirbyteError        HTML, non-JSON, or JSON that is not Airbyte's: "is this Airbyte?"
├── AirbyteHTTPError              Airbyte answered with an error status
│   ├── AirbyteAuthenticationError    401 / 403, with a hint naming the setting to fix
│   ├── AirbyteNotFoundError          404, with the id that was looked up
│   ├── AirbyteConflictError          409
│   │   ├── SyncAlreadyRunningError   409 on "start sync": carries the running job when known
│   │   └── AirbyteConnectionInactiveError   the connection is not active (Public 409
│   │                                 ``state-conflict``, Config 500): enable it in Airbyte
│   ├── AirbyteBadRequestError        400 / 422
│   └── AirbyteServerError            5xx
├── AirbyteDiscoverError          a schema discovery answered without a catalog (reason kept)
├── AirbyteJobError               a job ended badly (raised by waiters, not by HTTP calls)
│   ├── AirbyteJobFailedError         with Airbyte's failure reason
│   ├── AirbyteJobCancelledError
│   ├── AirbyteJobTimeoutError        the caller's poll timeout ran out (the job was cancelled)
│   └── AirbyteOutageError            Airbyte stayed unreachable or failing for longer than
│                                     ``outage_timeout`` while a job was waited on; the job
│                                     was left running, never cancelled
└── AirbyteConfigurationError     bad settings (no workspace, several workspaces, bad URL...)
    ├── AirbyteScheduleError          a connection schedule Dagster cannot express (Quartz
    │                                 seconds, years, L/W/#, "every 7 minutes"...)
    └── AirbyteStaleStateError        the saved workspace state no longer matches Airbyte (a
                                      connection deleted, a stream no longer synced): refresh it
```

URLs carried by errors never contain credentials (user info is stripped), and no message
includes a password, token or client secret: the callers only ever pass ids and Airbyte's
message text here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from dagster_airbyte_assets.client._models import AirbyteJob

__all__ = [
    "AirbyteAuthenticationError",
    "AirbyteBadRequestError",
    "AirbyteConfigurationError",
    "AirbyteConflictError",
    "AirbyteConnectError",
    "AirbyteConnectionInactiveError",
    "AirbyteDiscoverError",
    "AirbyteError",
    "AirbyteHTTPError",
    "AirbyteJobCancelledError",
    "AirbyteJobError",
    "AirbyteJobFailedError",
    "AirbyteJobTimeoutError",
    "AirbyteNotAirbyteError",
    "AirbyteNotFoundError",
    "AirbyteOutageError",
    "AirbyteRequestError",
    "AirbyteScheduleError",
    "AirbyteServerError",
    "AirbyteStaleStateError",
    "AirbyteTimeoutError",
    "SyncAlreadyRunningError",
    "redact_url",
]


def redact_url(url: str | None) -> str | None:
    """Drop user info (``user:password@``) so a URL can be shown in a message."""
    if url is None:
        return None
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class AirbyteError(Exception):
    """Base class: everything this package raises about Airbyte."""

    def __init__(
        self,
        summary: str,
        *,
        status_code: int | None = None,
        message: str | None = None,
        method: str | None = None,
        url: str | None = None,
        connection_id: str | None = None,
        job_id: int | None = None,
        resource_id: str | None = None,
        workspace_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.summary = summary
        self.status_code = status_code
        # Airbyte's own message (Config API ``message``, Public API ``data.message``/``detail``).
        self.message = message
        self.method = method
        self.url = redact_url(url)
        self.connection_id = connection_id
        self.job_id = job_id
        self.resource_id = resource_id
        self.workspace_id = workspace_id
        self.details = details or {}
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.summary
        if self.message and self.message not in text:
            text = f"{text}: {self.message}"
        if self.method and self.url:
            code = f" -> {self.status_code}" if self.status_code is not None else ""
            text = f"{text} ({self.method} {self.url}{code})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class AirbyteRequestError(AirbyteError):
    """The request got no HTTP answer (network level).

    ``request_sent`` is False when the request certainly never reached Airbyte (connect
    failure, no free connection): only then is replaying a non-idempotent call safe.
    """

    def __init__(self, summary: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        self.request_sent = request_sent
        super().__init__(summary, **kwargs)


class AirbyteConnectError(AirbyteRequestError):
    """Airbyte could not be reached at all."""


class AirbyteTimeoutError(AirbyteRequestError):
    """Airbyte did not answer within the request timeout."""


class AirbyteNotAirbyteError(AirbyteError):
    """The server answered, but not with Airbyte's JSON: probably the wrong URL."""


class AirbyteHTTPError(AirbyteError):
    """Airbyte answered with an error status.

    ``retry_after`` is the server's ``Retry-After`` in seconds when it sent one; ``problem``
    the Public API's problem title (``try-again-later``, ``state-conflict``...) when the body
    was an RFC 9457 problem.
    """

    def __init__(
        self,
        summary: str,
        *,
        retry_after: float | None = None,
        problem: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.retry_after = retry_after
        self.problem = problem
        super().__init__(summary, **kwargs)


class AirbyteAuthenticationError(AirbyteHTTPError):
    """401 / 403: the credentials are missing, wrong, or lack permission."""


class AirbyteNotFoundError(AirbyteHTTPError):
    """404: the id (``resource_id``) does not exist, or the URL is not an Airbyte API route."""


class AirbyteConflictError(AirbyteHTTPError):
    """409: the request conflicts with the resource's state (e.g. cancelling a finished job)."""


class SyncAlreadyRunningError(AirbyteConflictError):
    """409 on start sync: a job is already running for ``connection_id``.

    ``running_job`` is that job when it could be found, so the caller can attach to it
    instead of failing.
    """

    def __init__(
        self, summary: str, *, running_job: AirbyteJob | None = None, **kwargs: Any
    ) -> None:
        self.running_job = running_job
        if running_job is not None and kwargs.get("job_id") is None:
            kwargs["job_id"] = running_job.job_id
        super().__init__(summary, **kwargs)


class AirbyteConnectionInactiveError(AirbyteConflictError):
    """Airbyte refused to sync ``connection_id`` because the connection is not active.

    Airbyte answers a sync of an inactive (or deleted) connection with 409 ``state-conflict``
    on the Public API and 500 on the Config API; ``connection_status`` is the status Airbyte
    reported when it could be read. Enable the connection in Airbyte, or deselect its assets.
    """

    def __init__(
        self, summary: str, *, connection_status: str | None = None, **kwargs: Any
    ) -> None:
        self.connection_status = connection_status
        super().__init__(summary, **kwargs)


class AirbyteBadRequestError(AirbyteHTTPError):
    """400 / 422: Airbyte rejected the request body or parameters."""


class AirbyteServerError(AirbyteHTTPError):
    """5xx: Airbyte failed (retried where safe before this is raised)."""


class AirbyteDiscoverError(AirbyteError):
    """Airbyte could not discover a source's schema (it answered 200 without a catalog)."""


class AirbyteJobError(AirbyteError):
    """A job did not succeed."""

    def __init__(self, summary: str, *, job: AirbyteJob | None = None, **kwargs: Any) -> None:
        self.job = job
        if job is not None:
            kwargs.setdefault("job_id", job.job_id)
            kwargs.setdefault("connection_id", job.connection_id)
        super().__init__(summary, **kwargs)


class AirbyteJobFailedError(AirbyteJobError):
    """The job ended ``failed``; ``message`` is Airbyte's failure reason when it gave one."""


class AirbyteJobCancelledError(AirbyteJobError):
    """The job ended ``cancelled``."""


class AirbyteJobTimeoutError(AirbyteJobError):
    """The job was still running when the caller's timeout ran out."""


class AirbyteOutageError(AirbyteJobError):
    """Airbyte stayed unreachable or failing for longer than ``outage_timeout`` during a wait.

    The job was **not** cancelled (an outage says nothing about the job); ``last_error`` is the
    last failure seen, ``job`` the job as last seen.
    """

    def __init__(
        self, summary: str, *, last_error: AirbyteError | None = None, **kwargs: Any
    ) -> None:
        self.last_error = last_error
        super().__init__(summary, **kwargs)


class AirbyteConfigurationError(AirbyteError):
    """The settings cannot work (no workspace, several workspaces, a URL that is no API)."""


class AirbyteScheduleError(AirbyteConfigurationError):
    """A connection's Airbyte schedule has no exact Dagster cron equivalent.

    The message names the connection, the expression and the part that cannot be converted;
    give that connection a cron override instead.
    """


class AirbyteStaleStateError(AirbyteConfigurationError):
    """The saved workspace state the definitions came from no longer matches Airbyte.

    A connection was deleted, or a stream is no longer synced, since the state was saved.
    Refresh it (``dagster-airbyte-assets refresh-state -f <definitions file>``) and reload.
    """
