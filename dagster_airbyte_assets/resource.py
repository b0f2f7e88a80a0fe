"""Layer 2: ``AirbyteWorkspace`` and ``AirbyteCloudWorkspace``, Dagster resources.

They hold settings only; ``get_client()`` builds one pooled ``AirbyteClient`` per resource
instance (Dagster's ``cached_method``) that every asset, sensor and check in a run shares.

Every setting is checked when the resource is built, and again with the values an
``EnvVar`` resolves to when a run starts: a typed ``AirbyteConfigurationError`` names the
setting to fix before any request is sent, let alone a job started.

Old OSS, Config API only (every call a POST)::

    AirbyteWorkspace(url="http://localhost:8001/api/v1", username="airbyte",
                     password=EnvVar("AIRBYTE_PASSWORD"))

Current OSS / Enterprise, Public API with client credentials::

    AirbyteWorkspace(url="http://localhost:8000", workspace_id="...",
                     client_id=EnvVar("AIRBYTE_CLIENT_ID"),
                     client_secret=EnvVar("AIRBYTE_CLIENT_SECRET"))

Airbyte Cloud::

    AirbyteCloudWorkspace(workspace_id="...", client_id=EnvVar("AIRBYTE_CLIENT_ID"),
                          client_secret=EnvVar("AIRBYTE_CLIENT_SECRET"))

**Secrets.** Dagster shows a resource's configured values in its UI: an ``EnvVar`` by the
variable's name only. ``password``, ``token`` and ``client_secret`` are marked secret, so the
resource page masks a plain string; but Dagster still keeps a plain string as the default of
the job's config schema (the code location's snapshot, which the UI reads), so a secret given
as a plain string is logged as a warning when the definitions load.
Credentials in the URL (``http://user:pw@host``) are refused: the URL is shown in the UI,
stored in the saved state and written in links, so it must carry none.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dagster as dg
import httpx
from dagster import AssetExecutionContext, ConfigurableResource, EnvVar
from dagster_shared.utils.cached_method import cached_method
from pydantic import Field, SecretStr, model_validator

from dagster_airbyte_assets._sync import (
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_OUTAGE_TIMEOUT,
    sync_and_materialize,
)
from dagster_airbyte_assets.client import (
    AirbyteClient,
    BearerTokenAuth,
    ClientCredentialsAuth,
    RetryPolicy,
    resolve_urls,
)
from dagster_airbyte_assets.client._urls import (
    CLOUD_CONFIG_API_URL,
    CLOUD_PUBLIC_API_URL,
    CLOUD_UI_URL,
)
from dagster_airbyte_assets.errors import AirbyteConfigurationError, AirbyteError, redact_url

if TYPE_CHECKING:
    from dagster_airbyte_assets.client import AirbyteConnection
    from dagster_airbyte_assets.translator import DagsterAirbyteTranslator

__all__ = ["AirbyteCloudWorkspace", "AirbyteWorkspace", "build_auth", "check_settings"]

logger = logging.getLogger("dagster_airbyte_assets")

_SECRET_FIELDS = ("password", "token", "client_secret")
# Dagster masks a field marked so on the resource page (GraphQL ``configuredValues``: SECRET).
_SECRET_FIELD: dict[str, Any] = {"dagster__is_secret": True}
_URL_FIELDS = (
    "url",
    "rest_api_base_url",
    "configuration_api_base_url",
    "config_api_url",
    "public_api_url",
    "ui_url",
)
# dagster-airbyte's names for our URL settings (its users' resources work unchanged).
_URL_ALIASES = (
    ("public_api_url", "rest_api_base_url"),
    ("config_api_url", "configuration_api_base_url"),
)
_SECRET_ENV_HINT = {
    "password": "AIRBYTE_PASSWORD",
    "token": "AIRBYTE_TOKEN",
    "client_secret": "AIRBYTE_CLIENT_SECRET",
}
# (resource class, field) -> names of the EnvVars seen for it in this process, so that the
# values they resolve to at run time are not mistaken for plain-string secrets.
_ENV_SOURCED: dict[tuple[str, str], set[str]] = {}
_WARNED: set[tuple[str, str]] = set()
_WARN_LOCK = threading.Lock()
_CLIENT_LOCK = threading.Lock()


def _value(value: Any) -> str | None:
    """A setting's value; an ``EnvVar`` used outside Dagster's config system is read here."""
    if value is None:
        return None
    if isinstance(value, EnvVar):
        return value.get_value()
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    text = str(value)
    return text if text != "" else None


def _check_url(name: str, value: str) -> None:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AirbyteConfigurationError(
            f"`{name}` must be an http(s) URL such as http://localhost:8000, "
            f"not {redact_url(value)!r}"
        )
    if "@" in parts.netloc:
        raise AirbyteConfigurationError(
            f"`{name}` must not contain credentials (user:password@): set `username` and "
            "`password` (with dagster.EnvVar) instead. A URL is shown in the Dagster UI, saved "
            f"in the workspace state and written in job links. Got {redact_url(value)!r}."
        )
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise AirbyteConfigurationError(
            f"`{name}` has an invalid port: {redact_url(value)!r}"
        ) from None


def _number(name: str, value: Any, *, integer: bool = False, minimum: int | None = None) -> None:
    """Seconds must be finite and above 0; counts whole and at least ``minimum``."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value))
    if integer:
        ok = ok and float(value).is_integer()
    ok = ok and (float(value) > 0 if minimum is None else float(value) >= minimum)
    if not ok:
        what = "a whole number" if integer else "a number of seconds"
        bound = "above 0" if minimum is None else f"of at least {minimum}"
        raise AirbyteConfigurationError(f"`{name}` must be {what} {bound}, not {value!r}")


