"""What the server saw: every API request, who sent it, and the server's own time for it.

:class:`RequestLog` wraps an ASGI app (the local Airbyte's handlers, or the fast stub) and keeps
one :class:`Request` per API call: the sending side (from the ``User-Agent``), when it arrived,
how long the handler took (latency injected in front of the handlers is not included: the bench
adds it back where it matters) and the ids it names (connection and job ids in the path, the query
or a JSON body), so calls can be attributed to a connection. While recording, it also keeps each
answer, which is what the fast stub (:mod:`bench.stub`) replays.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "ADMIN_AGENT",
    "Answer",
    "Request",
    "RequestKey",
    "RequestLog",
    "per_minute_max",
    "request_key",
    "side_of_agent",
    "summarize",
    "union_seconds",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

ADMIN_AGENT = "bench-admin"
RequestKey = tuple[str, str, str, str]
_ID = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
# Where a request names its connection or job (Config API ``jobs/get`` takes ``{"id": ...}``).
_ID_FIELDS = ("connectionId", "configId", "jobId", "id")
_BODY_PARSE_LIMIT = 64 * 1024


def side_of_agent(agent: str) -> str:
    """``ours``, ``theirs``, ``admin`` or ``other`` for a request's ``User-Agent``.

    Only ours uses httpx (its token request may go out bare or with httpx's default agent); the
    competitor uses requests (``dagster`` on API calls, requests' default on token requests).
    """
    if agent == ADMIN_AGENT:
        return "admin"
    if agent == "" or agent.startswith(("dagster-airbyte-assets", "python-httpx")):
        return "ours"
    if agent == "dagster" or agent.startswith("python-requests"):
        return "theirs"
    return "other"


@dataclass(frozen=True)
class Request:
    side: str
    method: str
    path: str
    started: float  # epoch seconds when the handler was entered
    seconds: float  # the handler's own time
    status: int
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: bytes
    body: bytes


def request_key(method: str, path: str, query: bytes, body: bytes) -> RequestKey:
    """The identity of a request for replay: JSON bodies and queries in a canonical order."""
    canonical_query = "&".join(
        f"{k}={v}" for k, v in sorted(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    )
    try:
        canonical_body = json.dumps(json.loads(body), sort_keys=True) if body else ""
    except ValueError:
        canonical_body = body.decode("latin-1")
    return (method, path.rstrip("/") or "/", canonical_query, canonical_body)


def _ids(path: str, query: bytes, body: bytes) -> tuple[str, ...]:
    found = [part for part in path.split("/") if _ID.match(part)]
    for name, value in parse_qsl(query.decode("latin-1")):
        if name in _ID_FIELDS or name == "connectionIds":
            found.append(value)
    if body and len(body) <= _BODY_PARSE_LIMIT:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            found.extend(str(data[f]) for f in _ID_FIELDS if data.get(f) is not None)
    return tuple(dict.fromkeys(found))


class RequestLog:
    """Thread-safe log of API requests, filled by the ASGI wrapper from :meth:`wrap`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._answers: dict[RequestKey, Answer] | None = None

    def wrap(self, app: App) -> App:
        async def logged(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope.get("path", "")
            if scope["type"] != "http" or path.startswith("/_local"):
                await app(scope, receive, send)
                return
            chunks: list[bytes] = []
            status = [0]
            content_type = [b""]
            out: list[bytes] = []
            recording = self._answers is not None

            async def tee_receive() -> Message:
                message = await receive()
                if message.get("type") == "http.request":
                    chunks.append(message.get("body", b""))
                return message

            async def tee_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status[0] = int(message["status"])
                    for name, value in message.get("headers", []):
                        if name.lower() == b"content-type":
                            content_type[0] = value
                elif message["type"] == "http.response.body" and recording:
                    out.append(message.get("body", b""))
                await send(message)

            wall = time.time()
            started = time.perf_counter()
            try:
                await app(scope, tee_receive, tee_send)
            finally:
                seconds = time.perf_counter() - started
                body = b"".join(chunks)
                query = scope.get("query_string", b"")
                agent = dict(scope.get("headers") or []).get(b"user-agent", b"")
                request = Request(
                    side=side_of_agent(agent.decode("latin-1")),
                    method=scope["method"],
                    path=path,
                    started=wall,
                    seconds=seconds,
                    status=status[0],
                    ids=_ids(path, query, body),
                )
                with self._lock:
                    self._requests.append(request)
                    if recording and self._answers is not None and request.side != "admin":
                        key = request_key(scope["method"], path, query, body)
                        self._answers[key] = Answer(status[0], content_type[0], b"".join(out))

        return logged

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def requests(self, side: str | None = None) -> list[Request]:
        with self._lock:
            found = list(self._requests)
        return [r for r in found if side is None or r.side == side]

    def counts(self) -> dict[str, int]:
        counts = {"ours": 0, "theirs": 0, "other": 0}
        for request in self.requests():
            if request.side != "admin":
                counts[request.side] += 1
        return counts

    def start_recording(self) -> None:
        with self._lock:
            if self._answers is None:
                self._answers = {}

    def recorded(self) -> dict[RequestKey, Answer]:
        """The answers kept since :meth:`start_recording` (recording stops)."""
        with self._lock:
            answers, self._answers = self._answers or {}, None
        return answers


def per_minute_max(moments: Iterable[float]) -> int:
    """The most calls in any 60-second window."""
    times = sorted(moments)
    best, low = 0, 0
    for high, moment in enumerate(times):
        while moment - times[low] >= 60.0:
            low += 1
        best = max(best, high - low + 1)
    return best


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length covered by ``(start, end)`` intervals (overlapping requests count once)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def summarize(requests: list[Request]) -> dict[str, Any]:
    """Count and server time of some requests (mean, median, total), by endpoint too."""
    if not requests:
        return {"requests": 0, "server_s_total": 0.0, "server_ms_mean": None}
    times = sorted(r.seconds for r in requests)
    by_endpoint: dict[str, list[float]] = {}
    for r in requests:
        by_endpoint.setdefault(f"{r.method} {_endpoint(r.path)}", []).append(r.seconds)
    return {
        "requests": len(requests),
        "server_s_total": round(sum(times), 3),
        "server_ms_mean": round(1000 * sum(times) / len(times), 2),
        "server_ms_p50": round(1000 * times[len(times) // 2], 2),
        "server_ms_max": round(1000 * times[-1], 2),
        "by_endpoint": {
            name: {"requests": len(v), "server_ms_mean": round(1000 * sum(v) / len(v), 2)}
            for name, v in sorted(by_endpoint.items(), key=lambda kv: -sum(kv[1]))
        },
    }


def _endpoint(path: str) -> str:
    return "/".join("{id}" if _ID.match(part) else part for part in path.split("/"))
