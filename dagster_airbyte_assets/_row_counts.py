"""``dagster/row_count`` by Dagster's convention: the rows in the table, not the rows synced.

Dagster, dagster-dbt (``fetch_row_counts()``) and dagster-dlt (``fetch_row_count()``) use
``dagster/row_count`` for the table's size. A sync knows that size only sometimes:

- **Full refresh, overwrite**: the table holds exactly what the job committed for the stream.
- **Otherwise** (incremental, append, dedup): only a count in the destination can tell. This
  module counts where this process can read the destination itself (a DuckDB file on this
  machine, as the local Airbyte and a single-host deployment have it), after the job ended.
  Destinations it cannot reach (a DuckDB path inside Airbyte's containers, Postgres, whose
  password the API never returns) get no ``dagster/row_count``: never a made-up one.

The rows the sync moved are ``airbyte/records_synced`` either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_airbyte_assets._metadata import AirbyteSpecMetadata

__all__ = ["TableRowCounter", "table_row_count"]

logger = logging.getLogger("dagster_airbyte_assets")

_TABLE_NAME = "dagster/table_name"
_LOCK_WAIT = 5.0


@dataclass(frozen=True)
class TableRowCounter:
    """Counts the rows of stream tables in destinations this process can read.

    ``duckdb_paths`` maps a connection id to the DuckDB file its destination writes (taken
    from the workspace snapshot at definition time: counting costs no Airbyte call).
    """

    duckdb_paths: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_destinations(
        cls, destination_by_connection: Mapping[str, tuple[str | None, str | None]]
    ) -> TableRowCounter:
        """From ``{connection id: (destination type, destination path)}``."""
        return cls(
            {
                cid: path
                for cid, (kind, path) in destination_by_connection.items()
                if kind == "duckdb" and path and not path.startswith("md:") and path != ":memory:"
            }
        )

    def count(self, connection_id: str, specs: Sequence[dg.AssetSpec]) -> dict[dg.AssetKey, int]:
        """Rows per stream table, for the tables that could be counted (maybe none)."""
        path = self.duckdb_paths.get(connection_id)
        if not path or not Path(path).is_file():
            return {}
        try:
            import duckdb
        except ImportError:
            return {}
        counts: dict[dg.AssetKey, int] = {}
        try:
            with _open_read_only(duckdb, path) as con:
                for spec in specs:
                    table = _qualified(spec.metadata.get(_TABLE_NAME))
                    if table is None:
                        continue
                    try:
                        row = con.execute(f"select count(*) from {table}").fetchone()
                    except duckdb.Error as exc:  # the table is not there (yet)
                        logger.debug("No row count for %s: %s", table, exc)
                        continue
                    if row is not None:
                        counts[spec.key] = int(row[0])
        except duckdb.Error as exc:  # locked by a writer, unreadable...
            logger.debug("Cannot count rows in %s: %s", path, exc)
        return counts


def _open_read_only(duckdb: Any, path: str) -> Any:
    """A read-only connection; a file another sync is writing is waited for a few seconds.

    DuckDB lets no reader in while a writer holds the file (several connections may write to
    one file, one after the other); past the wait, the error goes up and no count is given.
    """
    delay, waited = 0.1, 0.0
    while True:
        try:
            return duckdb.connect(path, read_only=True)
        except duckdb.Error as exc:
            if "lock" not in str(exc).lower() or waited >= _LOCK_WAIT:
                raise
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 1.0)


def _qualified(value: Any) -> str | None:
    name = getattr(value, "value", value)
    if not isinstance(name, str) or not name:
        return None
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def table_row_count(
    spec: dg.AssetSpec, records_committed: int | None, counted: Mapping[dg.AssetKey, int]
) -> int | None:
    """The table's size after the sync, where it can be known (see the module docstring)."""
    if spec.key in counted:
        return counted[spec.key]
    meta = AirbyteSpecMetadata.of(spec.metadata)
    if meta.sync_mode == "full_refresh" and meta.destination_sync_mode == "overwrite":
        return records_committed
    return None
