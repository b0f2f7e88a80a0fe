"""Auth flows (token refresh before expiry, one refresh on 401) and the resource."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from client_payloads import CONN, ROOT, WS, public_job

from dagster_airbyte_assets.client import AirbyteClient, BasicAuth, ClientCredentialsAuth
from dagster_airbyte_assets.errors import AirbyteAuthenticationError, AirbyteConfigurationError
from dagster_airbyte_assets.resource import AirbyteCloudWorkspace, AirbyteWorkspace, build_auth

TOKEN_URL = f"{ROOT}/api/public/v1/applications/token"


class TokenServer:
    """``/applications/token`` plus ``GET /workspaces/{id}`` that checks the current token."""

    def __init__(self, expires_in: int = 900) -> None:
        self.expires_in = expires_in
        self.issued = 0
        self.valid: set[str] = set()
        self.lock = threading.Lock()

    def revoke(self) -> None:
        self.valid.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/applications/token"):
            body = json.loads(request.content)
            if body.get("client_secret") != "s3cr3t":
                return httpx.Response(400, json={"title": "bad-request", "type": "x"})
            with self.lock:
                self.issued += 1
                token = f"token-{self.issued}"
                self.valid.add(token)
            return httpx.Response(
                200,
                json={"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in},
            )
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.valid:
            return httpx.Response(401, json={"title": "invalid-api-key", "type": "x"})
        return httpx.Response(200, json={"workspaceId": WS, "name": "default", "jobId": 1})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(server: TokenServer, auth: httpx.Auth) -> AirbyteClient:
    return AirbyteClient.from_url(ROOT, transport=httpx.MockTransport(server), auth=auth)


def test_token_is_fetched_lazily_and_reused() -> None:
    server = TokenServer()
    auth = ClientCredentialsAuth(TOKEN_URL, "id", "s3cr3t")
    with _client(server, auth) as client:
        assert auth.token_requests == 0
        for _ in range(5):
            client.get_workspace(WS)
    assert auth.token_requests == 1 and server.issued == 1


def test_token_is_refreshed_before_expires_in_runs_out() -> None:
    server = TokenServer(expires_in=120)
    clock = FakeClock()
    auth = ClientCredentialsAuth(TOKEN_URL, "id", "s3cr3t", refresh_margin=30, clock=clock)
    with _client(server, auth) as client:
        client.get_workspace(WS)
        clock.now += 89  # 120 - 30 margin = 90: still fresh
        client.get_workspace(WS)
        assert auth.token_requests == 1
        clock.now += 2  # inside the margin: refreshed *before* the server would refuse it
        client.get_workspace(WS)
        assert auth.token_requests == 2
        assert client.request_count == 5  # 3 calls + 2 token requests, no 401 on the way


def test_a_401_refreshes_exactly_once_even_from_many_threads() -> None:
    server = TokenServer()
    auth = ClientCredentialsAuth(TOKEN_URL, "id", "s3cr3t")
    with _client(server, auth) as client:
        client.get_workspace(WS)
        server.revoke()  # e.g. the server restarted with new keys
        errors: list[BaseException] = []

        def work() -> None:
            try:
                client.get_workspace(WS)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert auth.token_requests == 2  # the first token, then exactly one refresh


def test_a_second_401_is_an_authentication_error_not_a_loop() -> None:
    def app(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/applications/token"):
            return httpx.Response(
                200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 900}
            )
        return httpx.Response(401, json={"title": "invalid-api-key", "type": "x"})

    auth = ClientCredentialsAuth(TOKEN_URL, "id", "s3cr3t")
    client = AirbyteClient.from_url(ROOT, transport=httpx.MockTransport(app), auth=auth)
    with client, pytest.raises(AirbyteAuthenticationError, match="client_id"):
        client.get_workspace(WS)
    assert auth.token_requests == 2


def test_wrong_client_secret_names_the_settings_and_hides_the_secret() -> None:
    auth = ClientCredentialsAuth(TOKEN_URL, "id", "WRONG-secret-value")
    client = _client(TokenServer(), auth)
    with client, pytest.raises(AirbyteAuthenticationError) as info:
        client.get_workspace(WS)
    text = str(info.value) + repr(info.value) + repr(auth) + repr(client)
    assert "`client_id` / `client_secret`" in str(info.value)
    assert "WRONG-secret-value" not in text


def test_basic_auth_header_and_repr() -> None:
    seen: list[str] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"workspaceId": WS, "name": "w"})

    auth = BasicAuth("airbyte", "pa55word")
    with AirbyteClient.from_url(ROOT, transport=httpx.MockTransport(app), auth=auth) as client:
        client.get_workspace(WS)
    assert seen == ["Basic YWlyYnl0ZTpwYTU1d29yZA=="]
    assert "pa55word" not in repr(auth)


def test_build_auth_rejects_ambiguous_or_partial_settings() -> None:
    with pytest.raises(AirbyteConfigurationError, match="not several"):
        build_auth(public_api_url=ROOT, token="t", username="u", password="p")
    with pytest.raises(AirbyteConfigurationError, match="client_secret"):
        build_auth(public_api_url=ROOT, client_id="x")
    assert build_auth(public_api_url=ROOT) == (None, build_auth(public_api_url=ROOT)[1])


def test_resource_client_is_built_once_and_secrets_stay_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster import EnvVar

    monkeypatch.setenv("AB_SECRET", "env-secret-value")
    resource = AirbyteWorkspace(
        url="http://localhost:8000", client_id="cid", client_secret=EnvVar("AB_SECRET")
    )
    clients: list[AirbyteClient] = []
    threads = [
        threading.Thread(target=lambda: clients.append(resource.get_client())) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in clients}) == 1
    client = clients[0]
    assert client.api == "public"
    assert isinstance(client.http_client.auth, ClientCredentialsAuth)
    literal = AirbyteWorkspace(url="http://h:8001/api/v1", username="u", password="plain-pw")
    assert "plain-pw" not in repr(literal) and "env-secret-value" not in repr(
        client.http_client.auth
    )
    assert literal.get_client().api == "config"


def test_resource_workspace_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    def one(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"workspaceId": WS, "name": "only"}]})

    def two(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"data": [{"workspaceId": "w1", "name": "a"}, {"workspaceId": "w2", "name": "b"}]},
        )

    for app, expected in ((one, WS), (two, None)):
        client = AirbyteClient.from_url(ROOT, api="public", transport=httpx.MockTransport(app))
        resource = AirbyteWorkspace(url=ROOT)
        monkeypatch.setattr(AirbyteWorkspace, "get_client", lambda self, c=client: c)
        if expected:
            assert resource.resolve_workspace_id() == expected
            assert resource.resolve_workspace_id() == expected  # cached: asked once
        else:
            with pytest.raises(AirbyteConfigurationError, match="'a' \\(w1\\), 'b' \\(w2\\)"):
                resource.resolve_workspace_id()
    assert AirbyteWorkspace(url=ROOT, workspace_id=WS).resolve_workspace_id() == WS


def test_cloud_preset() -> None:
    cloud = AirbyteCloudWorkspace(client_id="id", client_secret="sec", workspace_id=WS)
    client = cloud.get_client()
    assert client.public_api_url == "https://api.airbyte.com/v1"
    assert client.config_api_url == "https://cloud.airbyte.com/api/v1"
    assert client.job_ui_url(WS, CONN, 3) == (
        f"https://cloud.airbyte.com/workspaces/{WS}/connections/{CONN}/job-history#3::0"
    )
    assert isinstance(client.http_client.auth, ClientCredentialsAuth)
    assert client.http_client.auth.token_url == "https://api.airbyte.com/v1/applications/token"
    assert public_job()["connectionId"] == CONN
