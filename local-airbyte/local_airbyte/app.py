"""The ASGI application: both dialects on one port, auth, faults, error shapes.

The outer :class:`LocalAirbyteApp` wraps FastAPI so that path normalisation, auth, request
counting and injected faults see every request first, including the ability to drop a
connection with no response (which needs uvicorn's raw ``send``, not one wrapped by
Starlette's middleware).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from . import config_api, public_api, ui_pages
from . import faults as faults_module
from .api_errors import ApiError, InvalidJson, RouteMiss, Unauthorized
from .auth import Authenticator
from .faults import Faults
from .profiles import Profile
from .service import Service

__all__ = ["LocalAirbyteApp", "create_app", "error_response"]

log = logging.getLogger(__name__)

CONFIG_PREFIX = "/api/v1"


def error_response(profile: Profile, path: str, err: ApiError) -> JSONResponse:
    """``err`` as the API of ``path`` answers it in this profile."""
    headers = {}
    if isinstance(err, Unauthorized):
        headers["WWW-Authenticate"] = 'Basic realm="airbyte", Bearer'
    if path.startswith(profile.public_prefix + "/") or path == profile.public_prefix:
        status, body = err.public_response(profile, path)
    else:
        status, body = err.config_response(profile, path)
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(service: Service, authenticator: Authenticator, faults: Faults) -> FastAPI:
    profile = service.settings.profile
    app = FastAPI(title="Local Airbyte", docs_url=None, redoc_url=None, openapi_url=None)
    # Micronaut matches "/x/" like "/x" (REAL-BEHAVIOUR §20); LocalAirbyteApp strips the slash,
    # so Starlette must not answer 307 redirects of its own.
    app.router.redirect_slashes = False
    if profile.config_api:
        app.include_router(config_api.build_router(service))
    if profile.public_api:
        app.include_router(public_api.build_router(service))
    if service.settings.test_controls:
        app.include_router(faults_module.build_router(service, faults, authenticator.tokens))
    app.include_router(ui_pages.build_router(service, authenticator))  # pages at the UI's paths

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(profile, request.url.path, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Only FastAPI's own body parsing gets here (test controls): invalid JSON.
        return error_response(profile, request.url.path, InvalidJson(str(exc.errors()[:1])))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            allowed = tuple((exc.headers or {}).get("Allow", "").replace(" ", "").split(","))
            err = RouteMiss(request.method, tuple(a for a in allowed if a))
        else:
            err = RouteMiss()
        return error_response(profile, request.url.path, err)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error_response(
            profile, request.url.path, ApiError(f"Unexpected error: {type(exc).__name__}")
        )

    return app


class LocalAirbyteApp:
    """Outermost ASGI layer: normalises paths, counts and faults API requests, checks auth."""

    def __init__(
        self,
        app: FastAPI,
        authenticator: Authenticator,
        faults: Faults,
        profile: Profile,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.faults = faults
        self.profile = profile
        self.test_controls = False

    def _is_api(self, path: str) -> bool:
        prefix = self.profile.public_prefix
        return path.startswith("/api/") or path == prefix or path.startswith(prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._is_api(scope["path"]):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            # Micronaut resolves "/api/v1/health/" to the "/api/v1/health" route.
            path = path.rstrip("/") or "/"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        if self.test_controls:
            agent = dict(scope.get("headers") or []).get(b"user-agent", b"")
            self.faults.count(scope["method"], path, agent.decode("latin-1"))
            delay, action, plan = self.faults.decide(path)
            if delay:
                await asyncio.sleep(delay)
            if action == "drop":
                await _drop(send)
                return
            if action == "fail" and plan is not None:
                await self._send_failure(send, path, plan.fail_status, plan.retry_after)
                return
            if action == "limit" and plan is not None:
                await self._send_failure(send, path, 429, plan.retry_after or 1)
                return
        headers = dict(scope.get("headers") or [])
        authorization = headers.get(b"authorization")
        try:
            self.authenticator.check(
                path, authorization.decode("latin-1") if authorization else None
            )
        except Unauthorized as err:
            await error_response(self.profile, path, err)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _send_failure(
        self, send: Send, path: str, status: int, retry_after: int | None
    ) -> None:
        """A fault injected by a test control (a proxy or an overloaded server would send it)."""
        body: dict[str, Any] = {"message": "Injected failure (test control)"}
        if path.startswith(self.profile.public_prefix):
            title = "too-many-requests" if status == 429 else "unexpected-problem"
            body = {
                "status": status,
                "title": title,
                "type": "about:blank",
                "detail": body["message"],
            }
        headers = [(b"content-type", b"application/json")]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        payload = json.dumps(body).encode()
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def _drop(send: Send) -> None:
    """Close the client's connection without any response bytes.

    uvicorn's ``send`` is a bound method of the request cycle, which holds the transport.
    If that ever changes, fall back to a truncated response (still a transport error).
    """
    transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.close()
        return
    await send(  # pragma: no cover - depends on the server
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
    )
    raise ConnectionAbortedError("dropped by a test control")  # pragma: no cover
