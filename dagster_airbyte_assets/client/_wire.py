"""What both dialects share on the wire: timestamps, ids in paths, and strict reading of bodies.

Neither dialect borrows from the other; both use these. Reading is strict on purpose: a
server that answers 200 with JSON of another shape is not Airbyte (or not the right URL), and
saying so beats reporting "no workspace" or "no jobs".
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from dagster_airbyte_assets.errors import (
    AirbyteConfigurationError,
    AirbyteNotAirbyteError,
    redact_url,
)

__all__ = [
    "check_uuid",
    "destination_fields",
    "expect_list",
    "expect_mapping",
    "iso_utc",
    "parse_datetime",
    "path_segment",
    "reading",
    "str_or_none",
    "tag_names",
]


def parse_datetime(value: Any) -> datetime | None:
    """Epoch seconds (Config API) or ISO 8601 (Public API) to an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds, seen from some proxies and old servers
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, tz=UTC)
    text = str(value).strip()
    if text.isdigit():
        return parse_datetime(int(text))
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """UTC with a real ``Z``: a naive datetime is taken as UTC, an aware one converted."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def path_segment(value: str | int) -> str:
    """An id as one URL path segment: ``/``, ``?``, ``#`` and dot segments cannot escape it.

    Ids come from users and saved state; ``../workspaces`` must not reach another endpoint.
    """
    text = quote(str(value), safe="")
    if text in ("", ".", ".."):
        text = text.replace(".", "%2E") or "%20"
    return text


def check_uuid(value: str, what: str) -> None:
    """Airbyte's connection, workspace, source and destination ids are UUIDs (config-api.yaml);
    anything else is refused before it reaches a URL or a query."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise AirbyteConfigurationError(
            f"{what} must be an Airbyte id (a UUID), not {value!r}"
        ) from None


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def destination_fields(configuration: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The non-secret parts of a destination configuration the loader needs (nothing else).

    Both dialects carry a destination's configuration (``connectionConfiguration`` /
    ``configuration``) with the connector's own keys, so the reading is shared.
    """
    cfg = configuration if isinstance(configuration, Mapping) else {}
    return {
        "database": str_or_none(cfg.get("database")) or str_or_none(cfg.get("project_id")),
        "schema_name": str_or_none(cfg.get("schema")) or str_or_none(cfg.get("dataset_id")),
        "bucket_name": str_or_none(cfg.get("s3_bucket_name")),
        "bucket_path": str_or_none(cfg.get("s3_bucket_path")),
        "destination_path": str_or_none(cfg.get("destination_path")),
    }


def expect_mapping(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise TypeError(f"expected a JSON object ({what}), got {type(body).__name__}")
    return body


def expect_list(body: Any, key: str, what: str) -> list[Any]:
    """``body[key]`` as a list; a missing key or another type means this is not ``what``."""
    mapping = expect_mapping(body, what)
    items = mapping.get(key)
    if not isinstance(items, list):
        raise TypeError(f"expected {what} with a list under {key!r}")
    return items


@contextlib.contextmanager
def reading(what: str, method: str, url: str) -> Iterator[None]:
    """Turn a body of the wrong shape into ``AirbyteNotAirbyteError`` naming what was expected."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise AirbyteNotAirbyteError(
            f"{redact_url(url)} answered with JSON that is not an Airbyte {what} "
            f"({type(exc).__name__}: {exc}); is this an Airbyte server and the right URL?",
            method=method,
            url=url,
        ) from None


def tag_names(value: Any) -> list[str]:
    """The names of a connection's tags (``tags: [{tagId, name, color, workspaceId}]``).

    ``ConnectionRead.tags`` and the Public ``ConnectionResponse.tags`` exist from Airbyte v1.6.0
    (config.yaml@v1.6.0; ``ConnectionReadMapper.kt@v1.6.0`` ~100); older servers send none.
    """
    if not isinstance(value, list):
        return []
    names = (item.get("name") for item in value if isinstance(item, Mapping))
    return sorted({name for name in names if isinstance(name, str) and name})
