"""The local Airbyte: an Airbyte-API-compatible server that keeps state on disk and runs syncs.

A distribution of its own (``local-airbyte``): it imports nothing from dagster-airbyte-assets,
which reaches it only over HTTP. Use :class:`LocalAirbyte` from Python or ``local-airbyte serve``
from a shell.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from .profiles import DEFAULT_PROFILE, PROFILES

__all__ = ["DEFAULT_PROFILE", "PROFILES", "LocalAirbyte"]


class LocalAirbyte:
    """One server instance, run by uvicorn on a background thread.

    ``port=0`` picks a free port; ``url`` is the deployment root, so clients use
    ``config_api_url`` (``/api/v1``) and ``public_api_url`` (``/api/public/v1``; ``/v1`` for the
    ``cloud`` profile).

    ``airbyte_version``: which Airbyte release to behave like, one of :data:`PROFILES`
    (default :data:`DEFAULT_PROFILE`; ``"v1.8.0"``-style tags are accepted). ``log_lines``:
    lines per attempt log returned by ``jobs/get`` (real logs are long; make them so).
    ``list_seed``: seeds the unstable order of Public API list pages. ``token_expires_in`` and
    ``queue_seconds`` default to the profile's (Cloud: 180 s tokens, jobs ``queued`` 0.5 s).
    """

    def __init__(
        self,
        state_dir: str | Path,
        port: int = 0,
        host: str = "127.0.0.1",
        auth: str = "none",
        seed: str | None = None,
        test_controls: bool = False,
        scheduler: bool = False,
        token_expires_in: int | None = None,
        basic_credentials: tuple[str, str] = ("airbyte", "password"),
        client_credentials: tuple[str, str] = ("local-client", "local-secret"),
        max_attempts: int = 3,
        registry: Any | None = None,
        scheduler_interval: float = 5.0,
        retry_delay: float = 0.2,
        airbyte_version: str | None = None,
        log_lines: int = 0,
        list_seed: int = 0,
        queue_seconds: float | None = None,
    ) -> None:
        from .profiles import get_profile

        if auth not in ("none", "basic", "client-credentials"):
            raise ValueError(f"unknown auth mode {auth!r}")
        if seed not in (None, "sample"):
            raise ValueError(f"unknown seed {seed!r}")
        self.profile = get_profile(airbyte_version)
        if (
            auth == "client-credentials"
            and not self.profile.public_token
            and not self.profile.has_config_action("applications/token")
        ):
            raise ValueError(
                f"Airbyte {self.profile.release} has no application tokens:"
                " use auth='basic' or 'none'"
            )
        if log_lines < 0:
            raise ValueError("log_lines must be >= 0")
        self.airbyte_version = self.profile.name
        self.log_lines = log_lines
        self.list_seed = list_seed
        self.queue_seconds = (
            queue_seconds
            if queue_seconds is not None
            else (0.5 if self.profile.emits_queued else 0.0)
        )
        self.state_dir = Path(state_dir)
        self.host = host
        self.port = port
        self.auth = auth
        self.seed = seed
        self.test_controls = test_controls
        self.scheduler = scheduler
        self.token_expires_in = (
            token_expires_in if token_expires_in is not None else self.profile.token_expires_in
        )
        self.basic_credentials = basic_credentials
        self.client_credentials = client_credentials
        self.max_attempts = max_attempts
        self.scheduler_interval = scheduler_interval
        self.retry_delay = retry_delay
        self._registry = registry
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._store: Any = None
        self._engine: Any = None
        self.workspace_id: str = ""
        self.sample_connection_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"LocalAirbyte(url={self.url!r}, auth={self.auth!r},"
            f" airbyte_version={self.airbyte_version!r})"
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_api_url(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def public_api_url(self) -> str:
        return f"{self.url}{self.profile.public_prefix}"

    def __enter__(self) -> LocalAirbyte:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalAirbyte:
        import uvicorn

        from .app import LocalAirbyteApp, create_app
        from .auth import Authenticator, TokenIssuer, open_paths
        from .engine import JobEngine
        from .faults import Faults
        from .seed import seed_sample
        from .service import Service, Settings
        from .store import Store

        if self._registry is None:
            from .connectors import default_registry

            self._registry = default_registry()
        self._store = Store(self.state_dir)
        self._engine = JobEngine(
            self._store,
            self._registry,
            max_attempts=self.max_attempts,
            retry_delay=self.retry_delay,
            queue_seconds=self.queue_seconds,
        )
        settings = Settings(
            auth=self.auth,
            test_controls=self.test_controls,
            token_expires_in=self.token_expires_in,
            basic_credentials=self.basic_credentials,
            client_credentials=self.client_credentials,
            profile=self.profile,
            log_lines=self.log_lines,
            list_seed=self.list_seed,
        )
        tokens = TokenIssuer(
            *self.client_credentials,
            expires_in=self.token_expires_in,
            invalid_status=self.profile.invalid_client_status,
        )
        service = Service(self._store, self._engine, self._registry, settings, tokens)
        if not self._store.list("workspaces"):
            service.create_workspace("default")
        self.workspace_id = self._store.list("workspaces")[0]["workspaceId"]
        authenticator = Authenticator(
            self.auth, self.basic_credentials, tokens, open_paths(self.profile.public_prefix)
        )
        faults = Faults()
        outer = LocalAirbyteApp(
            create_app(service, authenticator, faults), authenticator, faults, self.profile
        )
        outer.test_controls = self.test_controls

        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            outer,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"local-airbyte-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local Airbyte did not start")
            time.sleep(0.01)
        self._engine.recover()
        if self.scheduler:
            self._engine.start_scheduler(self.scheduler_interval)
        if self.seed == "sample":
            self.sample_connection_id = seed_sample(self)
        return self

    def stop(self) -> None:
        """Stop serving and stop job threads; unfinished jobs are recovered at next start."""
        if self._engine is not None:
            self._engine.shutdown()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(5)
        if self._store is not None:
            self._store.close()
        self._server = self._thread = self._store = self._engine = None
