"""PostgreSQL source and destination (psycopg 3), configured with Airbyte's keys.

Source: discovers the tables and views of ``schemas`` from ``information_schema`` (so only what
the user may read), maps column types to JSON schema, takes primary keys from constraints, and
reads through a server-side cursor in batches; incremental reads use
``WHERE cursor > %s ORDER BY cursor``. Values are emitted as JSON values (timestamps as ISO
strings, numerics as numbers, bytea as base64), as Airbyte's source does.

Destination: typed final tables whose table, schema and column names are normalised like
Airbyte's PostgreSQL destination (:func:`normalize_postgres_identifier`). Batches are copied into
a session-private TEMP table, so nothing is visible before ``commit``, which applies the sync
mode in one transaction: ``overwrite`` fills a new table and swaps it in (DROP + RENAME), so a
failed sync leaves the old data; ``append`` inserts; the dedup modes keep the latest row per
primary key (by cursor, then ``_airbyte_extracted_at``). New schema properties become
``ALTER TABLE ... ADD COLUMN``.
"""

from __future__ import annotations

import base64
import math
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from ._typing import (
    Column,
    dedup_select_sql,
    key_columns,
    quote_identifier,
    stream_columns,
    typed_row,
)
from .base import ConfiguredStream, ConnectorError, DiscoveredStream, Record
from .naming import postgres_identifier

__all__ = ["PostgresDestination", "PostgresSource", "normalize_postgres_identifier"]

_BATCH = 1000
_CONNECT_TIMEOUT = 10
_MAX_IDENTIFIER = 63  # NAMEDATALEN - 1

_SQL_TYPES = {
    "string": "varchar",
    "integer": "bigint",
    "number": "numeric",
    "boolean": "boolean",
    "timestamp_tz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "date": "date",
    "time": "time without time zone",
    "json": "jsonb",
}

_TIMESTAMP_TZ = {"type": "string", "format": "date-time", "airbyte_type": "timestamp_with_timezone"}
_TIMESTAMP = {"type": "string", "format": "date-time", "airbyte_type": "timestamp_without_timezone"}
_JSON_TYPES: dict[str, dict[str, Any]] = {
    "smallint": {"type": "integer"},
    "integer": {"type": "integer"},
    "bigint": {"type": "integer"},
    "int2": {"type": "integer"},
    "int4": {"type": "integer"},
    "int8": {"type": "integer"},
    "oid": {"type": "integer"},
    "numeric": {"type": "number"},
    "real": {"type": "number"},
    "double precision": {"type": "number"},
    "float4": {"type": "number"},
    "float8": {"type": "number"},
    "boolean": {"type": "boolean"},
    "bool": {"type": "boolean"},
    "json": {"type": "object"},
    "jsonb": {"type": "object"},
    "timestamp with time zone": _TIMESTAMP_TZ,
    "timestamptz": _TIMESTAMP_TZ,
    "timestamp without time zone": _TIMESTAMP,
    "timestamp": _TIMESTAMP,
    "date": {"type": "string", "format": "date"},
    "time without time zone": {
        "type": "string",
        "format": "time",
        "airbyte_type": "time_without_timezone",
    },
    "time": {"type": "string", "format": "time", "airbyte_type": "time_without_timezone"},
    "time with time zone": {
        "type": "string",
        "format": "time",
        "airbyte_type": "time_with_timezone",
    },
    "timetz": {"type": "string", "format": "time", "airbyte_type": "time_with_timezone"},
}


def normalize_postgres_identifier(name: str) -> str:
    """A table, schema or column name as Airbyte's PostgreSQL destination writes it.

    Airbyte's rule (see :mod:`.naming`): accents dropped, lower case, everything outside ``[a-z0-9_]`` becomes
    ``_``, a leading digit gets a ``_`` prefix, at most 63 bytes. ``"Order Items"`` → ``order_items``.
    """
    return postgres_identifier(name)


def _ssl_mode(config: dict[str, Any]) -> str:
    mode = config.get("ssl_mode")
    if isinstance(mode, dict):
        mode = mode.get("mode")
    if isinstance(mode, str) and mode:
        return mode
    ssl = config.get("ssl")
    if ssl is True:
        return "require"
    return "disable" if ssl is False else "prefer"


