"""One URL in, the dialect and both API base URLs out.

Users paste whatever they have: a deployment root (``http://localhost:8000``), the old
Config API (``http://localhost:8001/api/v1``), the Public API (``.../api/public/v1``) or
Airbyte Cloud (``https://api.airbyte.com/v1``). The rules are the contract in the issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from dagster_airbyte_assets.client._models import ApiDialect
from dagster_airbyte_assets.errors import AirbyteConfigurationError, redact_url

__all__ = [
    "CLOUD_CONFIG_API_URL",
    "CLOUD_PUBLIC_API_URL",
    "CLOUD_UI_URL",
    "ResolvedUrls",
    "resolve_urls",
]

CLOUD_PUBLIC_API_URL = "https://api.airbyte.com/v1"
CLOUD_CONFIG_API_URL = "https://cloud.airbyte.com/api/v1"
CLOUD_UI_URL = "https://cloud.airbyte.com"

_PUBLIC_SUFFIX = "/api/public/v1"
_CONFIG_SUFFIX = "/api/v1"


@dataclass(frozen=True)
class ResolvedUrls:
    dialect: ApiDialect
    config_api_url: str
    public_api_url: str
    ui_url: str | None


def _check_dialect(api: str | None) -> ApiDialect | None:
    if api is None or api == "":
        return None
    lowered = api.strip().lower()
    if lowered not in ("config", "public"):
        raise AirbyteConfigurationError(f"api must be 'config' or 'public', not {api!r}")
    return cast(ApiDialect, lowered)


def resolve_urls(url: str, api: str | None = None) -> ResolvedUrls:
    """Guess the dialect and derive both API bases from ``url``; ``api`` overrides the guess."""
    forced = _check_dialect(api)
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AirbyteConfigurationError(
            f"url must be an http(s) URL such as http://localhost:8000, not {redact_url(url)!r}"
        )
    host = (parts.hostname or "").lower()
    if host == "api.airbyte.com":
        return ResolvedUrls(forced or "public", CLOUD_CONFIG_API_URL, text, CLOUD_UI_URL)
    if host == "cloud.airbyte.com":
        return ResolvedUrls(
            forced or "config", CLOUD_CONFIG_API_URL, CLOUD_PUBLIC_API_URL, CLOUD_UI_URL
        )
    if text.endswith(_PUBLIC_SUFFIX):
        root = text[: -len(_PUBLIC_SUFFIX)]
        return ResolvedUrls(forced or "public", root + _CONFIG_SUFFIX, text, root)
    if text.endswith(_CONFIG_SUFFIX):
        root = text[: -len(_CONFIG_SUFFIX)]
        return ResolvedUrls(forced or "config", text, root + _PUBLIC_SUFFIX, root)
    return ResolvedUrls(forced or "public", text + _CONFIG_SUFFIX, text + _PUBLIC_SUFFIX, text)