def _check_aliases(data: Mapping[str, Any]) -> None:
    """dagster-airbyte's URL settings stand in for ours, never against them.

    They are kept as given and read where the URLs are used (``airbyte_url``, ``_build_client``):
    copying them into our fields here would not survive Dagster rebuilding the resource from its
    config at run time, where an ``EnvVar`` is resolved only for the fields that were set.
    """
    for ours, theirs in _URL_ALIASES:
        mine, alias = data.get(ours), data.get(theirs)
        if mine is not None and alias is not None and mine != alias:
            raise AirbyteConfigurationError(
                f"Set `{ours}` or `{theirs}` (dagster-airbyte's name for it), not both"
            )


def check_settings(values: Mapping[str, Any]) -> None:
    """Refuse settings that cannot work, naming the setting (``EnvVar`` values are skipped).

    Called when a resource is built and again with resolved values when it is used.
    """
    present = {k: v for k, v in values.items() if v is not None and not isinstance(v, EnvVar)}
    for name in _URL_FIELDS:
        if name in present:
            if not isinstance(present[name], str):
                raise AirbyteConfigurationError(f"`{name}` must be a string URL")
            if present[name].strip() or name == "url":
                _check_url(name, present[name])
    api = present.get("api")
    if api is not None and str(api).strip().lower() not in ("", "config", "public"):
        raise AirbyteConfigurationError(f"`api` must be 'config' or 'public', not {api!r}")
    workspace_id = present.get("workspace_id")
    if workspace_id is not None and str(workspace_id).strip():
        try:
            uuid.UUID(str(workspace_id))
        except ValueError:
            raise AirbyteConfigurationError(
                f"`workspace_id` must be an Airbyte workspace id (a UUID), not {workspace_id!r}"
            ) from None
    for name in ("username", "password", "token", "client_id", "client_secret"):
        value = present.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise AirbyteConfigurationError(f"`{name}` must be a string")
        if re.search(r"[\x00-\x1f\x7f]", value):
            raise AirbyteConfigurationError(
                f"`{name}` contains a control character (a stray newline?)"
            )
    if ":" in str(present.get("username") or ""):
        raise AirbyteConfigurationError("`username` must not contain ':' (HTTP basic auth)")
    for name in (
        "request_timeout",
        "retry_timeout",
        "poll_interval",
        "outage_timeout",
        "heartbeat_interval",
    ):
        if name in present:
            _number(name, present[name])
    if "poll_timeout" in present:
        _number("poll_timeout", present["poll_timeout"])
    if "request_retry_delay" in present:
        _number("request_retry_delay", present["request_retry_delay"], minimum=0)
    if "max_items_per_page" in present:
        _number("max_items_per_page", present["max_items_per_page"], integer=True, minimum=1)
    if "request_max_retries" in present:
        _number("request_max_retries", present["request_max_retries"], integer=True, minimum=0)
    if "max_concurrent_requests" in present:
        _number(
            "max_concurrent_requests", present["max_concurrent_requests"], integer=True, minimum=1
        )
    for flag in ("cancel_on_termination", "poll_previous_running_sync"):
        if flag in present and not isinstance(present[flag], bool):
            raise AirbyteConfigurationError(f"`{flag}` must be True or False")
    for first, second in (("username", "password"), ("client_id", "client_secret")):
        given = [f for f in (first, second) if values.get(f) not in (None, "")]
        if len(given) == 1:
            missing = second if given[0] == first else first
            raise AirbyteConfigurationError(f"`{given[0]}` is set but `{missing}` is not")
    modes = [
        mode
        for mode, fields in (
            ("username/password", ("username", "password")),
            ("token", ("token",)),
            ("client_id/client_secret", ("client_id", "client_secret")),
        )
        if any(values.get(f) not in (None, "") for f in fields)
    ]
    if len(modes) > 1:
        raise AirbyteConfigurationError(
            f"Set one way to authenticate, not several: {', '.join(modes)}"
        )