def _connect(config: dict[str, Any], kind: str, autocommit: bool = True) -> Any:
    """Connect with a short timeout; errors name host/port/database, never the password."""
    import psycopg

    host = config.get("host")
    database = config.get("database")
    username = config.get("username")
    if not host or not database or not username:
        raise ConnectorError(
            f"Postgres {kind}: 'host', 'database' and 'username' are required in the configuration."
        )
    try:
        port = int(config.get("port") or 5432)
    except (TypeError, ValueError):
        raise ConnectorError(
            f"Postgres {kind}: 'port' must be a number, got {config.get('port')!r}."
        ) from None
    password = config.get("password")
    where = f"{host}:{port}, database {database!r}, user {username!r}"
    try:
        return psycopg.connect(
            host=str(host),
            port=port,
            dbname=str(database),
            user=str(username),
            password=str(password) if password else None,
            sslmode=_ssl_mode(config),
            connect_timeout=int(config.get("connect_timeout") or _CONNECT_TIMEOUT),
            autocommit=autocommit,
            application_name=f"local-airbyte-{kind}",
            # UTC sessions: timestamptz values come out with a +00:00 offset, so their ISO
            # strings order like the instants (the engine compares cursors as values).
            options="-c TimeZone=UTC",
        )
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        if password:
            reason = reason.replace(str(password), "***")
        raise ConnectorError(
            f"Postgres {kind}: could not connect to {where}: {reason}. Check host, port, "
            "database, username and password, and that the server accepts connections."
        ) from None


