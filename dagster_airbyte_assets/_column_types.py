"""The columns a stream's table has in its destination, typed as the destination types them.

Predicted from the destinations' own rules (never from the local Airbyte):

- **PostgreSQL** (Java v2 destination, typing and deduping: ``AirbyteType.fromJsonSchema`` and
  ``PostgresSqlGenerator.toDialectType``): string ``varchar``, integer (or number with
  ``airbyte_type: integer``) ``bigint``, number ``numeric``, boolean ``boolean``, date
  ``date``, date-time ``timestamp with time zone`` (``timestamp without time zone`` with
  ``airbyte_type: timestamp_without_timezone``), time ``time with time zone`` (likewise
  ``time without time zone``), objects, arrays and unknown types ``jsonb``. A union of several
  types is one of them by ``Union.chooseType``: array or object first (``jsonb``), else the
  first in the protocol's order (string, number, integer, boolean, timestamps, times, date).
  Then ``_airbyte_raw_id`` (varchar), ``_airbyte_extracted_at`` (timestamp with time zone),
  ``_airbyte_meta`` (jsonb), all three not null, and ``_airbyte_generation_id`` (bigint).
- **DuckDB / MotherDuck** (``destination-duckdb``'s ``DestinationDuckdb.
  _get_sql_column_definitions`` with ``airbyte_cdk.sql.types.SQLTypeConverter``): an
  ``airbyte_type`` wins, else string ``VARCHAR``, integer ``BIGINT``, number
  ``DECIMAL(38,9)``, boolean ``BOOLEAN``, date ``DATE``, date-time ``TIMESTAMP`` (with or
  without time zone alike), time ``TIME``, object and array ``JSON``; anything else (a union
  of several types) ``VARCHAR``. Then ``_airbyte_raw_id`` (VARCHAR), ``_airbyte_extracted_at``
  (TIMESTAMP) and ``_airbyte_meta`` (JSON); this destination writes no generation id.

Type names are spelled as each database reports them (``information_schema.columns``), which is
what dbt shows for the same table. Column names follow the destination's identifier rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from dagster_airbyte_assets._names import destination_identifier

__all__ = ["TYPED_DESTINATIONS", "destination_column_schema"]

TYPED_DESTINATIONS = frozenset({"postgres", "duckdb", "motherduck"})

# AirbyteProtocolType's declaration order, which Union.chooseType falls back on.
_PROTOCOL_ORDER = (
    "string",
    "number",
    "integer",
    "boolean",
    "timestamp_with_timezone",
    "timestamp_without_timezone",
    "time_with_timezone",
    "time_without_timezone",
    "date",
)
_POSTGRES_TYPES = {
    "string": "character varying",
    "number": "numeric",
    "integer": "bigint",
    "boolean": "boolean",
    "timestamp_with_timezone": "timestamp with time zone",
    "timestamp_without_timezone": "timestamp without time zone",
    "time_with_timezone": "time with time zone",
    "time_without_timezone": "time without time zone",
    "date": "date",
    "json": "jsonb",
}
_POSTGRES_AIRBYTE_COLUMNS = (
    ("_airbyte_raw_id", "character varying", False),
    ("_airbyte_extracted_at", "timestamp with time zone", False),
    ("_airbyte_meta", "jsonb", False),
    ("_airbyte_generation_id", "bigint", True),
)
_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DECIMAL(38,9)",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp_with_timezone": "TIMESTAMP",
    "timestamp_without_timezone": "TIMESTAMP",
    "time_with_timezone": "TIME",
    "time_without_timezone": "TIME",
    "object": "JSON",
    "array": "JSON",
}
_DUCKDB_AIRBYTE_COLUMNS = (
    ("_airbyte_raw_id", "VARCHAR", True),
    ("_airbyte_extracted_at", "TIMESTAMP", True),
    ("_airbyte_meta", "JSON", True),
)


def _protocol_type(schema: Mapping[str, Any]) -> str:
    """One non-union JSON-schema type as Airbyte's Java ``AirbyteType`` reads it."""
    kind = schema.get("type")
    airbyte_type = schema.get("airbyte_type")
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            without = airbyte_type == "timestamp_without_timezone"
            return "timestamp_without_timezone" if without else "timestamp_with_timezone"
        if fmt == "time":
            without = airbyte_type == "time_without_timezone"
            return "time_without_timezone" if without else "time_with_timezone"
        return "date" if fmt == "date" else "string"
    if kind == "integer" or (kind == "number" and airbyte_type == "integer"):
        return "integer"
    if kind in ("number", "boolean"):
        return str(kind)
    return "json"  # object, array, unknown


def _postgres_type(schema: Mapping[str, Any]) -> str:
    raw = schema.get("type")
    options: list[Mapping[str, Any]]
    if isinstance(raw, list):
        options = [{**schema, "type": t} for t in raw if t != "null"]
    elif raw is None and (schema.get("anyOf") or schema.get("oneOf")):
        found = schema.get("anyOf") or schema.get("oneOf") or []
        options = [o for o in found if isinstance(o, Mapping) and o.get("type") != "null"]
    else:
        options = [schema]
    kinds = [_protocol_type(o) for o in options] or ["json"]
    if "json" in kinds:
        return _POSTGRES_TYPES["json"]  # Union.chooseType: array and object come first
    return _POSTGRES_TYPES[min(kinds, key=_PROTOCOL_ORDER.index)]


def _duckdb_type(schema: Mapping[str, Any]) -> str:
    airbyte_type = schema.get("airbyte_type")
    if isinstance(airbyte_type, str) and airbyte_type in _DUCKDB_TYPES:
        return _DUCKDB_TYPES[airbyte_type]
    kind = schema.get("type")
    if isinstance(kind, list):
        concrete = [t for t in kind if t != "null"]
        kind = concrete[0] if len(concrete) == 1 else None
    fmt = schema.get("format")
    if kind == "string" and fmt in ("date", "date-time", "time"):
        return {"date": "DATE", "date-time": "TIMESTAMP", "time": "TIME"}[str(fmt)]
    if isinstance(kind, str) and kind in _DUCKDB_TYPES:
        return _DUCKDB_TYPES[kind]
    return "VARCHAR"  # the CDK's failover type


def destination_column_schema(
    json_schema: Mapping[str, Any], destination_type: str
) -> dg.TableSchema | None:
    """The table's columns in ``destination_type``'s own types, Airbyte's columns last."""
    properties = json_schema.get("properties")
    if not isinstance(properties, Mapping) or destination_type not in TYPED_DESTINATIONS:
        return None
    postgres = destination_type == "postgres"
    type_of = _postgres_type if postgres else _duckdb_type
    extra = _POSTGRES_AIRBYTE_COLUMNS if postgres else _DUCKDB_AIRBYTE_COLUMNS
    reserved = {name for name, _, _ in extra}
    columns = [
        dg.TableColumn(
            name=destination_identifier(name, destination_type),
            type=type_of(prop if isinstance(prop, Mapping) else {}),
            # Airbyte writes NULL (and says so in _airbyte_meta) where a value does not fit.
            constraints=dg.TableColumnConstraints(nullable=True),
        )
        for name, prop in properties.items()
        if name not in reserved
    ]
    columns += [
        dg.TableColumn(name=name, type=kind, constraints=dg.TableColumnConstraints(nullable=null))
        for name, kind, null in extra
    ]
    return dg.TableSchema(columns=columns)
