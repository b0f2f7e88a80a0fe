"""httpx auth flows for every way Airbyte authenticates.

Each is an ``httpx.Auth`` whose ``auth_flow`` generator adds a header and yields the request.
Client credentials fetch their token *through the same client* (same pool, same transport)
by yielding the token request first, refresh it before ``expires_in`` runs out, and on a 401
refresh once and replay the request. Secrets are kept in ``SecretStr`` and never in reprs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import httpx
from pydantic import SecretStr

from dagster_airbyte_assets.errors import (
    AirbyteAuthenticationError,
    AirbyteNotAirbyteError,
    AirbyteServerError,
)

__all__ = ["BasicAuth", "BearerTokenAuth", "ClientCredentialsAuth"]


def _secret(value: str | SecretStr) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


# Basic auth is httpx's own: it keeps only the encoded header, and its repr shows nothing.
BasicAuth = httpx.BasicAuth


class BearerTokenAuth(httpx.Auth):
    """A static Bearer token (e.g. ``AIRBYTE_SECRET_ACCESS_TOKEN``)."""

    def __init__(self, token: str | SecretStr) -> None:
        self._token = _secret(token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "BearerTokenAuth(token='**********')"


class ClientCredentialsAuth(httpx.Auth):
    """OAuth client credentials against ``POST /applications/token``.

    The token is fetched lazily, reused until ``expires_in`` minus a margin, and refreshed
    once when a request comes back 401 (the server may have restarted or rotated keys).
    A lock makes sure concurrent threads trigger one refresh, not one each.
    ``token_requests`` counts the token fetches so tests can assert "exactly one".
    """

    requires_response_body = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        refresh_margin: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = _secret(client_secret)
        self.refresh_margin = refresh_margin
        self._clock = clock  # injectable so tests can move time instead of sleeping
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.token_requests = 0

    def __repr__(self) -> str:
        return (
            f"ClientCredentialsAuth(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            "client_secret='**********')"
        )

    def _token_is_fresh(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at

    def _build_token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            json={
                "client_id": self.client_id,
                "client_secret": self._client_secret.get_secret_value(),
                "grant_type": "client_credentials",
            },
        )

    def _store_token(self, response: httpx.Response) -> None:
        url = str(response.request.url)
        if response.status_code in (400, 401, 403):
            raise AirbyteAuthenticationError(
                "Airbyte rejected the client credentials; check `client_id` / `client_secret`",
                status_code=response.status_code,
                method="POST",
                url=url,
            )
        if response.status_code >= 500:
            raise AirbyteServerError(
                "Airbyte failed to issue an access token",
                status_code=response.status_code,
                method="POST",
                url=url,
            )
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in") or 180)
        except (ValueError, KeyError, TypeError):
            raise AirbyteNotAirbyteError(
                "The token endpoint did not answer with an Airbyte access token; "
                "is this an Airbyte server?",
                status_code=response.status_code,
                method="POST",
                url=url,
            ) from None
        margin = min(self.refresh_margin, expires_in / 4)
        self._token = token
        self._expires_at = self._clock() + expires_in - margin

    def _fetch_token(self) -> Generator[httpx.Request, httpx.Response, str]:
        self.token_requests += 1
        response = yield self._build_token_request()
        self._store_token(response)
        assert self._token is not None
        return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # Holding the lock across the yield is fine with the sync httpx.Client this package
        # uses: the thread that yielded is the one that sends the token request and resumes us.
        with self._lock:
            if not self._token_is_fresh():
                yield from self._fetch_token()
            used = self._token
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code != 401:
            return
        with self._lock:
            # Another thread may already have refreshed after the same 401.
            if self._token == used:
                yield from self._fetch_token()
            fresh = self._token
        request.headers["Authorization"] = f"Bearer {fresh}"
        yield request
