"""DuckDB destination: typed final tables in one DuckDB file, written in one transaction.

Other processes (dbt, tests, notebooks) read the same file between syncs, and DuckDB lets only
one process open a file for writing. So a writer never keeps the file open: batches are staged
outside it as Parquet files in a private temporary directory, and ``commit`` opens the file,
applies the sync mode in ONE transaction under a process-wide lock per file path (several syncs of
one server may target one file), and closes it. A file locked by another process is retried for a
few seconds, then reported as a :class:`ConnectorError`. ``abort`` only deletes the staging files,
so a failed sync leaves the previous data untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq

from ._arrow import arrow_schema, arrow_table
from ._typing import Column, dedup_select_sql, key_columns, quote_identifier, stream_columns
from .base import ConfiguredStream, ConnectorError, Record
from .naming import duckdb_identifier

__all__ = ["DuckDBDestination", "normalize_duckdb_identifier"]

_LOCK_RETRY_SECONDS = 10.0
_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()

_SQL_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp_tz": "TIMESTAMPTZ",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "time": "TIME",
    "json": "JSON",
}


def _lock_for(path: str) -> threading.Lock:
    with _file_locks_guard:
        return _file_locks.setdefault(path, threading.Lock())


def _database_path(config: dict[str, Any]) -> str:
    raw = config.get("destination_path")
    if not isinstance(raw, str) or not raw.strip():
        raise ConnectorError(
            "DuckDB: 'destination_path' is required (a path to a .duckdb file, e.g. "
            "/data/warehouse.duckdb)."
        )
    raw = raw.strip()
    if raw.startswith(("md:", "motherduck:")):
        raise ConnectorError("DuckDB: MotherDuck paths are not supported by the local Airbyte.")
    return str(Path(raw).expanduser().resolve())


def normalize_duckdb_identifier(name: str) -> str:
    """A table or schema name as Airbyte's DuckDB destination writes it.

    Lower case, every character outside ``[a-z0-9]`` becomes ``_`` (``"Café Orders"`` ->
    ``caf__orders``): see :mod:`.naming` for where the rule comes from.
    """
    return duckdb_identifier(name)


def _schema(config: dict[str, Any], stream: ConfiguredStream | None = None) -> str:
    if stream is not None and stream.destination_namespace:
        return normalize_duckdb_identifier(stream.destination_namespace)
    value = config.get("schema") or "main"
    if not isinstance(value, str):
        raise ConnectorError(f"DuckDB: 'schema' must be a string, got {value!r}.")
    return normalize_duckdb_identifier(value)


def connect_with_retry(path: str, timeout: float | None = None) -> Any:
    """Open ``path`` for writing; retry while another process holds it, then explain."""
    import duckdb

    deadline = time.monotonic() + (_LOCK_RETRY_SECONDS if timeout is None else timeout)
    delay = 0.05
    while True:
        try:
            # DuckDB >= 1.2 would write a storage format 1.0/1.1 readers (PyAirbyte's pinned
            # duckdb, older dbt-duckdb) cannot open; v1.0.0 compatibility keeps every 1.x able
            # to read the file. The setting applies when the file is created.
            return duckdb.connect(path, config={"storage_compatibility_version": "v1.0.0"})
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            # IOException "Could not set lock": another process has the file open.
            # ConnectionException "different configuration": a read-only connection is open in
            # this process. Both are usually brief (dbt runs, test assertions): wait, then explain.
            text = str(exc)
            busy = "lock" in text.lower() or "different configuration" in text
            if not busy or time.monotonic() >= deadline:
                raise ConnectorError(
                    f"DuckDB: could not open {path} for writing: {text.splitlines()[0]} "
                    "Another connection (dbt, a notebook, a test) keeps the file open; close it "
                    "and retry the sync."
                ) from None
        except duckdb.Error as exc:
            raise ConnectorError(f"DuckDB: could not open {path}: {exc}") from exc
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


class _DuckDBStreamWriter:
    """Stages batches as Parquet, applies them to the file at commit."""

    def __init__(self, path: str, schema: str, stream: ConfiguredStream) -> None:
        self._path = path
        self._schema = schema
        self._stream = stream
        self._table = normalize_duckdb_identifier(stream.destination_table)
        self._columns = stream_columns(stream)
        self._keys, self._cursor = key_columns(stream, self._columns)
        self._arrow_schema = arrow_schema(self._columns)
        self._staging = tempfile.mkdtemp(prefix="airbyte-duckdb-")
        self._parts: list[str] = []
        self._done = False

    def write(self, records: list[Record]) -> int:
        if self._done:
            raise ConnectorError("DuckDB: write after commit or abort.")
        if not records:
            return 0
        table = arrow_table(records, self._columns, self._arrow_schema)
        part = os.path.join(self._staging, f"part-{len(self._parts):06d}.parquet")
        pq.write_table(table, part, compression="zstd")
        self._parts.append(part)
        return int(table.nbytes)

    def commit(self) -> None:
        if self._done:
            raise ConnectorError("DuckDB: commit after commit or abort.")
        self._done = True
        try:
            with _lock_for(self._path):
                connection = connect_with_retry(self._path)
                try:
                    self._apply(connection)
                finally:
                    connection.close()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)

    def abort(self) -> None:
        self._done = True
        shutil.rmtree(self._staging, ignore_errors=True)

    def _apply(self, connection: Any) -> None:
        stream = self._stream
        schema = quote_identifier(self._schema)
        table = f"{schema}.{quote_identifier(self._table)}"
        names = [c.name for c in self._columns]
        cols = ", ".join(quote_identifier(n) for n in names)
        if self._parts:
            files = ", ".join("'" + p.replace("'", "''") + "'" for p in self._parts)
            # JSON columns travel as VARCHAR in Parquet; cast them back on the way in.
            select = ", ".join(
                f"CAST({quote_identifier(c.name)} AS JSON) AS {quote_identifier(c.name)}"
                if c.kind == "json"
                else quote_identifier(c.name)
                for c in self._columns
            )
            staged = f"SELECT {select} FROM read_parquet([{files}])"
        else:
            staged = f"SELECT {cols} FROM {table} WHERE false"
        mode = stream.destination_sync_mode
        connection.execute("BEGIN TRANSACTION")
        try:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            if mode in ("overwrite", "overwrite_dedup"):
                source = (
                    dedup_select_sql(staged, names, self._keys, self._cursor)
                    if mode == "overwrite_dedup" and self._parts
                    else staged
                )
                connection.execute(f"DROP TABLE IF EXISTS {table}")
                connection.execute(_create_table_sql(table, self._columns))
                if self._parts:
                    connection.execute(f"INSERT INTO {table} ({cols}) {source}")
            else:
                connection.execute(_create_table_sql(table, self._columns, if_not_exists=True))
                self._add_missing_columns(connection, table)
                if self._parts and mode == "append_dedup":
                    self._merge(connection, table, staged, names)
                elif self._parts:
                    connection.execute(f"INSERT INTO {table} ({cols}) {staged}")
            connection.execute("COMMIT")
        except Exception as exc:
            connection.execute("ROLLBACK")
            if isinstance(exc, ConnectorError):
                raise
            raise ConnectorError(
                f"DuckDB: writing stream {stream.name!r} into {self._schema}."
                f"{self._table} in {self._path} failed: {exc}"
            ) from exc

    def _add_missing_columns(self, connection: Any, table: str) -> None:
        # DuckDB identifiers are case-insensitive even when quoted: compare them that way.
        existing = {
            str(row[0]).lower()
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                [self._schema, self._table],
            ).fetchall()
        }
        for column in self._columns:
            if column.name.lower() not in existing:
                connection.execute(
                    f"ALTER TABLE {table} ADD COLUMN {quote_identifier(column.name)} "
                    f"{_SQL_TYPES[column.kind]}"
                )

    def _merge(self, connection: Any, table: str, staged: str, names: list[str]) -> None:
        """append_dedup: replace the rows of the staged keys by the winner per key."""
        cols = ", ".join(quote_identifier(n) for n in names)
        match = " AND ".join(
            f"s.{quote_identifier(k)} IS NOT DISTINCT FROM t.{quote_identifier(k)}"
            for k in self._keys
        )
        stage = quote_identifier(f"_airbyte_stage_{uuid.uuid4().hex[:12]}")
        connection.execute(f"CREATE TEMP TABLE {stage} AS {staged}")
        try:
            candidates = (
                f"SELECT {cols} FROM {table} AS t WHERE EXISTS "
                f"(SELECT 1 FROM {stage} AS s WHERE {match}) "
                f"UNION ALL SELECT {cols} FROM {stage}"
            )
            merged = quote_identifier(f"_airbyte_merged_{uuid.uuid4().hex[:12]}")
            connection.execute(
                f"CREATE TEMP TABLE {merged} AS "
                f"{dedup_select_sql(candidates, names, self._keys, self._cursor)}"
            )
            connection.execute(
                f"DELETE FROM {table} AS t WHERE EXISTS (SELECT 1 FROM {stage} AS s WHERE {match})"
            )
            connection.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {merged}")
            connection.execute(f"DROP TABLE {merged}")
        finally:
            connection.execute(f"DROP TABLE IF EXISTS {stage}")


def _create_table_sql(table: str, columns: list[Column], if_not_exists: bool = False) -> str:
    body = ", ".join(f"{quote_identifier(c.name)} {_SQL_TYPES[c.kind]}" for c in columns)
    return f"CREATE TABLE {'IF NOT EXISTS ' if if_not_exists else ''}{table} ({body})"


class DuckDBDestination:
    """Typed tables in a local DuckDB file (Airbyte's ``destination_path`` / ``schema`` keys)."""

    name: ClassVar[str] = "DuckDB"
    definition_id: ClassVar[str] = "94bd199c-2ff0-4aa2-b98e-17f0acb72610"
    docker_repository: ClassVar[str] = "airbyte/destination-duckdb"
    destination_type: ClassVar[str] = "duckdb"
    secret_fields: ClassVar[frozenset[str]] = frozenset({"motherduck_api_key"})

    def spec(self) -> dict[str, Any]:
        return {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "DuckDB Destination Spec",
            "type": "object",
            "required": ["destination_path"],
            "properties": {
                "destination_path": {
                    "type": "string",
                    "title": "Destination DB",
                    "description": "Path to the .duckdb file; created if missing.",
                    "examples": ["/data/warehouse.duckdb"],
                },
                "schema": {
                    "type": "string",
                    "title": "Destination Schema",
                    "description": "Schema tables land in when the connection does not pick one.",
                    "default": "main",
                },
                "motherduck_api_key": {
                    "type": "string",
                    "title": "MotherDuck API Key",
                    "description": "Not supported locally; accepted for compatibility.",
                    "airbyte_secret": True,
                },
            },
        }

    def check(self, config: dict[str, Any]) -> None:
        path = _database_path(config)
        _schema(config)
        parent = Path(path).parent
        if not parent.is_dir():
            raise ConnectorError(
                f"DuckDB: directory {parent} does not exist; create it or change destination_path."
            )
        with _lock_for(path):
            connection = connect_with_retry(path, timeout=2.0)
            try:
                connection.execute("SELECT 1").fetchall()
            finally:
                connection.close()

    def default_namespace(self, config: dict[str, Any]) -> str | None:
        return _schema(config)

    def open_stream(self, config: dict[str, Any], stream: ConfiguredStream) -> _DuckDBStreamWriter:
        path = _database_path(config)
        if not Path(path).parent.is_dir():
            raise ConnectorError(
                f"DuckDB: directory {Path(path).parent} does not exist; create it or change "
                "destination_path."
            )
        return _DuckDBStreamWriter(path, _schema(config, stream), stream)
