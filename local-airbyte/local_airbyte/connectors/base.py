"""The contract between the local Airbyte's job engine and its connectors.

A *source* discovers streams and reads records; a *destination* writes them. The engine owns
everything in between (state, stats, attempts, cancellation), so connectors stay small: a source
never tracks its own cursor state and a destination never decides what a sync mode means for
state. Both raise :class:`ConnectorError` with a message a user can act on; the engine turns it
into a failed check or a failed attempt.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

__all__ = [
    "AIRBYTE_COLUMNS",
    "ConfiguredStream",
    "ConnectorError",
    "DestinationConnector",
    "DiscoveredStream",
    "SourceConnector",
    "StreamWriter",
]

Record = dict[str, Any]

# Columns Airbyte's v2 destinations add to every final table ("typing and deduping").
AIRBYTE_COLUMNS = (
    "_airbyte_raw_id",  # uuid string, one per record
    "_airbyte_extracted_at",  # timestamp with time zone, when the source emitted it
    "_airbyte_meta",  # JSON object: {"changes": [], "sync_id": <job id>}
    "_airbyte_generation_id",  # integer
)


class ConnectorError(Exception):
    """A connector could not do its work; ``str(err)`` is shown to the user as-is.

    Messages must never contain secrets (passwords, keys, tokens) from the configuration.
    """


@dataclass(frozen=True)
class DiscoveredStream:
    """One stream as ``discover_schema`` reports it (Airbyte's ``AirbyteStream``)."""

    name: str
    json_schema: dict[str, Any]
    namespace: str | None = None
    supported_sync_modes: tuple[str, ...] = ("full_refresh", "incremental")
    source_defined_cursor: bool = False
    default_cursor_field: tuple[str, ...] = ()
    source_defined_primary_key: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ConfiguredStream:
    """One selected stream of a connection, resolved by the engine for a sync.

    ``destination_namespace`` is the schema the table lands in after Airbyte's namespace rules
    (``None`` means the destination's own default schema); ``destination_table`` already carries
    the connection's stream prefix.
    """

    name: str
    json_schema: dict[str, Any]
    sync_mode: str  # "full_refresh" | "incremental"
    destination_sync_mode: str  # "append" | "overwrite" | "append_dedup" | "overwrite_dedup"
    destination_table: str
    namespace: str | None = None  # the source namespace
    destination_namespace: str | None = None
    cursor_field: tuple[str, ...] = ()
    primary_key: tuple[tuple[str, ...], ...] = ()
    sync_id: int = 0  # the job id, written into _airbyte_meta
    generation_id: int = 0


class SourceConnector(Protocol):
    """A source connector. Instances are stateless; configuration is passed to every call."""

    name: ClassVar[str]  # definition name, e.g. "Sample Data", "Postgres", "REST API"
    definition_id: ClassVar[str]  # stable uuid string
    docker_repository: ClassVar[str]  # e.g. "airbyte/source-postgres"
    source_type: ClassVar[str]  # "api" | "file" | "database" | "custom"
    secret_fields: ClassVar[frozenset[str]]  # config keys to mask in responses

    def spec(self) -> dict[str, Any]:
        """JSON schema of the connection configuration."""
        ...

    def check(self, config: dict[str, Any]) -> None:
        """Really connect; raise ConnectorError if that fails."""
        ...

    def discover(self, config: dict[str, Any]) -> list[DiscoveredStream]: ...

    def read(
        self,
        config: dict[str, Any],
        stream: ConfiguredStream,
        cursor_value: Any | None,
        cancelled: threading.Event,
    ) -> Iterator[list[Record]]:
        """Yield record batches of ``stream``.

        For ``incremental`` streams with a ``cursor_value`` from the last sync, yield only
        records whose cursor is strictly greater. Stop early when ``cancelled`` is set.
        """
        ...


class StreamWriter(Protocol):
    """Writes one stream of one sync. Nothing is visible to readers before ``commit``."""

    def write(self, records: list[Record]) -> int:
        """Stage a batch (Airbyte columns already added by the engine); return bytes written."""
        ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class DestinationConnector(Protocol):
    name: ClassVar[str]  # "DuckDB", "Postgres", "S3"
    definition_id: ClassVar[str]
    docker_repository: ClassVar[str]
    destination_type: ClassVar[str]  # the Public API's slug: "duckdb", "postgres", "s3"
    secret_fields: ClassVar[frozenset[str]]

    def spec(self) -> dict[str, Any]: ...

    def check(self, config: dict[str, Any]) -> None: ...

    def default_namespace(self, config: dict[str, Any]) -> str | None:
        """The schema tables land in when the connection does not choose one."""
        ...

    def open_stream(self, config: dict[str, Any], stream: ConfiguredStream) -> StreamWriter: ...


@dataclass
class Registry:
    """The connectors a server offers, by definition id."""

    sources: dict[str, SourceConnector] = field(default_factory=dict)
    destinations: dict[str, DestinationConnector] = field(default_factory=dict)
