"""What the engine does around connectors, in a few lines, so tests drive them the same way."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from local_airbyte.connectors.base import (
    ConfiguredStream,
    DiscoveredStream,
)


def configured(
    stream: DiscoveredStream,
    destination_sync_mode: str = "append",
    sync_mode: str = "full_refresh",
    table: str | None = None,
    destination_namespace: str | None = None,
    sync_id: int = 1,
) -> ConfiguredStream:
    return ConfiguredStream(
        name=stream.name,
        json_schema=stream.json_schema,
        sync_mode=sync_mode,
        destination_sync_mode=destination_sync_mode,
        destination_table=table or stream.name,
        namespace=stream.namespace,
        destination_namespace=destination_namespace,
        cursor_field=stream.default_cursor_field,
        primary_key=stream.source_defined_primary_key,
        sync_id=sync_id,
    )


def airbyte_records(
    records: list[dict[str, Any]], sync_id: int = 1, extracted_at: datetime | None = None
) -> list[dict[str, Any]]:
    """Add the Airbyte columns the way the engine does."""
    moment = extracted_at or datetime.now(UTC)
    return [
        {
            **r,
            "_airbyte_raw_id": str(uuid.uuid4()),
            "_airbyte_extracted_at": moment,
            "_airbyte_meta": {"changes": [], "sync_id": sync_id},
            "_airbyte_generation_id": 0,
        }
        for r in records
    ]


def read_all(
    source: Any, config: dict[str, Any], stream: ConfiguredStream, cursor: Any = None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for batch in source.read(config, stream, cursor, threading.Event()):
        rows.extend(batch)
    return rows


def sync(
    source: Any,
    source_config: dict[str, Any],
    destination: Any,
    destination_config: dict[str, Any],
    stream: ConfiguredStream,
    cursor: Any = None,
) -> list[dict[str, Any]]:
    """Read ``stream`` and write it; returns the records read."""
    writer = destination.open_stream(destination_config, stream)
    rows: list[dict[str, Any]] = []
    try:
        for batch in source.read(source_config, stream, cursor, threading.Event()):
            rows.extend(batch)
            writer.write(airbyte_records(batch, stream.sync_id))
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    return rows


def max_cursor(rows: list[dict[str, Any]], field: str) -> Any:
    return max(r[field] for r in rows if r.get(field) is not None)
