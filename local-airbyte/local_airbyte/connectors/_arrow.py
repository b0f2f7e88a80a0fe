"""Typed rows as Arrow tables: DuckDB stages them as Parquet, S3 writes them as Parquet.

JSON columns travel as strings (Parquet has no JSON type that every reader understands).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ._typing import Column, ColumnKind, typed_row
from .base import Record

__all__ = ["arrow_schema", "arrow_table"]

_ARROW_TYPES: dict[ColumnKind, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp_tz": pa.timestamp("us", tz="UTC"),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "json": pa.string(),
}


def arrow_schema(columns: list[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.kind]) for c in columns])


def arrow_table(records: list[Record], columns: list[Column], schema: pa.Schema) -> pa.Table:
    """Type ``records`` (see :func:`typed_row`) into an Arrow table of ``schema``."""
    rows = [typed_row(record, columns) for record in records]
    arrays: list[Any] = []
    for index, column in enumerate(columns):
        values = [row[index] for row in rows]
        if column.kind == "number":
            values = [None if v is None else float(v) for v in values]
        arrays.append(pa.array(values, type=_ARROW_TYPES[column.kind]))
    return pa.Table.from_arrays(arrays, schema=schema)
