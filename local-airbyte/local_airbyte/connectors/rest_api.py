"""REST API source: one stream of JSON records from one URL, with an API key.

The key is sent as ``Authorization: Bearer <api_key>`` by default, the most common scheme; set
``api_key_header`` (e.g. ``"X-API-Key"``) to send the raw key in that header instead. Records are
the list at ``records_path`` (dotted, e.g. ``data.items``), else the body itself when it is a
list, else the first list value of the body object. Pages are followed through a ``next`` link:
the body's ``next`` / ``links.next`` / ``pagination.next`` / ``meta.next`` (an absolute or
relative URL), or an HTTP ``Link: <...>; rel="next"`` header. Incremental reads filter on
``cursor_field`` client side (strictly greater than the last cursor), since an arbitrary API
offers no standard filter parameter. ``discover`` infers the JSON schema from the first page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urljoin, urlparse

import httpx

from .base import ConfiguredStream, ConnectorError, DiscoveredStream, Record

__all__ = ["RestApiSource"]

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_MAX_PAGES = 10_000
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _url(config: dict[str, Any]) -> str:
    url = config.get("url")
    if not isinstance(url, str) or urlparse(url).scheme not in ("http", "https"):
        raise ConnectorError(f"REST API: 'url' must be an http(s) URL, got {url!r}.")
    method = str(config.get("method") or "GET").upper()
    if method != "GET":
        raise ConnectorError(f"REST API: method {method!r} is not supported; use GET.")
    return url


def _headers(config: dict[str, Any]) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "local-airbyte-rest-api"}
    key = config.get("api_key")
    if key:
        header = config.get("api_key_header")
        if header:
            headers[str(header)] = str(key)
        else:
            headers["Authorization"] = f"Bearer {key}"
    return headers


def _stream_name(config: dict[str, Any]) -> str:
    name = config.get("stream_name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    segments = [s for s in urlparse(_url(config)).path.split("/") if s]
    return segments[-1] if segments else "records"


def _scrub(text: str, config: dict[str, Any]) -> str:
    key = config.get("api_key")
    return text.replace(str(key), "***") if key else text


def _records(body: Any, path: str | None) -> list[Any]:
    if path:
        node = body
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConnectorError(
                    f"REST API: records_path {path!r} not found in the response (missing "
                    f"{part!r}); check the path against a sample response."
                )
            node = node[part]
        if not isinstance(node, list):
            raise ConnectorError(f"REST API: records_path {path!r} is not a list.")
        return node
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list):
                return value
        return [body]  # a single object is one record
    raise ConnectorError("REST API: the response is not a JSON list or object.")


def _next_link(response: httpx.Response, body: Any) -> str | None:
    link = response.links.get("next", {}).get("url")
    candidates: list[Any] = [link]
    if isinstance(body, dict):
        candidates.append(body.get("next"))
        for holder in ("links", "pagination", "meta", "_links"):
            inner = body.get(holder)
            if isinstance(inner, dict):
                value = inner.get("next")
                candidates.append(value.get("href") if isinstance(value, dict) else value)
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            return urljoin(str(response.url), candidate)
    return None


def _json_type(values: list[Any]) -> dict[str, Any]:
    """The JSON schema of one field from its sample values (always nullable)."""
    kinds: list[str] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            kind = "boolean"
        elif isinstance(value, int):
            kind = "integer"
        elif isinstance(value, float):
            kind = "number"
        elif isinstance(value, str):
            kind = "string"
        elif isinstance(value, dict):
            kind = "object"
        elif isinstance(value, list):
            kind = "array"
        else:
            kind = "string"
        if kind not in kinds:
            kinds.append(kind)
    if set(kinds) == {"integer", "number"}:
        kinds = ["number"]
    schema: dict[str, Any] = {"type": ["null", *kinds]} if kinds else {}
    if kinds == ["string"] and all(_is_datetime(v) for v in values if v is not None):
        schema["format"] = "date-time"
    return schema


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value or len(value) < 16:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _greater(value: Any, cursor: Any) -> bool:
    """``value > cursor``, comparing date-times as instants and numbers as numbers."""
    if value is None:
        return False
    if _is_datetime(value) and _is_datetime(cursor):
        left, right = datetime.fromisoformat(value), datetime.fromisoformat(cursor)
        if (left.tzinfo is None) == (right.tzinfo is None):
            return left > right
    try:
        return bool(value > cursor)
    except TypeError:
        return str(value) > str(cursor)


def _key_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ConnectorError(f"REST API: primary_key must be a name or a list, got {value!r}.")


class RestApiSource:
    """One JSON list from one HTTP endpoint, as one stream."""

    name: ClassVar[str] = "REST API"
    definition_id: ClassVar[str] = "7b3f4c2e-9d1a-4e8b-a6f0-2c5d8e1b3a47"
    docker_repository: ClassVar[str] = "airbyte/source-declarative-manifest"
    source_type: ClassVar[str] = "api"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"api_key"})

    def spec(self) -> dict[str, Any]:
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "REST API Source Spec",
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {
                    "type": "string",
                    "title": "URL",
                    "examples": ["https://api.example.com/customers"],
                },
                "api_key": {"type": "string", "title": "API key", "airbyte_secret": True},
                "api_key_header": {
                    "type": "string",
                    "title": "API key header",
                    "description": "Send the raw key in this header; default Authorization: Bearer.",
                },
                "method": {"type": "string", "enum": ["GET"], "default": "GET"},
                "stream_name": {
                    "type": "string",
                    "description": "Defaults to the last segment of the URL path.",
                },
                "records_path": {
                    "type": "string",
                    "description": "Dotted path to the list of records, e.g. data.items.",
                },
                "primary_key": {
                    "description": "Field name(s) identifying a record.",
                    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                },
                "cursor_field": {
                    "type": "string",
                    "description": "Field for incremental reads (e.g. updated_at).",
                },
            },
        }

    def _pages(
        self, config: dict[str, Any], cancelled: threading.Event | None = None
    ) -> Iterator[list[Any]]:
        url: str | None = _url(config)
        path = config.get("records_path") or None
        seen: set[str] = set()
        with httpx.Client(
            headers=_headers(config), timeout=_TIMEOUT, follow_redirects=True
        ) as client:
            while url and url not in seen and len(seen) < _MAX_PAGES:
                if cancelled is not None and cancelled.is_set():
                    return
                seen.add(url)
                response = self._get(client, url, config)
                try:
                    body = response.json()
                except ValueError:
                    raise ConnectorError(
                        f"REST API: {_scrub(url, config)} did not return JSON "
                        f"(content-type {response.headers.get('content-type')!r})."
                    ) from None
                yield _records(body, path)
                url = _next_link(response, body)

    @staticmethod
    def _get(client: httpx.Client, url: str, config: dict[str, Any]) -> httpx.Response:
        shown = _scrub(url, config)
        for attempt in range(3):
            try:
                response = client.get(url)
            except httpx.HTTPError as exc:
                if attempt == 2:
                    raise ConnectorError(
                        f"REST API: GET {shown} failed: {type(exc).__name__}: "
                        f"{_scrub(str(exc), config)}. Check the URL and that the server is up."
                    ) from None
                time.sleep(0.2 * 2**attempt)
                continue
            if response.status_code in _RETRY_STATUSES and attempt < 2:
                time.sleep(min(float(response.headers.get("retry-after") or 0.2 * 2**attempt), 5))
                continue
            if response.status_code in (401, 403):
                raise ConnectorError(
                    f"REST API: GET {shown} returned {response.status_code} "
                    f"{response.reason_phrase}: check api_key (and api_key_header)."
                )
            if response.is_error:
                raise ConnectorError(
                    f"REST API: GET {shown} returned {response.status_code} "
                    f"{response.reason_phrase}."
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def check(self, config: dict[str, Any]) -> None:
        for _ in self._pages(config):
            return

    def discover(self, config: dict[str, Any]) -> list[DiscoveredStream]:
        sample: list[Any] = next(iter(self._pages(config)), [])
        records = [r for r in sample if isinstance(r, dict)]
        fields: dict[str, list[Any]] = {}
        for record in records:
            for key, value in record.items():
                fields.setdefault(key, []).append(value)
        for key in fields:
            # A field missing from some records is null there.
            fields[key].extend([None] * (len(records) - len(fields[key])))
        primary_key = _key_list(config.get("primary_key"))
        cursor = config.get("cursor_field")
        return [
            DiscoveredStream(
                name=_stream_name(config),
                json_schema={
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {k: _json_type(v) for k, v in fields.items()},
                },
                supported_sync_modes=("full_refresh", "incremental"),
                source_defined_cursor=bool(cursor),
                default_cursor_field=(str(cursor),) if cursor else (),
                source_defined_primary_key=tuple((k,) for k in primary_key),
            )
        ]

    def read(
        self,
        config: dict[str, Any],
        stream: ConfiguredStream,
        cursor_value: Any | None,
        cancelled: threading.Event,
    ) -> Iterator[list[Record]]:
        cursor = (stream.cursor_field or (config.get("cursor_field"),))[0]
        incremental = stream.sync_mode == "incremental" and cursor_value is not None
        for page in self._pages(config, cancelled):
            records = [r if isinstance(r, dict) else {"value": r} for r in page]
            if incremental and cursor:
                records = [r for r in records if _greater(r.get(cursor), cursor_value)]
            if records:
                yield records
