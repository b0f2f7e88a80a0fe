"""Layer 3: what an Airbyte stream looks like as a Dagster asset.

:class:`DagsterAirbyteTranslator` is pure: it turns :class:`AirbyteStreamProps` (everything known
about one selected stream, resolved from the saved workspace snapshot) into an ``AssetSpec``.
Subclass it and override :meth:`~DagsterAirbyteTranslator.get_asset_spec` (or one of the small
``get_*`` hooks) to change keys, groups or metadata. Because execution reads the keys back from
the specs, never from a second translation, a translator can never make runs land on other keys.

The default key is ``[<schema the table lands in>, <prefix + stream name>]``, computed with
Airbyte's own namespace rules, so a dbt source named after the destination schema (``raw``)
lines up with no custom code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import PurePosixPath
from typing import Any

import dagster as dg

from dagster_airbyte_assets._column_types import TYPED_DESTINATIONS, destination_column_schema
from dagster_airbyte_assets._metadata import AirbyteSpecMetadata
from dagster_airbyte_assets._names import airbyte_name, definition_name, destination_identifier
from dagster_airbyte_assets.client import AirbyteConnection, AirbyteDestination, AirbyteStream

__all__ = [
    "AirbyteStreamProps",
    "DagsterAirbyteTranslator",
    "MetadataKeys",
    "airbyte_tag_key",
    "column_schema_from_json_schema",
    "destination_namespace",
    "json_schema_hash",
    "sanitize_name",
    "specs_by_connection",
    "synced_json_schema",
]


class MetadataKeys:
    """Names of the ``airbyte/*`` metadata entries the package writes, in one place.

    The entries execution reads back from specs are the fields of ``AirbyteSpecMetadata``
    (one typed set); the others are written on materializations and read by no code.
    """

    CONNECTION_ID = AirbyteSpecMetadata.key("connection_id")
    CONNECTION_NAME = AirbyteSpecMetadata.key("connection_name")
    CONNECTION_STATUS = AirbyteSpecMetadata.key("connection_status")
    CONNECTION_URL = "airbyte/connection_url"
    WORKSPACE_ID = AirbyteSpecMetadata.key("workspace_id")
    STREAM_NAME = AirbyteSpecMetadata.key("stream_name")
    STREAM_NAMESPACE = AirbyteSpecMetadata.key("stream_namespace")
    DESTINATION_TYPE = "airbyte/destination_type"
    SYNC_MODE = AirbyteSpecMetadata.key("sync_mode")
    DESTINATION_SYNC_MODE = AirbyteSpecMetadata.key("destination_sync_mode")
    CURSOR_FIELD = "airbyte/cursor_field"
    PRIMARY_KEY = "airbyte/primary_key"
    JSON_SCHEMA_HASH = AirbyteSpecMetadata.key("json_schema_hash")
    JOB_ID = "airbyte/job_id"
    JOB_URL = "airbyte/job_url"
    ATTEMPTS = "airbyte/attempts"
    FAILED_ATTEMPTS = "airbyte/failed_attempts"
    PARTIAL_SUCCESS = "airbyte/partial_success"
    DURATION_S = "airbyte/duration_s"
    BYTES_COMMITTED = "airbyte/bytes_committed"
    SIZE_COMMITTED = "airbyte/size_committed"
    """``bytes_committed`` for people: ``"19.9 KiB"``."""
    RECORDS_EMITTED = "airbyte/records_emitted"
    STATS_REPORTED = "airbyte/stats_reported"
    RECORDS_SYNCED = "airbyte/records_synced"
    """Records this sync committed for the stream (``dagster/row_count`` is the table's size)."""
    JOB_ROWS_SYNCED = "airbyte/job_rows_synced"
    JOB_BYTES_SYNCED = "airbyte/job_bytes_synced"
    ROW_COUNT = "dagster/row_count"
    TABLE_NAME = "dagster/table_name"
    COLUMN_SCHEMA = "dagster/column_schema"
    # dagster-airbyte's entries (its ``AirbyteMetadataSet``), written too so that code reading
    # them keeps working after a switch.
    DAGSTER_AIRBYTE_CONNECTION_ID = "dagster-airbyte/connection_id"
    DAGSTER_AIRBYTE_CONNECTION_NAME = "dagster-airbyte/connection_name"
    DAGSTER_AIRBYTE_STREAM_PREFIX = "dagster-airbyte/stream_prefix"


_DEFAULT_SCHEMAS = {"postgres": "public", "duckdb": "main", "redshift": "public"}


AIRBYTE_TAG_PREFIX = "airbyte_tag/"


def airbyte_tag_key(name: str) -> str:
    """The Dagster tag key of an Airbyte connection tag: ``airbyte_tag/<name>``.

    Dagster tag keys allow ``[A-Za-z0-9_.-]`` and one ``/``; other characters become ``_``
    (``Analytics Team`` -> ``airbyte_tag/Analytics_Team``), cut to Dagster's 63 characters.
    """
    return AIRBYTE_TAG_PREFIX + re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:63]


def sanitize_name(name: str) -> str:
    """Make ``name`` a valid Dagster name part (``[A-Za-z0-9_]``) by Airbyte's own rule.

    Accents are dropped (``é`` → ``e``), anything else outside ``[A-Za-z0-9_]`` becomes ``_``, so
    a key part reads like the table Airbyte creates and is never empty.
    """
    return airbyte_name(name)


def duckdb_catalog_name(path: str) -> str | None:
    """The name DuckDB gives the database in ``path``: the file name without its extension.

    ``:memory:`` is ``memory``; MotherDuck paths (``md:...``) name no local file: ``None``.
    """
    if path.startswith("md:"):
        return None
    if path == ":memory:":
        return "memory"
    return PurePosixPath(path.replace("\\", "/")).stem or None


def destination_namespace(
    connection: AirbyteConnection,
    stream: AirbyteStream,
    destination: AirbyteDestination | None,
) -> str | None:
    """The schema a stream's table lands in, by Airbyte's ``namespaceDefinition`` rules.

    ``source`` keeps the stream's source namespace, ``destination`` uses the destination's
    configured schema, and ``customformat`` substitutes ``${SOURCE_NAMESPACE}`` into the
    connection's format (a blank result falls back to the destination's schema, as Airbyte does).
    """
    default = None
    if destination is not None:
        default = destination.schema_name or _DEFAULT_SCHEMAS.get(destination.destination_type)
    definition = connection.namespace_definition
    if definition == "source":
        return stream.namespace or default
    if definition == "customformat":
        formatted = (connection.namespace_format or "").replace(
            "${SOURCE_NAMESPACE}", stream.namespace or ""
        )
        return formatted.strip() or default
    return default


_JSON_TYPE_NAMES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "object": "json",
    "array": "array",
}
_STRING_FORMATS = {
    "date-time": "timestamp",
    "date": "date",
    "time": "time",
}


def _column_type(schema: Mapping[str, Any]) -> tuple[str, bool]:
    """(display type, nullable) of one JSON-schema property.

    ``{"type": ["null", "string"]}`` is a nullable ``string``, never the text
    ``"['null','string']"``; ``anyOf``/``oneOf`` unions are read the same way.
    """
    options = [
        o for o in schema.get("anyOf") or schema.get("oneOf") or [] if isinstance(o, Mapping)
    ]
    if options and "type" not in schema:
        concrete_options = [o for o in options if o.get("type") not in ("null", ["null"])]
        union_nullable = len(concrete_options) < len(options)
        if len(concrete_options) == 1:
            column_type, nullable = _column_type(concrete_options[0])
            return column_type, nullable or union_nullable
        names = [_column_type(o)[0] for o in concrete_options]
        return " | ".join(dict.fromkeys(names)) or "unknown", True
    raw = schema.get("type")
    types: list[str] = [raw] if isinstance(raw, str) else list(raw or [])
    nullable = "null" in types or not types
    concrete = [t for t in dict.fromkeys(types) if t != "null"]
    if not concrete:
        return "unknown", True
    if len(concrete) > 1:
        return " | ".join(_JSON_TYPE_NAMES.get(t, t) for t in concrete), nullable
    kind = concrete[0]
    if kind == "string":
        fmt = schema.get("format")
        if fmt in _STRING_FORMATS:
            airbyte_type = schema.get("airbyte_type", "")
            if fmt == "date-time" and "without_timezone" in str(airbyte_type):
                return "timestamp without time zone", nullable
            return _STRING_FORMATS[fmt], nullable
    if kind == "integer" or (kind == "number" and schema.get("airbyte_type") == "integer"):
        return "integer", nullable
    return _JSON_TYPE_NAMES.get(kind, kind), nullable


def json_schema_hash(json_schema: Mapping[str, Any]) -> str:
    """A short, stable digest of a stream's JSON schema (key order does not matter).

    Kept in spec metadata so a schema drift check can tell "unchanged" without the schema.
    """
    canonical = json.dumps(json_schema, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def synced_json_schema(stream: AirbyteStream) -> dict[str, Any] | None:
    """The stream's JSON schema as the connection syncs it.

    With field selection only the selected top-level fields reach the destination; Airbyte
    stores the connection's schema that way too (REAL-BEHAVIOUR §4.17), but a catalog read
    elsewhere may list every field.
    """
    schema = stream.json_schema
    fields = stream.selected_fields
    if fields is None or not schema or not isinstance(schema.get("properties"), Mapping):
        return schema
    wanted = set(fields)
    return {**schema, "properties": {k: v for k, v in schema["properties"].items() if k in wanted}}


def column_schema_from_json_schema(
    json_schema: Mapping[str, Any] | None, destination_type: str | None = None
) -> dg.TableSchema | None:
    """A Dagster ``TableSchema`` from a stream's JSON schema (``None`` when it is unknown).

    For the SQL destinations whose typing rules are known (PostgreSQL, DuckDB), the table's
    columns in the destination's own types, Airbyte's ``_airbyte_*`` columns included
    (``_column_types``); for others, the JSON schema's types.
    """
    if not json_schema:
        return None
    if destination_type in TYPED_DESTINATIONS:
        return destination_column_schema(json_schema, destination_type)
    properties = json_schema.get("properties")
    if not isinstance(properties, Mapping):
        return None
    columns = []
    for name, prop in properties.items():
        column_type, nullable = _column_type(prop if isinstance(prop, Mapping) else {})
        columns.append(
            dg.TableColumn(
                name=name,
                type=column_type,
                constraints=dg.TableColumnConstraints(nullable=nullable),
            )
        )
    return dg.TableSchema(columns=columns)


@dataclass(frozen=True)
class AirbyteStreamProps:
    """Everything known about one selected stream of a connection.

    Built by the loader from the saved snapshot; the translator reads nothing else.
    """

    connection: AirbyteConnection
    stream: AirbyteStream
    destination: AirbyteDestination | None
    connection_url: str | None = None
    workspace_id: str | None = None
    """The workspace the connection belongs to (for custom translators; not written on specs)."""

    # The names below are asked for by the key, the description and the metadata: each is
    # computed once per stream (cached_property writes the instance dict, frozen or not).

    @property
    def destination_type(self) -> str | None:
        return self.destination.destination_type if self.destination else None

    @cached_property
    def namespace(self) -> str | None:
        """The schema the table lands in (``None`` when the destination has no schemas)."""
        namespace = destination_namespace(self.connection, self.stream, self.destination)
        return destination_identifier(namespace, self.destination_type) if namespace else None

    @cached_property
    def table(self) -> str:
        """The table name the rows land in: the connection prefix plus the stream name."""
        return destination_identifier(
            f"{self.connection.prefix or ''}{self.stream.name}", self.destination_type
        )

    @property
    def sql_database(self) -> str | None:
        """The database as the destination's own SQL names it (what dbt shows first).

        Postgres and the other SQL destinations: the configured database. DuckDB: the catalog
        DuckDB names after the file it opens, the file's stem (``/local/local.duckdb`` →
        ``local``), which is also dbt-duckdb's database.
        """
        if self.destination is None:
            return None
        if self.destination_type == "duckdb" and self.destination.destination_path:
            return duckdb_catalog_name(self.destination.destination_path)
        return self.destination.database

    @cached_property
    def qualified_table_name(self) -> str:
        """``database.schema.table`` with whichever parts are known."""
        return ".".join(part for part in (self.sql_database, self.namespace, self.table) if part)

    # dagster-airbyte's ``AirbyteConnectionTableProps`` fields, with its values, so that a
    # translator written for dagster-airbyte builds the same specs here (``compat.py``).

    @property
    def table_name(self) -> str:
        """dagster-airbyte's table name: the connection prefix plus the stream name, as given."""
        return f"{self.connection.prefix or ''}{self.stream.name}"

    @property
    def stream_prefix(self) -> str | None:
        return self.connection.prefix or None

    @property
    def stream_name(self) -> str:
        return self.stream.name

    @property
    def json_schema(self) -> Mapping[str, Any]:
        return self.stream.json_schema or {}

    @property
    def connection_id(self) -> str:
        return self.connection.connection_id

    @property
    def connection_name(self) -> str:
        return self.connection.name

    @property
    def database(self) -> str | None:
        """The destination's configured database (dagster-airbyte's ``database``; ``None`` for
        DuckDB, whose SQL database is ``sql_database``)."""
        return self.destination.database if self.destination else None

    @property
    def schema(self) -> str | None:
        """The destination's configured schema (dagster-airbyte's ``schema``, not the namespace)."""
        return self.destination.schema_name if self.destination else None

    @property
    def fully_qualified_table_name(self) -> str | None:
        """dagster-airbyte's ``database.schema.stream_name`` (``None`` unless both are set)."""
        if self.database and self.schema:
            return f"{self.database}.{self.schema}.{self.stream.name}"
        return None


class DagsterAirbyteTranslator:
    """Turns :class:`AirbyteStreamProps` into an ``AssetSpec``. Pure and subclassable."""

    def get_asset_spec(self, props: AirbyteStreamProps) -> dg.AssetSpec:
        return dg.AssetSpec(
            key=self.get_asset_key(props),
            group_name=self.get_group_name(props),
            description=self.get_description(props),
            kinds=self.get_kinds(props),
            metadata=self.get_metadata(props),
            tags=self.get_tags(props),
        )

    def get_op_name(self, connection: AirbyteConnection) -> str:
        """The name of the step that syncs ``connection`` (made unique by the loader)."""
        return f"airbyte_sync_{definition_name(connection.name)}"

    def get_asset_key(self, props: AirbyteStreamProps) -> dg.AssetKey:
        first = props.namespace
        if first is None and props.destination is not None:
            first = props.destination.name
        parts = [sanitize_name(first)] if first else []
        return dg.AssetKey([*parts, sanitize_name(props.table)])

    def get_group_name(self, props: AirbyteStreamProps) -> str | None:
        return definition_name(props.connection.name)

    def get_description(self, props: AirbyteStreamProps) -> str:
        destination = props.destination.name if props.destination else "its destination"
        text = (
            f"Airbyte stream `{props.stream.name}` of connection "
            f"`{props.connection.name}`, landing in `{props.qualified_table_name}` ({destination})."
        )
        if props.connection.status != "active":
            text += (
                f" The connection was `{props.connection.status}` in Airbyte when these "
                "definitions were loaded: Airbyte refuses to sync it until it is enabled."
            )
        return text

    def get_kinds(self, props: AirbyteStreamProps) -> set[str]:
        kinds = {"airbyte"}
        if props.destination_type:
            kinds.add(sanitize_name(props.destination_type).lower())
        return kinds

    def get_tags(self, props: AirbyteStreamProps) -> Mapping[str, str]:
        # Airbyte's connection tags, so the UI and `tag:` selections filter by them.
        return {airbyte_tag_key(name): "" for name in props.connection.tags}

    def get_metadata(self, props: AirbyteStreamProps) -> Mapping[str, Any]:
        stream = props.stream
        metadata: dict[str, Any] = {
            **AirbyteSpecMetadata.entries(
                connection_id=props.connection.connection_id,
                connection_name=props.connection.name,
                connection_status=props.connection.status,
                stream_name=stream.name,
                stream_namespace=stream.namespace or None,
                sync_mode=stream.sync_mode,
            ),
            MetadataKeys.TABLE_NAME: props.qualified_table_name,
            MetadataKeys.DAGSTER_AIRBYTE_CONNECTION_ID: props.connection_id,
            MetadataKeys.DAGSTER_AIRBYTE_CONNECTION_NAME: props.connection_name,
        }
        if props.stream_prefix:
            metadata[MetadataKeys.DAGSTER_AIRBYTE_STREAM_PREFIX] = props.stream_prefix
        if props.connection_url:
            metadata[MetadataKeys.CONNECTION_URL] = _url_value(props.connection_url)
        if props.destination_type:
            metadata[MetadataKeys.DESTINATION_TYPE] = props.destination_type
        if stream.destination_sync_mode:
            metadata[MetadataKeys.DESTINATION_SYNC_MODE] = stream.destination_sync_mode
        if stream.cursor_field:
            metadata[MetadataKeys.CURSOR_FIELD] = ".".join(stream.cursor_field)
        if stream.primary_key:
            metadata[MetadataKeys.PRIMARY_KEY] = ", ".join(".".join(k) for k in stream.primary_key)
        json_schema = synced_json_schema(stream)
        if json_schema:
            schema = _column_schema(json_schema, props.destination_type)
            if schema is not None:
                metadata[MetadataKeys.COLUMN_SCHEMA] = schema
        return metadata


@lru_cache(maxsize=256)
def _url_value(url: str) -> dg.UrlMetadataValue:
    """One immutable value per connection link, shared by the connection's streams."""
    return dg.MetadataValue.url(url)


_SCHEMA_CACHE_SIZE = 4096
_schema_cache: dict[tuple[str, str | None], dg.TableSchema | None] = {}


def _column_schema(
    json_schema: Mapping[str, Any], destination_type: str | None
) -> dg.TableSchema | None:
    """The ``TableSchema`` of a JSON schema in a destination, shared by every stream with both.

    Connections of one source repeat their streams' schemas; a ``TableSchema`` is immutable,
    so those streams share one (less time and memory than one per stream). The key is the
    schema's ``repr``: its own key order (which decides the column order) and every value's
    type are in it, and for parsed JSON it costs a third of ``json.dumps``.
    """
    key = (repr(json_schema), destination_type)
    if key not in _schema_cache:
        if len(_schema_cache) >= _SCHEMA_CACHE_SIZE:
            _schema_cache.clear()
        _schema_cache[key] = column_schema_from_json_schema(json_schema, destination_type)
    return _schema_cache[key]


def specs_by_connection(
    assets: Sequence[dg.AssetsDefinition | dg.AssetSpec],
) -> dict[str, list[dg.AssetSpec]]:
    """The Airbyte stream specs among ``assets``, grouped by their connection id.

    Schedules, the sync sensor and drift checks all start from the definitions the loader
    built; the connection id in each spec's metadata is what ties a spec to its sync.
    """
    grouped: dict[str, list[dg.AssetSpec]] = {}
    for item in assets:
        for spec in item.specs if isinstance(item, dg.AssetsDefinition) else [item]:
            connection_id = AirbyteSpecMetadata.of(spec.metadata).connection_id
            if connection_id is not None:
                grouped.setdefault(connection_id, []).append(spec)
    return grouped
