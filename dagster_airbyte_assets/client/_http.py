"""One pooled ``httpx.Client``, one request path: send, map failures to typed errors, retry.

Both dialects call ``HttpCore.call``; it is the only place that talks to the network, so the
retry rules, the error mapping and the request counter hold everywhere.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import httpx
import stamina

from dagster_airbyte_assets.client._retry import RetryPolicy, make_retry_hook, parse_retry_after
from dagster_airbyte_assets.errors import (
    AirbyteAuthenticationError,
    AirbyteBadRequestError,
    AirbyteConflictError,
    AirbyteConnectError,
    AirbyteError,
    AirbyteHTTPError,
    AirbyteNotAirbyteError,
    AirbyteNotFoundError,
    AirbyteRequestError,
    AirbyteServerError,
    AirbyteTimeoutError,
    redact_url,
)

__all__ = ["HttpCore", "airbyte_message", "problem_title"]

_USER_AGENT = "dagster-airbyte-assets"


def airbyte_message(body: Any) -> str | None:
    """Airbyte's own error text from either dialect's error body."""
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])  # Public API problem: data.message
    for key in ("message", "detail", "title", "errorId"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value if key != "errorId" else f"errorId {value}"
    return None


def problem_title(body: Any) -> str | None:
    """The Public API's RFC 9457 problem name (``try-again-later``, ``state-conflict``...)."""
    if not isinstance(body, dict):
        return None
    title = body.get("title")
    if isinstance(title, str) and title:
        return title
    kind = body.get("type")
    if isinstance(kind, str) and "#" in kind:
        # ``https://reference.airbyte.com/reference/errors#409-state-conflict``
        fragment = kind.rsplit("#", 1)[1]
        return fragment.split("-", 1)[1] if fragment[:3].isdigit() else fragment
    return None


def _looks_like_airbyte_error(body: Any) -> bool:
    """Config API errors carry ``message`` (KnownExceptionInfo, NotFoundKnownExceptionInfo),
    Micronaut's own 404 carries ``message`` too, Public API problems ``title``/``detail``."""
    return isinstance(body, dict) and any(
        isinstance(body.get(key), str) for key in ("message", "detail", "title", "errorId")
    )