def _warn_plain_secrets(owner: str, values: Mapping[str, Any]) -> None:
    """A secret given as a plain string is shown in the Dagster UI: say so, once."""
    for name in _SECRET_FIELDS:
        value = values.get(name)
        key = (owner, name)
        if isinstance(value, EnvVar):
            with _WARN_LOCK:
                _ENV_SOURCED.setdefault(key, set()).add(value.env_var_name)
            continue
        if not isinstance(value, str) or not value:
            continue
        with _WARN_LOCK:
            sources = _ENV_SOURCED.get(key, set())
            if any(os.environ.get(env) == value for env in sources) or key in _WARNED:
                continue  # an EnvVar resolved for a run, or said already
            _WARNED.add(key)
        logger.warning(
            "%s.%s is a plain string: Dagster keeps it in the code location's snapshot, which "
            "its UI reads (the resource page masks it; the job's config defaults do not). Pass "
            "dg.EnvVar(%r) instead: only the variable's name is then stored and shown.",
            owner,
            name,
            _SECRET_ENV_HINT[name],
        )


def build_auth(
    *,
    public_api_url: str | None,
    username: Any = None,
    password: Any = None,
    token: Any = None,
    client_id: Any = None,
    client_secret: Any = None,
) -> tuple[httpx.Auth | None, str]:
    """The httpx auth for the configured mode, and the hint naming the settings to fix."""
    username_v, password_v = _value(username), _value(password)
    token_v = _value(token)
    client_id_v, client_secret_v = _value(client_id), _value(client_secret)
    modes = [
        name
        for name, present in (
            ("username/password", username_v or password_v),
            ("token", token_v),
            ("client_id/client_secret", client_id_v or client_secret_v),
        )
        if present
    ]
    if len(modes) > 1:
        raise AirbyteConfigurationError(
            f"Set one way to authenticate, not several: {', '.join(modes)}"
        )
    if username_v or password_v:
        if not (username_v and password_v):
            raise AirbyteConfigurationError("Basic auth needs both `username` and `password`")
        return httpx.BasicAuth(username_v, password_v), "`username` / `password`"
    if token_v:
        return BearerTokenAuth(SecretStr(token_v)), "`token`"
    if client_id_v or client_secret_v:
        if not (client_id_v and client_secret_v):
            raise AirbyteConfigurationError(
                "Client credentials need both `client_id` and `client_secret`"
            )
        if not public_api_url:
            raise AirbyteConfigurationError("Client credentials need the Public API URL")
        auth = ClientCredentialsAuth(
            f"{public_api_url.rstrip('/')}/applications/token",
            client_id_v,
            SecretStr(client_secret_v),
        )
        return auth, "`client_id` / `client_secret`"
    return None, "the credentials (`username`/`password`, `token` or `client_id`/`client_secret`)"