def _json_value(value: Any) -> Any:
    """A database value as the JSON value Airbyte's source would emit."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, timedelta):
        return str(value)
    return str(value)  # uuid, inet, ranges, enums...


def _json_type(data_type: str, udt_name: str, element: str | None) -> dict[str, Any]:
    if data_type == "ARRAY":
        item = _JSON_TYPES.get((element or udt_name.lstrip("_")).lower(), {"type": "string"})
        return {"type": ["null", "array"], "items": dict(item)}
    # Everything else (text, varchar, uuid, enums, inet, interval, money, ...) is a string.
    found = _JSON_TYPES.get(data_type.lower()) or _JSON_TYPES.get(udt_name.lower())
    return dict(found or {"type": "string"})


def _schemas_option(config: dict[str, Any]) -> list[str]:
    schemas = config.get("schemas") or ["public"]
    if isinstance(schemas, str):
        schemas = [schemas]
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise ConnectorError(
            f"Postgres source: 'schemas' must be a list of names, got {schemas!r}."
        )
    return schemas


_SPEC_CONNECTION: dict[str, Any] = {
    "host": {"type": "string", "title": "Host", "order": 0},
    "port": {
        "type": "integer",
        "title": "Port",
        "default": 5432,
        "minimum": 0,
        "maximum": 65536,
        "order": 1,
    },
    "database": {"type": "string", "title": "Database Name", "order": 2},
    "username": {"type": "string", "title": "Username", "order": 4},
    "password": {"type": "string", "title": "Password", "airbyte_secret": True, "order": 5},
    "ssl": {"type": "boolean", "title": "Connect using SSL", "default": False},
    "ssl_mode": {
        "type": "object",
        "title": "SSL modes",
        "description": "libpq sslmode: disable, allow, prefer, require, verify-ca, verify-full.",
        "properties": {"mode": {"type": "string"}},
    },
    "connect_timeout": {
        "type": "integer",
        "title": "Connect timeout (seconds)",
        "default": _CONNECT_TIMEOUT,
    },
}


class PostgresSource:
    """Tables and views of a PostgreSQL database."""

    name: ClassVar[str] = "Postgres"
    definition_id: ClassVar[str] = "decd338e-5647-4c0b-adf4-da0e75f5a750"
    docker_repository: ClassVar[str] = "airbyte/source-postgres"
    source_type: ClassVar[str] = "database"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    def spec(self) -> dict[str, Any]:
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Postgres Source Spec",
            "type": "object",
            "required": ["host", "port", "database", "username"],
            "properties": {
                **_SPEC_CONNECTION,
                "schemas": {
                    "type": "array",
                    "title": "Schemas",
                    "items": {"type": "string"},
                    "default": ["public"],
                    "minItems": 0,
                    "uniqueItems": True,
                    "order": 3,
                },
                "replication_method": {
                    "type": "object",
                    "title": "Update Method",
                    "description": "Accepted for compatibility; the cursor method is always used.",
                },
            },
        }

    def check(self, config: dict[str, Any]) -> None:
        schemas = _schemas_option(config)
        with _connect(config, "source") as conn:
            conn.execute("SELECT 1").fetchone()
            found = {
                row[0]
                for row in conn.execute(
                    "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY(%s)",
                    [schemas],
                ).fetchall()
            }
        missing = [s for s in schemas if s not in found]
        if missing:
            raise ConnectorError(
                f"Postgres source: schema(s) {', '.join(map(repr, missing))} not found in database "
                f"{config.get('database')!r}; fix 'schemas' (names are case-sensitive)."
            )

    def discover(self, config: dict[str, Any]) -> list[DiscoveredStream]:
        schemas = _schemas_option(config)
        with _connect(config, "source") as conn:
            columns = conn.execute(
                """
                SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.udt_name,
                       c.is_nullable, e.data_type AS element_type
                FROM information_schema.columns c
                JOIN information_schema.tables t
                  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                LEFT JOIN information_schema.element_types e
                  ON e.object_catalog = c.table_catalog AND e.object_schema = c.table_schema
                 AND e.object_name = c.table_name AND e.object_type = 'TABLE'
                 AND e.collection_type_identifier = c.dtd_identifier
                WHERE c.table_schema = ANY(%s)
                  AND t.table_type IN ('BASE TABLE', 'VIEW', 'FOREIGN')
                ORDER BY c.table_schema, c.table_name, c.ordinal_position
                """,
                [schemas],
            ).fetchall()
            keys = conn.execute(
                """
                SELECT kcu.table_schema, kcu.table_name, kcu.column_name
                FROM information_schema.table_constraints tc
                JOIN information_schema.key_column_usage kcu
                  ON kcu.constraint_schema = tc.constraint_schema
                 AND kcu.constraint_name = tc.constraint_name
                 AND kcu.table_name = tc.table_name
                WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = ANY(%s)
                ORDER BY kcu.table_schema, kcu.table_name, kcu.ordinal_position
                """,
                [schemas],
            ).fetchall()
        properties: dict[tuple[str, str], dict[str, Any]] = {}
        for schema, table, column, data_type, udt_name, nullable, element in columns:
            json_type = _json_type(data_type, udt_name, element)
            declared = json_type.get("type")
            if nullable == "YES" and isinstance(declared, str):
                json_type["type"] = ["null", declared]
            properties.setdefault((schema, table), {})[column] = json_type
        primary: dict[tuple[str, str], list[tuple[str, ...]]] = {}
        for schema, table, column in keys:
            primary.setdefault((schema, table), []).append((column,))
        return [
            DiscoveredStream(
                name=table,
                namespace=schema,
                json_schema={
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": props,
                },
                supported_sync_modes=("full_refresh", "incremental"),
                source_defined_cursor=False,
                default_cursor_field=(),
                source_defined_primary_key=tuple(primary.get((schema, table), [])),
            )
            for (schema, table), props in properties.items()
        ]

    def read(
        self,
        config: dict[str, Any],
        stream: ConfiguredStream,
        cursor_value: Any | None,
        cancelled: threading.Event,
    ) -> Iterator[list[Record]]:
        schema = stream.namespace or _schemas_option(config)[0]
        names = list((stream.json_schema.get("properties") or {}).keys())
        if not names:
            raise ConnectorError(
                f"Postgres source: stream {schema}.{stream.name} has no columns selected; "
                "refresh the source schema."
            )
        table = f"{quote_identifier(schema)}.{quote_identifier(stream.name)}"
        sql = f"SELECT {', '.join(quote_identifier(n) for n in names)} FROM {table}"
        params: list[Any] = []
        incremental = stream.sync_mode == "incremental"
        if incremental and not stream.cursor_field:
            raise ConnectorError(
                f"Postgres source: incremental stream {schema}.{stream.name} needs a cursor "
                "field; pick one (e.g. updated_at) in the connection."
            )
        if incremental:
            cursor = quote_identifier(stream.cursor_field[0])
            if cursor_value is not None:
                sql += f" WHERE {cursor} > %s"
                params.append(cursor_value)
            sql += f" ORDER BY {cursor} ASC NULLS FIRST"
        import psycopg

        # A server-side (named) cursor needs a transaction: autocommit off, read-only.
        with _connect(config, "source", autocommit=False) as conn:
            conn.read_only = True
            try:
                with conn.cursor(name=f"airbyte_{uuid.uuid4().hex[:12]}") as cur:
                    cur.itersize = _BATCH
                    cur.execute(sql, params)
                    while not cancelled.is_set():
                        rows = cur.fetchmany(_BATCH)
                        if not rows:
                            break
                        yield [
                            {n: _json_value(v) for n, v in zip(names, row, strict=True)}
                            for row in rows
                        ]
            except psycopg.Error as exc:
                raise ConnectorError(
                    f"Postgres source: reading {schema}.{stream.name} failed: "
                    f"{str(exc).strip().splitlines()[0]}"
                ) from exc
            finally:
                conn.rollback()


class _PostgresStreamWriter:
    """COPYs batches into a TEMP table; ``commit`` applies the sync mode in one transaction."""

    def __init__(
        self, conn: Any, schema: str, stream: ConfiguredStream, drop_cascade: bool
    ) -> None:
        self._conn = conn
        self._drop_cascade = drop_cascade
        self._schema = schema
        self._stream = stream
        self._table_name = normalize_postgres_identifier(stream.destination_table)
        self._columns = stream_columns(stream, normalize_postgres_identifier)
        self._keys, self._cursor = key_columns(stream, self._columns)
        self._stage = f"_airbyte_stage_{uuid.uuid4().hex[:12]}"
        self._rows = 0
        self._done = False
        conn.execute(
            f"CREATE TEMP TABLE {quote_identifier(self._stage)} "
            f"({_column_definitions(self._columns)})"
        )

    def write(self, records: list[Record]) -> int:
        if self._done:
            raise ConnectorError("Postgres destination: write after commit or abort.")
        cols = ", ".join(quote_identifier(c.name) for c in self._columns)
        size = 0
        with (
            self._conn.cursor() as cur,
            cur.copy(f"COPY {quote_identifier(self._stage)} ({cols}) FROM STDIN") as copy,
        ):
            for record in records:
                row = [_strip_nul(v) for v in typed_row(record, self._columns)]
                size += sum(len(str(v)) for v in row if v is not None)
                copy.write_row(row)
        self._rows += len(records)
        return size

    def commit(self) -> None:
        import psycopg

        if self._done:
            raise ConnectorError("Postgres destination: commit after commit or abort.")
        self._done = True
        try:
            with self._conn.transaction():
                self._apply()
        except psycopg.Error as exc:
            raise ConnectorError(
                f"Postgres destination: writing stream {self._stream.name!r} into "
                f"{self._schema}.{self._table_name} failed: {str(exc).strip().splitlines()[0]}"
            ) from exc
        finally:
            self._conn.close()

    def abort(self) -> None:
        self._done = True
        self._conn.close()

    def _apply(self) -> None:
        conn = self._conn
        schema = quote_identifier(self._schema)
        table = f"{schema}.{quote_identifier(self._table_name)}"
        stage = quote_identifier(self._stage)
        names = [c.name for c in self._columns]
        cols = ", ".join(quote_identifier(n) for n in names)
        mode = self._stream.destination_sync_mode
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        if mode in ("overwrite", "overwrite_dedup"):
            source = f"SELECT {cols} FROM {stage}"
            if mode == "overwrite_dedup":
                source = dedup_select_sql(source, names, self._keys, self._cursor)
            swap_name = f"{self._table_name[:40]}_airbyte_tmp_{uuid.uuid4().hex[:8]}"
            swap = f"{schema}.{quote_identifier(swap_name)}"
            conn.execute(f"CREATE TABLE {swap} ({_column_definitions(self._columns)})")
            conn.execute(f"INSERT INTO {swap} ({cols}) {source}")
            cascade = " CASCADE" if self._drop_cascade else ""
            conn.execute(f"DROP TABLE IF EXISTS {table}{cascade}")
            conn.execute(f"ALTER TABLE {swap} RENAME TO {quote_identifier(self._table_name)}")
            return
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({_column_definitions(self._columns)})")
        existing = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                [self._schema, self._table_name],
            ).fetchall()
        }
        for column in self._columns:
            if column.name not in existing:
                conn.execute(
                    f"ALTER TABLE {table} ADD COLUMN {quote_identifier(column.name)} "
                    f"{_SQL_TYPES[column.kind]}"
                )
        if mode != "append_dedup":
            conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}")
            return
        match = " AND ".join(
            f"s.{quote_identifier(k)} IS NOT DISTINCT FROM t.{quote_identifier(k)}"
            for k in self._keys
        )
        candidates = (
            f"SELECT {cols} FROM {table} AS t WHERE EXISTS "
            f"(SELECT 1 FROM {stage} AS s WHERE {match}) UNION ALL SELECT {cols} FROM {stage}"
        )
        merged = quote_identifier(f"_airbyte_merged_{uuid.uuid4().hex[:12]}")
        conn.execute(
            f"CREATE TEMP TABLE {merged} ON COMMIT DROP AS "
            f"{dedup_select_sql(candidates, names, self._keys, self._cursor)}"
        )
        conn.execute(
            f"DELETE FROM {table} AS t WHERE EXISTS (SELECT 1 FROM {stage} AS s WHERE {match})"
        )
        conn.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {merged}")


def _strip_nul(value: Any) -> Any:
    # PostgreSQL text and jsonb cannot hold NUL characters; Airbyte drops them too.
    if isinstance(value, str) and ("\x00" in value or "\\u0000" in value):
        return value.replace("\x00", "").replace("\\u0000", "")
    return value


def _column_definitions(columns: list[Column]) -> str:
    return ", ".join(f"{quote_identifier(c.name)} {_SQL_TYPES[c.kind]}" for c in columns)


class PostgresDestination:
    """Typed final tables in a PostgreSQL schema."""

    name: ClassVar[str] = "Postgres"
    definition_id: ClassVar[str] = "25c5221d-dce2-4163-ade9-739ef790f503"
    docker_repository: ClassVar[str] = "airbyte/destination-postgres"
    destination_type: ClassVar[str] = "postgres"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    def spec(self) -> dict[str, Any]:
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Postgres Destination Spec",
            "type": "object",
            "required": ["host", "port", "database", "username", "schema"],
            "properties": {
                **_SPEC_CONNECTION,
                "schema": {
                    "type": "string",
                    "title": "Default Schema",
                    "description": "Schema tables land in when the connection does not pick one.",
                    "default": "public",
                    "order": 3,
                },
                "drop_cascade": {
                    "type": "boolean",
                    "title": "Drop tables with CASCADE",
                    "description": "Overwrite syncs drop dependent views too (else they fail).",
                    "default": False,
                },
            },
        }

    def check(self, config: dict[str, Any]) -> None:
        with _connect(config, "destination") as conn:
            conn.execute("SELECT 1").fetchone()

    def default_namespace(self, config: dict[str, Any]) -> str | None:
        return normalize_postgres_identifier(str(config.get("schema") or "public"))

    def open_stream(
        self, config: dict[str, Any], stream: ConfiguredStream
    ) -> _PostgresStreamWriter:
        schema = normalize_postgres_identifier(
            stream.destination_namespace or str(config.get("schema") or "public")
        )
        conn = _connect(config, "destination")
        try:
            return _PostgresStreamWriter(conn, schema, stream, bool(config.get("drop_cascade")))
        except BaseException:
            conn.close()
            raise
