"""A fault-injecting HTTP/1.1 proxy on loopback, for tests.

The proxy sits between a client (the integration) and a server (the local Airbyte): point the
client at :attr:`FaultProxy.url` and the proxy forwards every request to ``upstream``, unless a
fault is chosen for it. Faults happen *between* the two, where real deployments put load
balancers, ingresses and flaky networks, so the server keeps telling the truth about what it
received and the test can compare that with what the client believed.

Which request gets which fault:

- **Rules** (:class:`Rule`), checked in order: "the 1st POST whose path matches
  ``/connections/sync$|/jobs$`` gets a reset after forwarding". A rule counts the requests that
  match its method, path regex and optional ``when`` predicate; from its ``nth`` match on, the
  next ``times`` matching requests get its fault (a request goes to the first rule that claims
  it).
- **A seeded schedule** (:class:`FaultSchedule`): each request matching its filter draws one
  number from ``random.Random(seed)``, so the same seed and the same sequence of requests give
  the same faults. Rules win over the schedule.
- **Outages** (:meth:`FaultProxy.down`): for a period every connection is refused (the proxy
  stops listening) or reset on accept, and open keep-alive connections are reset.

Fault kinds (:class:`Fault` constructors): an error status answered by the proxy without
forwarding (502/503 pages, 429 with ``Retry-After``, 401, an HTML 200 login page); a connection
reset before forwarding (the server never sees the request) or after it (the server processed
it, the client gets a reset); "forward, discard the answer, answer 500" (a start that created
a job but looks failed); a truncated body (full ``Content-Length``, half the bytes, close); a
stall longer than the client's timeout, after which the request is dropped or forwarded late.

Every exchange is recorded (:class:`Exchange`: method, path, ids in the JSON body, fault,
whether and when it reached the server, the server's status, what the client got), so a test
can assert what happened on the wire. Headers and bodies are not kept: they carry credentials.

Design: one asyncio event loop on a daemon thread per proxy; one task per client connection,
which serves requests in turn (keep-alive works, as httpx pools connections); every forwarded
request uses a fresh upstream connection with ``Connection: close`` so nothing the proxy does
to a client leaks into another exchange. The public methods are thread-safe. Standard library
only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "Exchange",
    "Fault",
    "FaultProxy",
    "FaultSchedule",
    "Outage",
    "ProxyRequest",
    "Rule",
]

FaultKind = Literal["respond", "reset_before", "reset_after", "replace_after", "truncate", "stall"]

# Hop-by-hop headers (RFC 9110 §7.6.1) and framing, which the proxy sets itself on each side.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
_REASONS = {
    200: "OK",
    401: "Unauthorized",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _nginx_page(status: int) -> bytes:
    reason = _REASONS.get(status, "Error")
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


_LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    b'<form method="post" action="/oauth2/sign_in"><h1>Sign in to continue</h1>'
    b'<input name="username"><input name="password" type="password">'
    b"<button>Sign in</button></form></body></html>"
)
_PROXY_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Network error</title></head><body>"
    b"<h1>The gateway could not reach the upstream server.</h1>"
    b"<p>Please try again later. Reference #18.3f2a1b.</p></body></html>"
)


@dataclass(frozen=True)
class Fault:
    """What the proxy does to one request instead of forwarding it plainly.

    Build one with the named constructors; ``name`` is what records and reports show.
    """

    name: str
    kind: FaultKind
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    seconds: float = 0.0
    forward_late: bool = False
    fraction: float = 0.5

    @classmethod
    def error(cls, status: int) -> Fault:
        """An error page from a gateway in front of the server (nginx's HTML), not forwarded."""
        return cls(
            name=str(status),
            kind="respond",
            status=status,
            headers=(("Content-Type", "text/html"),),
            body=_nginx_page(status),
        )

    @classmethod
    def rate_limited(cls, retry_after: float = 1) -> Fault:
        """429 with ``Retry-After`` (seconds), not forwarded."""
        seconds = f"{retry_after:g}"
        return cls(
            name="429",
            kind="respond",
            status=429,
            headers=(("Content-Type", "application/json"), ("Retry-After", seconds)),
            body=json.dumps({"message": "Too Many Requests", "retryAfter": seconds}).encode(),
        )

    @classmethod
    def unauthorized(cls) -> Fault:
        """401 as an authenticating gateway answers it (e.g. a token it considers expired)."""
        return cls(
            name="401",
            kind="respond",
            status=401,
            headers=(
                ("Content-Type", "application/json"),
                ("WWW-Authenticate", 'Bearer error="invalid_token"'),
            ),
            body=b'{"message":"Unauthorized"}',
        )

    @classmethod
    def html_200(cls, page: Literal["login", "proxy_error"] = "login") -> Fault:
        """200 ``text/html``: an SSO login page or a gateway's error page, not forwarded."""
        return cls(
            name="html_200",
            kind="respond",
            status=200,
            headers=(("Content-Type", "text/html; charset=utf-8"),),
            body=_LOGIN_PAGE if page == "login" else _PROXY_ERROR_PAGE,
        )

    @classmethod
    def reset_before(cls) -> Fault:
        """Reset the client's connection after reading the request; the server never sees it."""
        return cls(name="reset_before", kind="reset_before")

    @classmethod
    def reset_after(cls) -> Fault:
        """Forward, wait for the server's answer, then reset the client's connection."""
        return cls(name="reset_after", kind="reset_after")

    @classmethod
    def created_but_500(cls) -> Fault:
        """Forward (the server acts on it), discard its answer and answer 500."""
        return cls(
            name="created_500",
            kind="replace_after",
            status=500,
            headers=(("Content-Type", "application/json"),),
            body=json.dumps(
                {
                    "message": "Internal Server Error: Connection reset by peer",
                    "exceptionClassName": "io.micronaut.http.client.exceptions.ReadTimeoutException",
                }
            ).encode(),
        )

    @classmethod
    def truncated(cls, fraction: float = 0.5) -> Fault:
        """Forward; send the answer's headers with the full ``Content-Length``, part of the
        body (``fraction`` of it), then close."""
        if not 0 <= fraction < 1:
            raise ValueError("fraction must be in [0, 1)")
        return cls(name="truncated", kind="truncate", fraction=fraction)

    @classmethod
    def stall(cls, seconds: float, *, forward_late: bool = False) -> Fault:
        """Hold the request ``seconds``; then forward it (``forward_late``) or drop it.

        A client whose timeout is shorter gives up first; with ``forward_late`` the server
        still receives the request afterwards (a start that creates a job late).
        """
        return cls(
            name="stall_late" if forward_late else "stall",
            kind="stall",
            seconds=seconds,
            forward_late=forward_late,
        )


@dataclass(frozen=True)
class ProxyRequest:
    """One request as the client sent it (``when`` predicates receive this)."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def json(self) -> Any:
        """The JSON body, or ``None`` when there is none or it is not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


def _ids_of(request: ProxyRequest) -> dict[str, str]:
    """Id-like fields of a JSON body (``connectionId``, ``id``...): safe to keep, no secrets."""
    data = request.json()
    if not isinstance(data, dict):
        return {}
    return {
        key: str(value)
        for key, value in data.items()
        if (key == "id" or key.endswith("Id")) and isinstance(value, str | int)
    }


@dataclass
class Exchange:
    """What happened to one request. Times are ``time.time()`` (the server's clock too)."""

    index: int
    connection: int
    """Number of the client connection it came on (a reused keep-alive connection repeats)."""
    method: str
    path: str
    query: str
    ids: dict[str, str]
    started_at: float
    fault: str | None = None
    source: str | None = None
    """The rule's name, ``schedule(seed=...)``, or ``None`` when no fault was chosen."""
    forwarded: bool = False
    forwarded_at: float | None = None
    upstream_status: int | None = None
    status: int | None = None
    """The status line the client received (also for a truncated answer); ``None`` if none."""
    outcome: str = "pending"
    """answered | reset | truncated | closed | client_gone | upstream_error | pending"""
    client_gone_at: float | None = None
    ended_at: float | None = None

    @property
    def late(self) -> bool:
        """Forwarded after the client had given up on it."""
        return (
            self.forwarded_at is not None
            and self.client_gone_at is not None
            and self.forwarded_at >= self.client_gone_at
        )

    def describe(self) -> str:
        fault = f" [{self.fault} via {self.source}]" if self.fault else ""
        sent = (f" -> server {self.upstream_status}" if self.forwarded else " (not forwarded)") + (
            " LATE" if self.late else ""
        )
        return (
            f"#{self.index} {self.method} {self.path}{'?' + self.query if self.query else ''}"
            f"{fault}{sent}; client got {self.status if self.status is not None else '-'} "
            f"({self.outcome})"
        )


@dataclass
class Rule:
    """Give ``fault`` to matching requests, from the ``nth`` match on, ``times`` times.

    ``path`` is a regex searched in the path (no query string); ``method`` is compared
    case-insensitively; ``when`` (evaluated on a worker thread, so it may call the server)
    narrows further. ``times=None``: every match from the ``nth`` on.
    """

    fault: Fault
    method: str | None = None
    path: str | None = None
    nth: int = 1
    times: int | None = 1
    when: Callable[[ProxyRequest], bool] | None = None
    name: str | None = None
    matched: int = field(default=0, init=False)
    applied: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.nth < 1:
            raise ValueError("nth counts from 1")
        self._pattern = re.compile(self.path) if self.path else None
        if self.name is None:
            where = f"{self.method or '*'} {self.path or '*'}"
            self.name = f"{self.fault.name}@{where}#{self.nth}"

    def matches(self, request: ProxyRequest) -> bool:
        if self.method and request.method.upper() != self.method.upper():
            return False
        return self._pattern is None or self._pattern.search(request.path) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.applied >= self.times


@dataclass
class FaultSchedule:
    """Seeded random faults: each matching request draws once; ``faults`` are
    ``(fault, probability)`` pairs whose probabilities add up to at most 1."""

    seed: int
    faults: Sequence[tuple[Fault, float]]
    method: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        total = sum(p for _, p in self.faults)
        if total > 1 + 1e-9 or any(p < 0 for _, p in self.faults):
            raise ValueError(f"probabilities must be >= 0 and add up to <= 1, not {total}")
        self._random = random.Random(self.seed)
        self._pattern = re.compile(self.path) if self.path else None
        self.drawn = 0

    def decide(self, request: ProxyRequest) -> Fault | None:
        if self.method and request.method.upper() != self.method.upper():
            return None
        if self._pattern is not None and self._pattern.search(request.path) is None:
            return None
        self.drawn += 1
        draw = self._random.random()
        for fault, probability in self.faults:
            if draw < probability:
                return fault
            draw -= probability
        return None


@dataclass
class Outage:
    """One "server down" period; ``rejected`` counts connections reset on accept."""

    mode: Literal["refuse", "reset"]
    started_at: float
    ended_at: float | None = None
    rejected: int = 0


@dataclass
class _Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class _ProtocolError(Exception):
    pass


# -- HTTP/1.1 framing -------------------------------------------------------------------------


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """Request or status line plus headers; ``None`` on a clean end of stream."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise _ProtocolError("connection closed inside the header block") from None


def _parse_headers(lines: list[str]) -> list[tuple[str, str]]:
    headers = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise _ProtocolError(f"malformed header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return headers


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


async def _read_body(
    reader: asyncio.StreamReader, headers: Sequence[tuple[str, str]], *, until_eof: bool
) -> bytes:
    if "chunked" in (_header(headers, "transfer-encoding") or "").lower():
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers: dropped
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = _header(headers, "content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    return await reader.read() if until_eof else b""


async def _read_request(reader: asyncio.StreamReader) -> ProxyRequest | None:
    head = await _read_head(reader)
    if head is None:
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        raise _ProtocolError(f"malformed request line {lines[0]!r}") from None
    headers = _parse_headers([line for line in lines[1:] if line])
    body = await _read_body(reader, headers, until_eof=False)
    return ProxyRequest(method.upper(), target, tuple(headers), body)


async def _read_response(reader: asyncio.StreamReader, method: str) -> _Response:
    head = await _read_head(reader)
    if head is None:
        raise _ProtocolError("the server closed the connection without an answer")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = _parse_headers([line for line in lines[1:] if line])
    no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
    body = b"" if no_body else await _read_body(reader, headers, until_eof=True)
    return _Response(status, reason, headers, body)


def _encode_response(
    status: int,
    reason: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    keep_alive: bool,
    content_length: int | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, '')}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in _HOP_BY_HOP]
    lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _wants_close(request: ProxyRequest) -> bool:
    return "close" in (_header(request.headers, "connection") or "").lower()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (``SO_LINGER`` 0), as a crashed or killed peer would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# -- the proxy --------------------------------------------------------------------------------


class FaultProxy:
    """Forward HTTP from ``url`` to ``upstream``, injecting faults by rule, seed or outage.

    ``upstream`` is a root URL (``http://127.0.0.1:8123``); paths are forwarded unchanged, and
    so are ``Host`` and every end-to-end header (auth included). Use as a context manager or
    call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        upstream: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        schedule: FaultSchedule | None = None,
        upstream_timeout: float = 120.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or 80
        self.host = host
        self.port = port
        self.upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._schedule = schedule
        self._exchanges: list[Exchange] = []
        self._outages: list[Outage] = []
        self._down: Outage | None = None
        self._inflight = 0
        self._connection_numbers = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._up_timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"FaultProxy({self.url!r} -> {self.upstream!r})"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"fault-proxy-{id(self):x}", daemon=True
        )
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        """Stop listening, reset every client connection, cancel pending work."""
        if self._loop is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any, timeout: float = 30) -> Any:
        assert self._loop is not None, "the proxy is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._up_timer is not None:
            self._up_timer.cancel()
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._clients):
            _abort(writer)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    # -- configuration --------------------------------------------------------------------------

    def add_rule(self, rule: Rule | None = None, /, **kwargs: Any) -> Rule:
        """Append a rule (a :class:`Rule`, or its fields as keywords); returns it."""
        rule = rule or Rule(**kwargs)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def set_schedule(self, schedule: FaultSchedule | None) -> None:
        with self._lock:
            self._schedule = schedule

    def reset(self) -> None:
        """Forget rules, schedule and records (an outage in progress continues)."""
        with self._lock:
            self._rules.clear()
            self._schedule = None
            self._exchanges.clear()

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    # -- outages --------------------------------------------------------------------------------

    def down(self, seconds: float | None, mode: Literal["refuse", "reset"] = "refuse") -> Outage:
        """Make the server unreachable now, for ``seconds`` (``None``: until :meth:`up`).

        Returns the outage record, which gets its ``ended_at`` when the outage ends.

        ``refuse``: the proxy stops listening, so connecting fails with "connection refused";
        ``reset``: connections are accepted and reset at once. Either way every open
        connection is reset and requests in flight get no answer.
        """
        if mode not in ("refuse", "reset"):
            raise ValueError(f"mode must be 'refuse' or 'reset', not {mode!r}")
        outage: Outage = self._call(self._go_down(seconds, mode))
        return outage

    def up(self) -> None:
        """End the current outage now."""
        self._call(self._go_up())

    @property
    def is_down(self) -> bool:
        return self._down is not None

    @property
    def outages(self) -> list[Outage]:
        with self._lock:
            return [replace(o) for o in self._outages]

    async def _go_down(self, seconds: float | None, mode: Literal["refuse", "reset"]) -> Outage:
        if self._down is not None:
            raise RuntimeError("the proxy is already down")
        outage = Outage(mode=mode, started_at=time.time())
        with self._lock:
            self._outages.append(outage)
        self._down = outage
        if mode == "refuse" and self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._clients):
            _abort(writer)
        if seconds is not None:
            assert self._loop is not None
            self._up_timer = self._loop.call_later(
                seconds, lambda: self._spawn(self._go_up(), track=False)
            )
        return outage

    async def _go_up(self) -> None:
        if self._up_timer is not None:
            self._up_timer.cancel()
            self._up_timer = None
        if self._down is None:
            return
        if self._server is None:
            await self._listen()
        self._down.ended_at = time.time()
        self._down = None

    # -- records --------------------------------------------------------------------------------

    @property
    def exchanges(self) -> list[Exchange]:
        """Every exchange so far, oldest first (copies)."""
        with self._lock:
            return [replace(e, ids=dict(e.ids)) for e in self._exchanges]

    def faulted(self) -> list[Exchange]:
        """The exchanges that got a fault."""
        return [e for e in self.exchanges if e.fault]

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled (stalls included); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._inflight == 0:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    # -- serving --------------------------------------------------------------------------------

    def _spawn(self, coro: Any, *, track: bool = True) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        if track:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._down is not None:
            self._down.rejected += 1
            _abort(writer)
            return
        number = next(self._connection_numbers)
        self._clients.add(writer)
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except (
                    _ProtocolError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    ValueError,
                    OSError,
                ):
                    break
                if request is None or not await self._handle(request, number, reader, writer):
                    break
        except asyncio.CancelledError:
            pass
        finally:
            self._clients.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    async def _handle(
        self,
        request: ProxyRequest,
        number: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Serve one request; True when the client connection stays open."""
        exchange = Exchange(
            index=0,
            connection=number,
            method=request.method,
            path=request.path,
            query=request.query,
            ids=_ids_of(request),
            started_at=time.time(),
        )
        with self._lock:
            exchange.index = len(self._exchanges) + 1
            self._exchanges.append(exchange)
            self._inflight += 1
        try:
            fault, source = await self._decide(request)
            exchange.fault = fault.name if fault else None
            exchange.source = source
            return await self._act(fault, request, exchange, reader, writer)
        except (ConnectionError, OSError):
            exchange.outcome = "client_gone"
            return False
        finally:
            exchange.ended_at = time.time()
            with self._lock:
                self._inflight -= 1

    async def _decide(self, request: ProxyRequest) -> tuple[Fault | None, str | None]:
        with self._lock:
            rules = list(self._rules)
            schedule = self._schedule
            scheduled = schedule.decide(request) if schedule is not None else None
        chosen: tuple[Fault, str] | None = None
        for rule in rules:
            if rule.exhausted or not rule.matches(request):
                continue
            if rule.when is not None and not await asyncio.to_thread(rule.when, request):
                continue
            with self._lock:
                rule.matched += 1
                if chosen is None and rule.matched >= rule.nth and not rule.exhausted:
                    rule.applied += 1
                    chosen = (rule.fault, str(rule.name))
        if chosen is not None:
            return chosen
        if scheduled is not None and schedule is not None:
            return scheduled, f"schedule(seed={schedule.seed})"
        return None, None

    async def _act(
        self,
        fault: Fault | None,
        request: ProxyRequest,
        exchange: Exchange,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        keep_alive = not _wants_close(request)
        if fault is None:
            response = await self._forward(request, exchange)
            if response is None:
                return await self._send_upstream_error(writer, exchange, keep_alive)
            return await self._send(writer, exchange, response, keep_alive)
        if fault.kind == "respond":
            answer = _Response(fault.status, "", list(fault.headers), fault.body)
            return await self._send(writer, exchange, answer, keep_alive)
        if fault.kind == "reset_before":
            exchange.outcome = "reset"
            _abort(writer)
            return False
        if fault.kind == "stall":
            return await self._stall(fault, request, exchange, reader, writer, keep_alive)
        # The rest forward first: the server acts on the request.
        response = await self._forward(request, exchange)
        if response is None:
            return await self._send_upstream_error(writer, exchange, keep_alive)
        if fault.kind == "reset_after":
            exchange.outcome = "reset"
            _abort(writer)
            return False
        if fault.kind == "replace_after":
            answer = _Response(fault.status, "", list(fault.headers), fault.body)
            return await self._send(writer, exchange, answer, keep_alive)
        if fault.kind == "truncate":
            part = response.body[: int(len(response.body) * fault.fraction)]
            writer.write(
                _encode_response(
                    response.status,
                    response.reason,
                    response.headers,
                    part,
                    keep_alive=True,
                    content_length=len(response.body),
                )
            )
            exchange.status = response.status
            exchange.outcome = "truncated"
            await writer.drain()
            writer.close()
            return False
        raise AssertionError(f"unknown fault kind {fault.kind!r}")

    async def _stall(
        self,
        fault: Fault,
        request: ProxyRequest,
        exchange: Exchange,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
    ) -> bool:
        assert self._loop is not None
        deadline = self._loop.time() + fault.seconds
        # Hold the request, noticing when the client gives up (its end of stream).
        while exchange.client_gone_at is None:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                break
            try:
                data = await asyncio.wait_for(reader.read(1), remaining)
            except TimeoutError:
                break
            except (ConnectionError, OSError):
                data = b""
            if not data:
                exchange.client_gone_at = time.time()
            else:
                keep_alive = False  # a pipelined request: not supported, close after this one
        await asyncio.sleep(max(0.0, deadline - self._loop.time()))
        if not fault.forward_late:
            if exchange.client_gone_at is None:
                writer.close()
            exchange.outcome = "closed" if exchange.client_gone_at is None else "client_gone"
            return False
        response = await self._forward(request, exchange)
        if exchange.client_gone_at is not None or writer.transport.is_closing():
            exchange.outcome = "client_gone"
            return False
        if response is None:
            return await self._send_upstream_error(writer, exchange, keep_alive)
        return await self._send(writer, exchange, response, keep_alive)

    async def _forward(self, request: ProxyRequest, exchange: Exchange) -> _Response | None:
        """Send ``request`` upstream on a fresh connection; None when the server fails."""
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP_BY_HOP]
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(request.body))))
        headers.append(("Connection", "close"))
        head = f"{request.method} {request.target} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers
        )
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self._upstream_host, self._upstream_port
            )
            upstream_writer.write(head.encode("latin-1") + b"\r\n" + request.body)
            await upstream_writer.drain()
            exchange.forwarded = True
            exchange.forwarded_at = time.time()
            response = await asyncio.wait_for(
                _read_response(upstream_reader, request.method), self.upstream_timeout
            )
        except (OSError, _ProtocolError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            return None
        finally:
            if upstream_writer is not None:
                upstream_writer.close()
        exchange.upstream_status = response.status
        return response

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        exchange: Exchange,
        response: _Response,
        keep_alive: bool,
        outcome: str = "answered",
    ) -> bool:
        if writer.transport.is_closing():
            exchange.outcome = "client_gone"
            return False
        # Recorded before writing: once the bytes are out the client may already look.
        exchange.status = response.status
        exchange.outcome = outcome
        writer.write(
            _encode_response(
                response.status,
                response.reason,
                response.headers,
                response.body,
                keep_alive=keep_alive,
            )
        )
        await writer.drain()
        if not keep_alive:
            writer.close()
        return keep_alive

    async def _send_upstream_error(
        self, writer: asyncio.StreamWriter, exchange: Exchange, keep_alive: bool
    ) -> bool:
        """The server could not be reached or answered garbage: a gateway's 502."""
        return await self._send(
            writer,
            exchange,
            _Response(502, "", [("Content-Type", "text/html")], _nginx_page(502)),
            keep_alive,
            outcome="upstream_error",
        )
