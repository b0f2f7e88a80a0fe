"""The fast server: the local Airbyte's own answers, replayed with no work behind them.

To show how much of a ratio depends on the server's speed, both sides also load from a server
that answers at the cost of a dictionary lookup: every answer the local Airbyte gave a side
during its cold load (recorded by :class:`~bench.requestlog.RequestLog`) is served again, byte
for byte, for the same request (method, path, canonical query and JSON body). So the answers have
exactly the shapes the local Airbyte gives, which the test suite checks against Airbyte's own
specification. The only change is the server's base URL inside bodies (Public API ``next``
links), rewritten to the stub's. A request that was never recorded gets a 404 and is counted
in :attr:`StubServer.misses`, so a side that asks for something new fails loudly rather than
being measured on an error path. Authorization is not checked: a cheap handler is the point.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from types import TracebackType
from typing import Any

from bench.requestlog import Answer, Receive, RequestKey, RequestLog, Scope, Send, request_key

__all__ = ["StubServer"]


class StubServer:
    """Serve ``answers`` on a free loopback port (uvicorn on a thread), logging every request."""

    def __init__(self, answers: dict[RequestKey, Answer], recorded_base_url: str) -> None:
        if not answers:
            raise ValueError("the stub needs recorded answers: record a cold load first")
        self._answers = answers
        self._recorded_base = recorded_base_url.encode()
        self._sock = socket.socket(socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        base = self.url.encode()
        # Rewritten once, up front: serving stays a lookup.
        self._bodies = {
            key: (a.status, a.content_type, a.body.replace(self._recorded_base, base))
            for key, a in answers.items()
        }
        self.log = RequestLog()
        self.misses: list[str] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        key = request_key(
            scope["method"], scope["path"], scope.get("query_string", b""), b"".join(chunks)
        )
        found = self._bodies.get(key)
        if found is None:
            self.misses.append(f"{scope['method']} {scope['path']}")
            status, content_type = 404, b"application/json"
            body = json.dumps({"message": "not recorded by the bench stub"}).encode()
        else:
            status, content_type, body = found
        headers = [(b"content-length", str(len(body)).encode())]
        if content_type:
            headers.append((b"content-type", content_type))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def __enter__(self) -> StubServer:
        import uvicorn

        config = uvicorn.Config(
            self.log.wrap(self._app),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"bench-stub-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the bench stub did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self._sock.close()
