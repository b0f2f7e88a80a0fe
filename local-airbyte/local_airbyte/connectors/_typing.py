"""Typed final tables shared by the SQL and file destinations ("typing and deduping").

Airbyte's v2 destinations turn a stream's JSON schema into typed columns, add the Airbyte
columns, and when a value does not fit its column they write NULL and say so in
``_airbyte_meta.changes`` rather than fail the sync. This module holds that logic once, so
DuckDB, PostgreSQL and S3 (Parquet) type the same record the same way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Literal

from .base import AIRBYTE_COLUMNS, ConfiguredStream, ConnectorError

__all__ = [
    "Column",
    "ColumnKind",
    "column_kind",
    "dedup_select_sql",
    "key_columns",
    "quote_identifier",
    "stream_columns",
    "typed_row",
]

ColumnKind = Literal[
    "string", "integer", "number", "boolean", "timestamp_tz", "timestamp", "date", "time", "json"
]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_AIRBYTE_KINDS: dict[str, ColumnKind] = {
    "_airbyte_raw_id": "string",
    "_airbyte_extracted_at": "timestamp_tz",
    "_airbyte_meta": "json",
    "_airbyte_generation_id": "integer",
}


@dataclass(frozen=True)
class Column:
    """One column of a final table: ``source`` is the record key, ``name`` the column name."""

    name: str
    source: str
    kind: ColumnKind


def quote_identifier(name: str) -> str:
    """Double-quote an SQL identifier (DuckDB and PostgreSQL share the rule)."""
    return '"' + name.replace('"', '""') + '"'


def _types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    for combinator in ("oneOf", "anyOf"):
        options = schema.get(combinator)
        if isinstance(options, list):
            found: list[str] = []
            for option in options:
                if isinstance(option, dict):
                    found.extend(t for t in _types(option) if t not in found)
            return found
    return []


def column_kind(schema: dict[str, Any]) -> ColumnKind:
    """The column kind of one JSON-schema property; anything ambiguous becomes JSON."""
    types = [t for t in _types(schema) if t != "null"]
    if len(types) != 1:
        # Unions (and untyped properties) cannot be one SQL type: keep the JSON as is.
        return "json"
    (kind,) = types
    airbyte_type = schema.get("airbyte_type")
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "timestamp" if airbyte_type == "timestamp_without_timezone" else "timestamp_tz"
        if fmt == "date":
            return "date"
        if fmt == "time":
            return "time"
        return "string"
    if kind == "integer" or (kind == "number" and airbyte_type == "integer"):
        return "integer"
    if kind == "number":
        return "number"
    if kind == "boolean":
        return "boolean"
    return "json"


def stream_columns(
    stream: ConfiguredStream, normalize: Callable[[str], str] | None = None
) -> list[Column]:
    """Columns of ``stream``'s final table: its properties, then the Airbyte columns.

    ``normalize`` maps a property name to a column name (PostgreSQL lowercases); two
    properties that normalise to one name are an error the user must fix in the schema.
    """
    properties = stream.json_schema.get("properties") or {}
    columns: list[Column] = []
    seen: dict[str, str] = {}
    for key, schema in properties.items():
        if key in _AIRBYTE_KINDS:
            continue
        name = normalize(key) if normalize else key
        if name in seen:
            raise ConnectorError(
                f"Stream {stream.name!r}: properties {seen[name]!r} and {key!r} both map to "
                f"column {name!r}; rename one of them in the source."
            )
        seen[name] = key
        columns.append(Column(name, key, column_kind(schema if isinstance(schema, dict) else {})))
    columns.extend(Column(name, name, _AIRBYTE_KINDS[name]) for name in AIRBYTE_COLUMNS)
    return columns


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return datetime.fromisoformat(value.strip())
    raise ValueError(value)


def _coerce(value: Any, kind: ColumnKind) -> Any:
    """Return ``value`` as the Python type of ``kind``; raise ValueError if it does not fit."""
    if kind == "json":
        return json.dumps(value, default=str, allow_nan=False)
    if kind == "string":
        if isinstance(value, str):
            return value
        return json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, float | Decimal) and value == int(value):
            value = int(value)
        elif isinstance(value, str):
            value = int(value.strip())
        if not isinstance(value, int) or not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(value)
        return value
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, int):
            return value
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError(value)
    if kind == "timestamp_tz":
        moment = _parse_datetime(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if kind == "timestamp":
        return _parse_datetime(value).replace(tzinfo=None)
    if kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        return date.fromisoformat(str(value).strip())
    if kind == "time":
        clock = value if isinstance(value, time) else time.fromisoformat(str(value).strip())
        return clock.replace(tzinfo=None)
    raise ValueError(kind)  # pragma: no cover - exhaustive


def typed_row(record: dict[str, Any], columns: Iterable[Column]) -> list[Any]:
    """One row of typed values for ``columns``; misfits become NULL, noted in _airbyte_meta."""
    changes: list[dict[str, str]] = []
    row: list[Any] = []
    meta_index = -1
    for column in columns:
        value = record.get(column.source)
        if column.source == "_airbyte_meta":
            meta_index = len(row)
        if value is None:
            row.append(None)
            continue
        try:
            row.append(_coerce(value, column.kind))
        except (ValueError, TypeError, OverflowError):
            row.append(None)
            changes.append(
                {
                    "field": column.source,
                    "change": "NULLED",
                    "reason": "DESTINATION_SERIALIZATION_ERROR",
                }
            )
    if meta_index >= 0:
        meta = record.get("_airbyte_meta")
        meta = dict(meta) if isinstance(meta, dict) else {}
        if changes:
            meta["changes"] = [*(meta.get("changes") or []), *changes]
        meta.setdefault("changes", [])
        row[meta_index] = json.dumps(meta, default=str)
    return row


def dedup_select_sql(
    source_sql: str, columns: list[str], primary_key: list[str], cursor: str | None
) -> str:
    """SELECT one row per primary key from ``source_sql``: latest cursor, then latest extraction.

    Works in DuckDB and PostgreSQL alike (window functions, NULLS LAST).
    """
    cols = ", ".join(quote_identifier(c) for c in columns)
    partition = ", ".join(quote_identifier(c) for c in primary_key)
    order = [f"{quote_identifier(cursor)} DESC NULLS LAST"] if cursor else []
    order.append('"_airbyte_extracted_at" DESC NULLS LAST')
    return (
        f"SELECT {cols} FROM (SELECT {cols}, row_number() OVER (PARTITION BY {partition} "
        f'ORDER BY {", ".join(order)}) AS "_airbyte_row_number" FROM ({source_sql}) AS s) AS d '
        'WHERE "_airbyte_row_number" = 1'
    )


def key_columns(stream: ConfiguredStream, columns: list[Column]) -> tuple[list[str], str | None]:
    """(primary-key column names, cursor column name) of ``stream`` in its final table.

    A dedup mode without a primary key is a configuration error the user must fix.
    """
    by_source = {c.source: c.name for c in columns}
    keys: list[str] = []
    for path in stream.primary_key:
        if path and path[0] in by_source:
            keys.append(by_source[path[0]])
    cursor = by_source.get(stream.cursor_field[0]) if stream.cursor_field else None
    if stream.destination_sync_mode.endswith("_dedup") and not keys:
        raise ConnectorError(
            f"Stream {stream.name!r} uses {stream.destination_sync_mode} but has no primary key "
            "among its columns; choose a primary key for it in the connection."
        )
    return keys, cursor