class _RequestCounter:
    """httpx's request hook, kept apart from ``HttpCore`` so the hook holds no reference back to
    it (the finalizer holds the ``httpx.Client``, and with it its hooks)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> None:
        with self._lock:
            self.value += 1


class HttpCore:
    """Owns the ``httpx.Client`` (thread-safe, one connection pool for every caller)."""

    def __init__(
        self,
        *,
        auth: httpx.Auth | None,
        auth_hint: str,
        request_timeout: float,
        retry: RetryPolicy,
        max_connections: int,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.retry = retry
        self.auth_hint = auth_hint
        self._requests = _RequestCounter()
        self.client = httpx.Client(
            auth=auth,
            timeout=httpx.Timeout(request_timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
            event_hooks={"request": [self._requests]},
        )
        # A client nobody closed (a resource dropped after loading definitions, say) closes its
        # pooled sockets when it is collected, instead of leaking them until the process ends.
        self._close_pool = weakref.finalize(self, self.client.close)

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (token requests and retries included)."""
        return self._requests.value

    def close(self) -> None:
        self._close_pool()

    def call(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Any = None,
        idempotent: bool,
        resource_id: str | None = None,
        resource_kind: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """Send with retries; return the decoded JSON body (None for an empty body).

        A body that is not Airbyte's (an HTML page, cut-off JSON) on an idempotent call is
        read once more at once: proxies answer with error pages for a moment, and a second
        such answer is taken as the truth (the wrong URL) instead of waiting out retries.
        """
        policy = retry or self.retry
        try:
            return self._call_with_retries(
                method, url, json, params, idempotent, resource_id, resource_kind, policy
            )
        except AirbyteNotAirbyteError as exc:
            if not idempotent or not (exc.status_code is None or 200 <= exc.status_code < 300):
                raise
        return self._call_with_retries(
            method, url, json, params, idempotent, resource_id, resource_kind, policy
        )

    def _call_with_retries(
        self,
        method: str,
        url: str,
        json: Any,
        params: Any,
        idempotent: bool,
        resource_id: str | None,
        resource_kind: str | None,
        policy: RetryPolicy,
    ) -> Any:
        for attempt in stamina.retry_context(
            on=make_retry_hook(policy, idempotent=idempotent),
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                return self.send_once(
                    method,
                    url,
                    json=json,
                    params=params,
                    resource_id=resource_id,
                    resource_kind=resource_kind,
                )
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    def send_once(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Any = None,
        resource_id: str | None = None,
        resource_kind: str | None = None,
    ) -> Any:
        shown = redact_url(url) or url
        try:
            response = self.client.request(method, url, json=json, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise AirbyteConnectError(
                f"Cannot reach Airbyte at {shown} ({type(exc).__name__}); check the URL, that "
                "the server is running and that this machine can reach it",
                method=method,
                url=url,
                request_sent=False,
            ) from None
        except httpx.PoolTimeout:
            raise AirbyteTimeoutError(
                "No free pooled connection to Airbyte within the request timeout",
                method=method,
                url=url,
                request_sent=False,
            ) from None
        except httpx.TimeoutException as exc:
            raise AirbyteTimeoutError(
                f"Airbyte did not answer within the request timeout ({type(exc).__name__})",
                method=method,
                url=url,
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise AirbyteConnectError(
                f"The connection to Airbyte dropped before an answer ({type(exc).__name__})",
                method=method,
                url=url,
            ) from None
        except httpx.TransportError as exc:
            raise AirbyteRequestError(
                f"HTTP transport error talking to Airbyte ({type(exc).__name__})",
                method=method,
                url=url,
            ) from None
        return self._decode(response, method, url, resource_id, resource_kind)

    def _decode(
        self,
        response: httpx.Response,
        method: str,
        url: str,
        resource_id: str | None,
        resource_kind: str | None,
    ) -> Any:
        status = response.status_code
        body: Any = None
        is_json = False
        if response.content:
            try:
                body = response.json()
                is_json = True
            except ValueError:
                body = None
        if 200 <= status < 300:
            if response.content and not is_json:
                raise AirbyteNotAirbyteError(
                    f"{redact_url(url)} answered {status} with a non-JSON body "
                    f"({response.headers.get('content-type', 'no content type')}); "
                    "is this an Airbyte server and the right URL?",
                    status_code=status,
                    method=method,
                    url=url,
                )
            return body
        raise self._error(response, body, is_json, method, url, resource_id, resource_kind)

    def _error(
        self,
        response: httpx.Response,
        body: Any,
        is_json: bool,
        method: str,
        url: str,
        resource_id: str | None,
        resource_kind: str | None,
    ) -> AirbyteError:
        status = response.status_code
        message = airbyte_message(body)
        common: dict[str, Any] = {
            "status_code": status,
            "message": message,
            "method": method,
            "url": url,
            "retry_after": parse_retry_after(response.headers.get("Retry-After")),
            "problem": problem_title(body),
        }
        if status >= 500:
            # Proxies answer 502/503 with HTML: still a server error (and retryable).
            return AirbyteServerError(f"Airbyte server error {status}", **common)
        if status in (401, 403):
            return AirbyteAuthenticationError(
                f"Airbyte refused the credentials ({status}); check {self.auth_hint}", **common
            )
        if not is_json and status not in (408, 429):
            common.pop("retry_after")
            common.pop("problem")
            return AirbyteNotAirbyteError(
                f"{redact_url(url)} answered {status} without a JSON body; "
                "is this an Airbyte server and the right URL/API?",
                **common,
            )
        if common["problem"] == "resource-not-found":
            # The Public API answered a missing resource with 400 up to v1.1, 404 from v1.2.
            what = f"{resource_kind} {resource_id}" if resource_id else "resource"
            return AirbyteNotFoundError(f"Airbyte has no {what}", resource_id=resource_id, **common)
        if status == 404 and not _looks_like_airbyte_error(body):
            common.pop("retry_after")
            common.pop("problem")
            return AirbyteNotAirbyteError(
                f"{redact_url(url)} answered 404 with JSON that is not an Airbyte error; "
                "is this an Airbyte server and the right URL/API?",
                **common,
            )
        if status == 404:
            what = f"{resource_kind} {resource_id}" if resource_id else "resource"
            return AirbyteNotFoundError(f"Airbyte has no {what}", resource_id=resource_id, **common)
        if status == 409:
            return AirbyteConflictError(
                "Airbyte reported a conflict", resource_id=resource_id, **common
            )
        if status in (400, 422):
            return AirbyteBadRequestError(
                f"Airbyte rejected the request ({status})", resource_id=resource_id, **common
            )
        return AirbyteHTTPError(f"Airbyte answered {status}", resource_id=resource_id, **common)
