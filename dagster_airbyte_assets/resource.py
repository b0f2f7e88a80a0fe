"""Layer 2: ``AirbyteWorkspace`` and ``AirbyteCloudWorkspace``, Dagster resources.

They hold settings only; ``get_client()`` builds one pooled ``AirbyteClient`` per resource
instance (thread-safe, built once) that every asset, sensor and check in a run shares.

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
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from dagster import ConfigurableResource, EnvVar
from pydantic import Field, PrivateAttr, SecretStr

from dagster_airbyte_assets.client import (
    AirbyteClient,
    BasicAuth,
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

__all__ = ["AirbyteCloudWorkspace", "AirbyteWorkspace", "build_auth"]

_SECRET_FIELDS = frozenset({"password", "token", "client_secret"})


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
        return BasicAuth(username_v, SecretStr(password_v)), "`username` / `password`"
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


class AirbyteWorkspace(ConfigurableResource):
    """One Airbyte workspace: where it is, how to authenticate, how patient to be.

    ``url`` is a deployment root (``http://localhost:8000``: both APIs derived, Public API
    dialect) or an API base (``.../api/v1``: Config API dialect; ``.../api/public/v1``:
    Public API dialect). ``api`` overrides the guess. Set at most one way to authenticate.
    """

    url: str = Field(
        description=(
            "Airbyte deployment root (http://localhost:8000) or an API base URL "
            "(http://localhost:8001/api/v1 for the Config API, .../api/public/v1 for the Public API)."
        )
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
        default=None, description="Basic auth password (secret; use dagster.EnvVar)."
    )
    token: str | None = Field(
        default=None, description="Static Bearer token, e.g. AIRBYTE_SECRET_ACCESS_TOKEN (secret)."
    )
    client_id: str | None = Field(
        default=None, description="Application client id for /applications/token."
    )
    client_secret: str | None = Field(
        default=None, description="Application client secret (secret; use dagster.EnvVar)."
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
        default=10.0, description="Seconds between job status polls (upper bound)."
    )
    poll_timeout: float | None = Field(
        default=None, description="Give up waiting for a job after this many seconds (None: never)."
    )
    cancel_on_termination: bool = Field(
        default=True, description="Cancel the Airbyte job when the Dagster run is terminated."
    )
    ui_url: str | None = Field(
        default=None, description="Airbyte web UI root for links (default: derived from `url`)."
    )

    _client: AirbyteClient | None = PrivateAttr(default=None)
    _workspace_id: str | None = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    def __repr_args__(self) -> Any:
        # Secrets stay out of reprs (and so out of logs and tracebacks).
        for name, value in super().__repr_args__():
            if name in _SECRET_FIELDS and value is not None:
                value = "**********"
            yield name, value

    def _build_client(self) -> AirbyteClient:
        resolved = resolve_urls(_value(self.url) or "", _value(self.api))
        config_url = _value(self.config_api_url) or resolved.config_api_url
        public_url = _value(self.public_api_url) or resolved.public_api_url
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
            retry=RetryPolicy(
                attempts=max(1, self.request_max_retries + 1), timeout=self.retry_timeout
            ),
            max_connections=max(1, self.max_concurrent_requests),
            ui_url=_value(self.ui_url) or resolved.ui_url,
        )

    def get_client(self) -> AirbyteClient:
        """The resource's one client (built on first use; the same object afterwards)."""
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def resolve_workspace_id(self) -> str:
        """``workspace_id``, or the only workspace there is; otherwise a clear error."""
        configured = _value(self.workspace_id)
        if configured:
            return configured
        if self._workspace_id is not None:
            return self._workspace_id
        workspaces = self.get_client().list_workspaces()
        if len(workspaces) != 1:
            listing = ", ".join(f"{w.name!r} ({w.workspace_id})" for w in workspaces)
            raise AirbyteConfigurationError(
                "Set `workspace_id`: Airbyte has "
                + (f"{len(workspaces)} workspaces: {listing}" if workspaces else "no workspace")
            )
        self._workspace_id = workspaces[0].workspace_id
        return self._workspace_id

    def verify(self) -> str:
        """Check URL, credentials and workspace in one go; a one-line answer or a typed error."""
        client = self.get_client()
        base = client.public_api_url if client.api == "public" else client.config_api_url
        try:
            workspace_id = self.resolve_workspace_id()
            workspace = client.get_workspace(workspace_id)
            connections = client.list_connections(workspace_id)
        except AirbyteError as exc:
            # One line: the typed error keeps its class, status, ids and Airbyte's message.
            exc.args = (" ".join(str(exc).split()),)
            raise
        return (
            f"OK: Airbyte at {redact_url(base)} ({client.api} API), workspace {workspace.name} "
            f"({workspace.workspace_id}), {len(connections)} connections"
        )


class AirbyteCloudWorkspace(AirbyteWorkspace):
    """Airbyte Cloud: the Cloud URLs preset, client credentials required."""

    url: str = Field(default=CLOUD_PUBLIC_API_URL, description="Airbyte Cloud Public API base URL.")
    config_api_url: str | None = Field(
        default=CLOUD_CONFIG_API_URL, description="Airbyte Cloud Config API base URL."
    )
    client_id: str = Field(description="Application client id (Settings > Applications).")
    client_secret: str = Field(
        description="Application client secret (secret; use dagster.EnvVar)."
    )
    ui_url: str | None = Field(default=CLOUD_UI_URL, description="Airbyte Cloud web UI.")
