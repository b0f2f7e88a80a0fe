"""The fault proxy itself: plain httpx through it to a tiny upstream app and to the local Airbyte.

The upstream app records every request it receives, so each test can say whether a faulted
request reached the server, which is the point of every fault kind.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from proxy import Fault, FaultProxy, FaultSchedule, ProxyRequest, Rule


class Upstream:
    """A stdlib HTTP/1.1 server (keep-alive) that echoes and records what it received."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = {
                    "method": self.command,
                    "path": self.path,
                    "host": self.headers.get("Host"),
                    "authorization": self.headers.get("Authorization"),
                    "connection": self.headers.get("Connection"),
                    "body": body.decode(),
                }
                with upstream.lock:
                    upstream.received.append(seen)
                if self.path.startswith("/chunked"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for part in (b'{"chunked": ', b"true}"):
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                payload = json.dumps({"echo": seen, "pad": "x" * 200}).encode()
                self.send_response(201 if self.command == "POST" else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def paths(self) -> list[str]:
        with self.lock:
            return [r["path"] for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    app = Upstream()
    yield app
    app.close()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.url) as running:
        yield running


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, timeout=10) as c:
        yield c


def test_forwards_methods_bodies_and_headers_over_one_keep_alive_connection(
    upstream: Upstream, proxy: FaultProxy, client: httpx.Client
) -> None:
    auth = {"Authorization": "Bearer sentinel-token"}
    got = client.post("/api/v1/jobs/get", json={"id": 7}, headers=auth)
    assert got.status_code == 201
    assert got.json()["echo"]["body"] == '{"id":7}'
    assert client.get("/api/public/v1/jobs?connectionId=c1", headers=auth).status_code == 200
    assert client.patch("/api/public/v1/connections/c1", json={"status": "inactive"}).is_success
    assert client.delete("/api/public/v1/jobs/7").is_success

    received = upstream.received
    assert [r["method"] for r in received] == ["POST", "GET", "PATCH", "DELETE"]
    assert received[1]["path"] == "/api/public/v1/jobs?connectionId=c1"
    # End-to-end headers pass unchanged; Host stays the proxy's, as behind a reverse proxy.
    assert received[0]["authorization"] == "Bearer sentinel-token"
    assert received[0]["host"] == proxy.url.removeprefix("http://")
    assert received[0]["connection"] == "close"  # each forward on its own upstream connection

    exchanges = proxy.exchanges
    assert [(e.method, e.path, e.status, e.outcome) for e in exchanges] == [
        ("POST", "/api/v1/jobs/get", 201, "answered"),
        ("GET", "/api/public/v1/jobs", 200, "answered"),
        ("PATCH", "/api/public/v1/connections/c1", 200, "answered"),
        ("DELETE", "/api/public/v1/jobs/7", 200, "answered"),
    ]
    assert exchanges[0].ids == {"id": "7"}
    assert exchanges[1].query == "connectionId=c1"
    assert all(e.forwarded and e.fault is None for e in exchanges)
    # httpx reused its pooled connection: the proxy kept it alive.
    assert {e.connection for e in exchanges} == {exchanges[0].connection}


def test_chunked_answers_are_reframed(proxy: FaultProxy, client: httpx.Client) -> None:
    response = client.get("/chunked")
    assert response.json() == {"chunked": True}
    assert response.headers["content-length"] == str(len(response.content))


@pytest.mark.parametrize(
    ("fault", "status", "content_type"),
    [
        (Fault.error(503), 503, "text/html"),
        (Fault.error(502), 502, "text/html"),
        (Fault.rate_limited(retry_after=2), 429, "application/json"),
        (Fault.unauthorized(), 401, "application/json"),
        (Fault.html_200(), 200, "text/html; charset=utf-8"),
        (Fault.html_200("proxy_error"), 200, "text/html; charset=utf-8"),
    ],
    ids=["503", "502", "429", "401", "html_200_login", "html_200_proxy_error"],
)
def test_answered_by_the_proxy_without_forwarding(
    upstream: Upstream,
    proxy: FaultProxy,
    client: httpx.Client,
    fault: Fault,
    status: int,
    content_type: str,
) -> None:
    proxy.add_rule(Rule(fault, method="POST", path=r"/connections/sync$"))
    response = client.post("/api/v1/connections/sync", json={"connectionId": "c1"})
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    if status == 429:
        assert response.headers["retry-after"] == "2"
    if content_type.startswith("text/html"):
        assert response.text.lstrip().startswith("<")
    assert upstream.paths() == []
    # The next request passes, on the same kept-alive connection.
    assert client.post("/api/v1/connections/sync", json={"connectionId": "c1"}).status_code == 201
    first, second = proxy.exchanges
    assert (first.fault, first.forwarded, first.status) == (fault.name, False, status)
    assert first.ids == {"connectionId": "c1"}
    assert (second.fault, second.forwarded, second.connection) == (None, True, first.connection)


def test_reset_before_forwarding_never_reaches_the_server(
    upstream: Upstream, proxy: FaultProxy, client: httpx.Client
) -> None:
    proxy.add_rule(Rule(Fault.reset_before(), path=r"/jobs$"))
    with pytest.raises(httpx.TransportError):
        client.post("/api/public/v1/jobs", json={"connectionId": "c1", "jobType": "sync"})
    assert upstream.paths() == []
    (exchange,) = proxy.exchanges
    assert (exchange.fault, exchange.forwarded, exchange.status, exchange.outcome) == (
        "reset_before",
        False,
        None,
        "reset",
    )
    # The client recovers on a new connection.
    assert client.get("/api/public/v1/jobs/1").status_code == 200


def test_reset_after_forwarding_reaches_the_server_but_not_the_answer(
    upstream: Upstream, proxy: FaultProxy, client: httpx.Client
) -> None:
    proxy.add_rule(Rule(Fault.reset_after(), method="POST"))
    with pytest.raises(httpx.TransportError):
        client.post("/api/public/v1/jobs", json={"connectionId": "c1"})
    assert upstream.paths() == ["/api/public/v1/jobs"]
    (exchange,) = proxy.exchanges
    assert (exchange.forwarded, exchange.upstream_status, exchange.status) == (True, 201, None)
    assert exchange.outcome == "reset"


def test_created_but_500_forwards_and_replaces_the_answer(
    upstream: Upstream, proxy: FaultProxy, client: httpx.Client
) -> None:
    proxy.add_rule(Rule(Fault.created_but_500(), method="POST"))
    response = client.post("/api/v1/connections/sync", json={"connectionId": "c1"})
    assert response.status_code == 500
    assert "Internal Server Error" in response.json()["message"]
    assert upstream.paths() == ["/api/v1/connections/sync"]
    (exchange,) = proxy.exchanges
    assert (exchange.upstream_status, exchange.status, exchange.fault) == (201, 500, "created_500")


def test_truncated_body_keeps_the_full_content_length(
    upstream: Upstream, proxy: FaultProxy, client: httpx.Client
) -> None:
    proxy.add_rule(Rule(Fault.truncated(), method="POST"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/api/v1/connections/sync", json={"connectionId": "c1"})
    assert upstream.paths() == ["/api/v1/connections/sync"]
    (exchange,) = proxy.exchanges
    assert (exchange.status, exchange.outcome) == (201, "truncated")

    # What the client received, byte for byte: the full length announced, half of it sent.
    proxy.add_rule(Rule(Fault.truncated(), method="GET"))
    with (
        httpx.Client(base_url=proxy.url) as raw,
        raw.stream("GET", "/api/public/v1/jobs/1") as response,
    ):
        announced = int(response.headers["content-length"])
        received = b""
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_raw():
                received += chunk
    assert announced > 0
    assert len(received) == announced // 2


def test_stall_longer_than_the_client_timeout_drops_the_request(
    upstream: Upstream, proxy: FaultProxy
) -> None:
    proxy.add_rule(Rule(Fault.stall(1.5), method="POST"))
    with httpx.Client(base_url=proxy.url, timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
        client.post("/api/v1/connections/sync", json={"connectionId": "c1"})
    assert proxy.wait_idle(10)
    assert upstream.paths() == []
    (exchange,) = proxy.exchanges
    assert exchange.client_gone_at is not None
    assert (exchange.forwarded, exchange.outcome) == (False, "client_gone")


def test_stall_then_forward_late_reaches_the_server_after_the_client_gave_up(
    upstream: Upstream, proxy: FaultProxy
) -> None:
    proxy.add_rule(Rule(Fault.stall(1.5, forward_late=True), method="POST"))
    with httpx.Client(base_url=proxy.url, timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
        client.post("/api/v1/connections/sync", json={"connectionId": "c1"})
    assert upstream.paths() == []  # not yet: the proxy still holds it
    assert proxy.wait_idle(10)
    assert upstream.paths() == ["/api/v1/connections/sync"]
    (exchange,) = proxy.exchanges
    assert exchange.late
    assert exchange.forwarded_at is not None and exchange.client_gone_at is not None
    assert exchange.forwarded_at > exchange.client_gone_at
    assert (exchange.upstream_status, exchange.status, exchange.outcome) == (
        201,
        None,
        "client_gone",
    )


def test_a_patient_client_gets_the_stalled_answer(upstream: Upstream, proxy: FaultProxy) -> None:
    proxy.add_rule(Rule(Fault.stall(0.3, forward_late=True)))
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        assert client.get("/x").status_code == 200
    (exchange,) = proxy.exchanges
    assert (exchange.fault, exchange.status, exchange.late) == ("stall_late", 200, False)


def test_rules_count_matches_take_turns_and_respect_when(
    upstream: Upstream, proxy: FaultProxy, client: httpx.Client
) -> None:
    seen_by_when: list[str] = []

    def job_seven(request: ProxyRequest) -> bool:
        seen_by_when.append(request.path)
        return (request.json() or {}).get("id") == 7

    proxy.add_rule(Rule(Fault.error(503), method="POST", path=r"/jobs/get$", nth=2, times=2))
    proxy.add_rule(Rule(Fault.error(502), path=r"/jobs/get$", when=job_seven, name="job-7"))
    statuses = [
        client.post("/api/v1/jobs/get", json={"id": i}).status_code for i in (5, 6, 7, 7, 7)
    ]
    # 1st: no rule yet; 2nd and 3rd: the first rule (its 2nd and 3rd match). The 3rd is also
    # the second rule's 1st match, but a request goes to the first rule that claims it, so the
    # second rule fires on its next match, the 4th request; then both are used up.
    assert statuses == [201, 503, 503, 502, 201]
    faults = [(e.ids.get("id"), e.fault, e.source) for e in proxy.exchanges]
    assert faults == [
        ("5", None, None),
        ("6", "503", "503@POST /jobs/get$#2"),
        ("7", "503", "503@POST /jobs/get$#2"),
        ("7", "502", "job-7"),
        ("7", None, None),
    ]
    assert client.get("/api/v1/jobs/get").status_code == 200  # no rule left
    first, second = proxy.rules
    assert (first.matched, first.applied) == (3, 2)
    assert (second.matched, second.applied) == (2, 1)
    # ``when`` ran only while its rule was live and the method and path matched.
    assert seen_by_when == ["/api/v1/jobs/get"] * 4


def _fault_sequence(upstream: Upstream, seed: int) -> list[str | None]:
    schedule = FaultSchedule(
        seed,
        [(Fault.error(503), 0.2), (Fault.rate_limited(0), 0.2), (Fault.reset_before(), 0.1)],
        path=r"^/api/",
    )
    with FaultProxy(upstream.url, schedule=schedule) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=5) as client:
            for i in range(40):
                with contextlib.suppress(httpx.TransportError):
                    client.get(f"/api/public/v1/jobs/{i}")
            client.get("/health")  # outside the schedule's filter: draws nothing
        assert schedule.drawn == 40
        return [e.fault for e in proxy.exchanges]


def test_seeded_schedule_is_reproducible(upstream: Upstream) -> None:
    first = _fault_sequence(upstream, seed=11)
    assert first == _fault_sequence(upstream, seed=11)
    assert first != _fault_sequence(upstream, seed=12)
    assert {"503", "429", "reset_before", None} <= set(first)
    assert first[-1] is None


def test_down_refuses_then_recovers(upstream: Upstream, proxy: FaultProxy) -> None:
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        assert client.get("/a").status_code == 200  # a pooled keep-alive connection
        outage = proxy.down(None, mode="refuse")
        assert proxy.is_down
        with pytest.raises(httpx.TransportError):
            client.get("/b")  # the pooled connection was reset...
        with pytest.raises(httpx.ConnectError):
            client.get("/c")  # ...and new ones are refused
        proxy.up()
        assert client.get("/d").status_code == 200
    assert not proxy.is_down
    assert upstream.paths() == ["/a", "/d"]
    assert outage.ended_at is not None
    assert proxy.outages == [outage]
    assert outage.mode == "refuse"


def test_down_reset_mode_and_timed_recovery(upstream: Upstream, proxy: FaultProxy) -> None:
    outage = proxy.down(3, mode="reset")
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        with pytest.raises(httpx.TransportError):
            client.get("/during")
        for _ in range(200):  # the outage ends by itself
            if outage.ended_at is not None:
                break
            threading.Event().wait(0.05)
        assert not proxy.is_down
        assert client.get("/after").status_code == 200
    assert upstream.paths() == ["/after"]
    assert outage.rejected >= 1
    assert proxy.exchanges[-1].path == "/after"  # rejected connections carry no request


def test_upstream_unreachable_is_a_502(proxy: FaultProxy, upstream: Upstream) -> None:
    upstream.close()
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        response = client.get("/x")
    assert response.status_code == 502
    (exchange,) = proxy.exchanges
    assert exchange.outcome == "upstream_error"


def test_both_airbyte_apis_and_client_credentials_pass_transparently(
    local_airbyte_factory: Any,
) -> None:
    server = local_airbyte_factory(seed="sample", auth="client-credentials")
    with FaultProxy(server.url) as proxy, httpx.Client(base_url=proxy.url, timeout=30) as client:
        token = client.post(
            "/api/public/v1/applications/token",
            json={"client_id": "local-client", "client_secret": "local-secret"},
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/v1/workspaces/list", json={}).status_code == 401
        config = client.post(
            "/api/v1/connections/get",
            json={"connectionId": server.sample_connection_id},
            headers=auth,
        )
        assert config.json()["connectionId"] == server.sample_connection_id
        public = client.get(
            "/api/public/v1/connections", params={"workspaceIds": server.workspace_id}, headers=auth
        ).json()
        assert [c["connectionId"] for c in public["data"]] == [server.sample_connection_id]
        # Pagination links point back at the proxy, since Host is forwarded unchanged.
        assert public["next"].startswith(proxy.url)
    paths = [(e.method, e.path, e.status) for e in proxy.exchanges]
    assert paths == [
        ("POST", "/api/public/v1/applications/token", 200),
        ("POST", "/api/v1/workspaces/list", 401),
        ("POST", "/api/v1/connections/get", 200),
        ("GET", "/api/public/v1/connections", 200),
    ]
