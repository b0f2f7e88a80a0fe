"""The ASGI application: both dialects on one port, auth, faults, error shapes.

The outer :class:`LocalAirbyteApp` wraps FastAPI so that auth, request counting and injected
faults see every request first, including the ability to drop a connection with no response
(which needs uvicorn's raw ``send``, not one wrapped by Starlette's middleware).
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
from .api_errors import ApiError, InvalidInput, NotFound, Unauthorized, config_body, problem_body
from .auth import Authenticator
from .faults import Faults
from .service import Service

__all__ = ["LocalAirbyteApp", "create_app", "error_response"]

log = logging.getLogger(__name__)


def _is_public(path: str) -> bool:
    return path.startswith(public_api.PREFIX)


def error_response(path: str, err: ApiError) -> JSONResponse:
    """``err`` in the dialect of ``path``: a problem (Public) or an ExceptionInfo (Config)."""
    headers = {}
    if isinstance(err, Unauthorized):
        headers["WWW-Authenticate"] = 'Basic realm="airbyte", Bearer'
    if _is_public(path):
        status = 400 if isinstance(err, InvalidInput) else err.status
        return JSONResponse(
            problem_body(err, public_status=status), status_code=status, headers=headers
        )
    return JSONResponse(config_body(err), status_code=err.status, headers=headers)


def create_app(service: Service, authenticator: Authenticator, faults: Faults) -> FastAPI:
    app = FastAPI(title="Local Airbyte", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(config_api.build_router(service))
    app.include_router(public_api.build_router(service, authenticator.tokens))
    if service.settings.test_controls:
        app.include_router(faults_module.build_router(service, faults, authenticator.tokens))
    app.include_router(ui_pages.build_router(service, authenticator))  # pages at the UI's paths

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request.url.path, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        path = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return error_response(
            request.url.path, InvalidInput(path, str(first.get("msg", "invalid request")))
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err: ApiError = NotFound("endpoint", request.url.path)
        else:
            err = ApiError(str(exc.detail))
            err.status = exc.status_code
        return error_response(request.url.path, err)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error_response(request.url.path, ApiError(f"Unexpected error: {type(exc).__name__}"))

    return app


class LocalAirbyteApp:
    """Outermost ASGI layer: counts API requests, applies faults, then checks credentials."""

    def __init__(self, app: FastAPI, authenticator: Authenticator, faults: Faults) -> None:
        self.app = app
        self.authenticator = authenticator
        self.faults = faults
        self.test_controls = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if self.test_controls:
            agent = dict(scope.get("headers") or []).get(b"user-agent", b"")
            self.faults.count(f"{scope['method']} {path}", agent.decode("latin-1"))
            delay, action, plan = self.faults.decide(path)
            if delay:
                await asyncio.sleep(delay)
            if action == "drop":
                await _drop(send)
                return
            if action == "fail" and plan is not None:
                await _send_failure(send, path, plan.fail_status, plan.retry_after)
                return
            if action == "limit" and plan is not None:
                await _send_failure(send, path, 429, plan.retry_after or 1)
                return
        headers = dict(scope.get("headers") or [])
        authorization = headers.get(b"authorization")
        try:
            self.authenticator.check(
                path, authorization.decode("latin-1") if authorization else None
            )
        except Unauthorized as err:
            await error_response(path, err)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _send_failure(send: Send, path: str, status: int, retry_after: int | None) -> None:
    err = ApiError("Injected failure (test control)")
    err.status = status
    if status == 429:
        err.title = "too-many-requests"
    body = problem_body(err) if _is_public(path) else config_body(err)
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
