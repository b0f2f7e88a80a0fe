"""Authentication modes of the local Airbyte: ``none``, ``basic`` or ``client-credentials``.

Tokens are HS256 JWTs signed with a key that lives only in memory: a restart (or the revoke
test control) invalidates every token, and clients must fetch a new one, as after expiry.
The same token is accepted on the Config API and the Public API.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import time
import uuid

from .api_errors import InvalidInput, Unauthorized

__all__ = ["OPEN_PATHS", "Authenticator", "TokenIssuer", "open_paths"]

# Paths a real deployment serves without credentials (Public paths under the profile's prefix).
OPEN_PATHS = frozenset(
    {"/api/v1/health", "/api/public/v1/health", "/api/public/v1/applications/token"}
)


def open_paths(public_prefix: str) -> frozenset[str]:
    return frozenset(
        {
            "/api/v1/health",
            "/api/v1/applications/token",
            f"{public_prefix}/health",
            f"{public_prefix}/applications/token",
        }
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and verifies access tokens for one client id/secret pair."""

    def __init__(
        self, client_id: str, client_secret: str, expires_in: int, invalid_status: int = 400
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self.expires_in = expires_in
        self.invalid_status = invalid_status
        self._key = secrets.token_bytes(32)

    def __repr__(self) -> str:  # never show the secret
        return f"TokenIssuer(client_id={self._client_id!r}, expires_in={self.expires_in})"

    def issue(self, client_id: str, client_secret: str) -> str:
        ok_id = hmac.compare_digest(client_id.encode(), self._client_id.encode())
        ok_secret = hmac.compare_digest(client_secret.encode(), self._client_secret.encode())
        if not (ok_id and ok_secret):
            # Airbyte OSS answered wrong credentials with 400 (BadRequestException, DIGEST §0);
            # main answers 401 (InvalidClientCredentialsExceptionHandler.kt@main:29-45).
            if self.invalid_status == 401:
                raise Unauthorized("Invalid client id or token")
            raise InvalidInput("client_id", "Invalid client id or token")
        now = int(time.time())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(
            json.dumps(
                {
                    "iss": "local-airbyte",
                    "sub": client_id,
                    "iat": now,
                    # Rounded up so a token never expires before ``expires_in`` has passed.
                    "exp": math.ceil(time.time() + self.expires_in),
                    "jti": str(uuid.uuid4()),
                }
            ).encode()
        )
        signature = _b64(
            hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        )
        return f"{header}.{payload}.{signature}"

    def verify(self, token: str) -> bool:
        try:
            header, payload, signature = token.split(".")
            expected = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(_unb64(signature), expected):
                return False
            claims = json.loads(_unb64(payload))
        except (ValueError, binascii.Error):
            return False
        return isinstance(claims, dict) and float(claims.get("exp", 0)) > time.time()

    def revoke_all(self) -> None:
        self._key = secrets.token_bytes(32)


class Authenticator:
    """Checks the ``Authorization`` header of one request against the configured mode."""

    def __init__(
        self,
        mode: str,
        basic: tuple[str, str],
        tokens: TokenIssuer,
        open_paths: frozenset[str] = OPEN_PATHS,
    ) -> None:
        if mode not in ("none", "basic", "client-credentials"):
            raise ValueError(f"unknown auth mode {mode!r}")
        self.mode = mode
        self._basic = basic
        self.tokens = tokens
        self.open_paths = open_paths

    def __repr__(self) -> str:
        return f"Authenticator(mode={self.mode!r})"

    def check(self, path: str, authorization: str | None) -> None:
        """Raise Unauthorized unless the request may proceed."""
        if self.mode == "none" or path in self.open_paths or path.startswith("/_local/"):
            return
        scheme, _, value = (authorization or "").partition(" ")
        if self.mode == "basic" and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, binascii.Error):
                raise Unauthorized("Malformed basic credentials") from None
            if hmac.compare_digest(user.encode(), self._basic[0].encode()) and hmac.compare_digest(
                password.encode(), self._basic[1].encode()
            ):
                return
            raise Unauthorized("Invalid username or password")
        if self.mode == "client-credentials" and scheme.lower() == "bearer":
            if self.tokens.verify(value.strip()):
                return
            raise Unauthorized("The access token is invalid or has expired")
        raise Unauthorized("Missing or unsupported credentials")