class AirbyteWorkspace(ConfigurableResource["AirbyteWorkspace"]):
    """One Airbyte workspace: where it is, how to authenticate, how patient to be.

    ``url`` is a deployment root (``http://localhost:8000``: both APIs derived, Public API
    dialect) or an API base (``.../api/v1``: Config API dialect; ``.../api/public/v1``:
    Public API dialect). ``api`` overrides the guess. Set at most one way to authenticate.
    """

    # Optional so that dagster-airbyte's `rest_api_base_url` can stand in for it (the
    # validator requires one of them; `airbyte_url` reads whichever is set).
    url: str | None = Field(
        default=None,
        description=(
            "Airbyte deployment root (http://localhost:8000) or an API base URL "
            "(http://localhost:8001/api/v1 for the Config API, .../api/public/v1 for the Public "
            "API). Required unless dagster-airbyte's `rest_api_base_url` is set."
        ),
    )
    api: str | None = Field(
        default=None,
        description="'config' or 'public' to override the dialect guessed from the URL.",
    )
    config_api_url: str | None = Field(
        default=None, description="Config API base URL, when it is not derivable from `url`."
    )
    public_api_url: str | None = Field(
        default=None, description="Public API base URL, when it is not derivable from `url`."
    )
    workspace_id: str | None = Field(
        default=None,
        description="Workspace id. Optional when the deployment has exactly one workspace.",
    )
    username: str | None = Field(default=None, description="Basic auth user (old OSS).")
    password: str | None = Field(
        default=None,
        description="Basic auth password (secret; use dagster.EnvVar).",
        json_schema_extra=_SECRET_FIELD,
    )
    token: str | None = Field(
        default=None,
        description="Static Bearer token, e.g. AIRBYTE_SECRET_ACCESS_TOKEN (secret).",
        json_schema_extra=_SECRET_FIELD,
    )
    client_id: str | None = Field(
        default=None, description="Application client id for /applications/token."
    )
    client_secret: str | None = Field(
        default=None,
        description="Application client secret (secret; use dagster.EnvVar).",
        json_schema_extra=_SECRET_FIELD,
    )
    request_timeout: float = Field(default=30.0, description="Seconds to wait for one HTTP answer.")
    request_max_retries: int = Field(
        default=5,
        description="Retries of one call after a retryable failure (connect error, 408, 429, 5xx).",
    )
    retry_timeout: float = Field(
        default=120.0, description="Overall seconds one call may spend retrying."
    )
    max_concurrent_requests: int = Field(
        default=10, description="Size of the shared HTTP connection pool."
    )
    poll_interval: float = Field(
        default=10.0,
        description=(
            "The polling budget, in seconds: waiting on a job never makes more calls than "
            "polling it every poll_interval would (the k-th call not before k - 1 intervals)."
        ),
    )
    poll_timeout: float | None = Field(
        default=None,
        description=(
            "Give up waiting for a job after this many seconds and cancel it (None: never)."
        ),
    )
    outage_timeout: float = Field(
        default=DEFAULT_OUTAGE_TIMEOUT,
        description=(
            "Seconds a wait rides out an unreachable or failing Airbyte before the step fails; "
            "the job is never cancelled for an outage."
        ),
    )
    fetch_row_counts: bool = Field(
        default=True,
        description=(
            "After a sync, count each stream table's rows in the destination where this "
            "process can read it (a DuckDB file on this machine) for dagster/row_count; "
            "False: only full-refresh overwrite streams get a row count (their rows synced)."
        ),
    )
    heartbeat_interval: float = Field(
        default=DEFAULT_HEARTBEAT_INTERVAL,
        description=(
            "Seconds between two 'still running' log lines (time, records and bytes so far) "
            "while a sync runs."
        ),
    )
    cancel_on_termination: bool = Field(
        default=True,
        description=(
            "Cancel the Airbyte job when the Dagster run is terminated or poll_timeout runs out."
        ),
    )
    ui_url: str | None = Field(
        default=None, description="Airbyte web UI root for links (default: derived from `url`)."
    )
    # dagster-airbyte's settings, accepted so that its users' resources work unchanged.
    rest_api_base_url: str | None = Field(
        default=None,
        description=(
            "dagster-airbyte's name for `public_api_url` (.../api/public/v1); also `url` when "
            "`url` is not set."
        ),
    )
    configuration_api_base_url: str | None = Field(
        default=None,
        description=(
            "dagster-airbyte's name for `config_api_url` (.../api/v1); also `url` when neither "
            "`url` nor `rest_api_base_url` is set."
        ),
    )
    request_retry_delay: float | None = Field(
        default=None,
        description="dagster-airbyte's setting: seconds before the first retry (backoff grows).",
    )
    max_items_per_page: int | None = Field(
        default=None,
        description="dagster-airbyte's setting, accepted; pages are the API's largest size.",
    )
    poll_previous_running_sync: bool | None = Field(
        default=None,
        description=(
            "dagster-airbyte's setting, accepted; a sync already running is always waited on "
            "(Airbyte refuses a second one), never started again."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _check_settings(cls, data: Any) -> Any:
        # "before": an EnvVar is still an EnvVar here (and skipped); when a run starts, the
        # resource is built again from the resolved values, and those are checked then.
        if isinstance(data, Mapping):
            _check_aliases(data)
            urls = ("url", "rest_api_base_url", "configuration_api_base_url")
            if all(data.get(n) is None for n in urls) and cls.model_fields["url"].default is None:
                raise AirbyteConfigurationError(
                    "Set `url`: the Airbyte deployment root (http://localhost:8000) or an API "
                    "base URL (or dagster-airbyte's `rest_api_base_url`)"
                )
            check_settings(data)
            _warn_plain_secrets(cls.__name__, data)
        return data

    def __repr_args__(self) -> Any:
        # Secrets stay out of reprs (and so out of logs and tracebacks).
        for name, value in super().__repr_args__():
            if name in _SECRET_FIELDS and value is not None:
                value = "**********"
            yield name, value

    def _resolved(self) -> dict[str, Any]:
        names = type(self).model_fields
        return {name: _value_or_raw(getattr(self, name)) for name in names}

    def _build_client(self) -> AirbyteClient:
        check_settings(self._resolved())
        resolved = resolve_urls(_value(self.airbyte_url) or "", _value(self.api))
        config_url = (
            _value(self.config_api_url)
            or _value(self.configuration_api_base_url)
            or resolved.config_api_url
        )
        public_url = (
            _value(self.public_api_url) or _value(self.rest_api_base_url) or resolved.public_api_url
        )
        auth, hint = build_auth(
            public_api_url=public_url,
            username=self.username,
            password=self.password,
            token=self.token,
            client_id=self.client_id,
            client_secret=self.client_secret,
        )
        return AirbyteClient(
            api=resolved.dialect,
            config_api_url=config_url,
            public_api_url=public_url,
            auth=auth,
            auth_hint=hint,
            request_timeout=self.request_timeout,
            retry=self._retry_policy(),
            max_connections=max(1, self.max_concurrent_requests),
            ui_url=_value(self.ui_url) or resolved.ui_url,
        )

    @property
    def airbyte_url(self) -> str:
        """``url``, else dagster-airbyte's Public API base, else its Config API base.

        As configured: an ``EnvVar`` stays one (its name), as ``url`` itself would.
        """
        return self.url or self.rest_api_base_url or self.configuration_api_base_url or ""

    def sync_and_poll(self, context: AssetExecutionContext) -> Iterator[dg.MaterializeResult[Any]]:
        """Sync the connection behind ``context``'s assets, wait, yield one result per stream.

        dagster-airbyte's body for an ``@airbyte_assets`` function
        (``yield from airbyte.sync_and_poll(context=context)``): the sync starts exactly once
        (or attaches to the one running) and every stream gets its row count.
        """
        yield from sync_and_materialize(context, self)

    def load_asset_specs(
        self,
        dagster_airbyte_translator: DagsterAirbyteTranslator | None = None,
        connection_selector_fn: Callable[[AirbyteConnection], bool] | None = None,
        **kwargs: Any,
    ) -> list[dg.AssetSpec]:
        """dagster-airbyte's spelling of ``load_airbyte_asset_specs(workspace, ...)``."""
        from dagster_airbyte_assets.assets import load_airbyte_asset_specs  # assets imports us

        return load_airbyte_asset_specs(
            self,
            dagster_airbyte_translator=dagster_airbyte_translator,
            connection_selector_fn=connection_selector_fn,
            **kwargs,
        )

    def get_client(self) -> AirbyteClient:
        """The resource's one client (built on first use; the same object afterwards)."""
        # cached_method is not thread-safe on its own: threads of one step (one_step, the
        # loader) could each build a client and pool. Building is cheap and makes no call.
        with _CLIENT_LOCK:
            return self._cached_client()

    def _retry_policy(self) -> RetryPolicy:
        policy = RetryPolicy(
            attempts=max(1, self.request_max_retries + 1), timeout=self.retry_timeout
        )
        if self.request_retry_delay is not None:
            policy = dataclasses.replace(policy, wait_initial=self.request_retry_delay)
        return policy

    @cached_method
    def _cached_client(self) -> AirbyteClient:
        return self._build_client()

    @cached_method
    def _only_workspace_id(self) -> str:
        workspaces = self.get_client().list_workspaces()
        if len(workspaces) != 1:
            listing = ", ".join(f"{w.name!r} ({w.workspace_id})" for w in workspaces)
            raise AirbyteConfigurationError(
                "Set `workspace_id`: Airbyte has "
                + (f"{len(workspaces)} workspaces: {listing}" if workspaces else "no workspace")
            )
        return workspaces[0].workspace_id

    def resolve_workspace_id(self) -> str:
        """``workspace_id``, or the only workspace there is; otherwise a clear error."""
        configured = _value(self.workspace_id)
        if configured:
            return configured
        return self._only_workspace_id()

    def verify(self) -> str:
        """Check URL, credentials and workspace in one go; a one-line answer or a typed error."""
        client = self.get_client()
        try:
            workspace_id = self.resolve_workspace_id()
            workspace = client.get_workspace(workspace_id)
            connections = client.list_connections(workspace_id)
        except AirbyteError as exc:
            # One line: the typed error keeps its class, status, ids and Airbyte's message.
            exc.args = (" ".join(str(exc).split()),)
            raise
        return (
            f"OK: Airbyte at {redact_url(client.describe())}, workspace {workspace.name} "
            f"({workspace.workspace_id}), {len(connections)} connections"
        )


def _value_or_raw(value: Any) -> Any:
    """Resolved value of an ``EnvVar`` (``None`` when unset), anything else as it is."""
    if isinstance(value, EnvVar):
        return value.get_value()
    return value


class AirbyteCloudWorkspace(AirbyteWorkspace):
    """Airbyte Cloud: the Cloud URLs preset, client credentials required."""

    url: str = Field(default=CLOUD_PUBLIC_API_URL, description="Airbyte Cloud Public API base URL.")
    config_api_url: str | None = Field(
        default=CLOUD_CONFIG_API_URL, description="Airbyte Cloud Config API base URL."
    )
    client_id: str = Field(description="Application client id (Settings > Applications).")
    client_secret: str = Field(
        description="Application client secret (secret; use dagster.EnvVar).",
        json_schema_extra=_SECRET_FIELD,
    )
    ui_url: str | None = Field(default=CLOUD_UI_URL, description="Airbyte Cloud web UI.")
