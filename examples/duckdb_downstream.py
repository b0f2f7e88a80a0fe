"""A Python asset downstream of Airbyte streams, reading the synced tables by their asset keys.

The Airbyte stream assets are keyed ``[schema, table]`` (``["raw", "orders"]``), which is exactly
how dagster-duckdb's I/O manager names a table (``raw.orders``). So a downstream asset only
declares the stream keys as inputs and gets the tables Airbyte wrote, loaded by
``DuckDBIOManager`` from the DuckDB file of the destination: no SQL, no table names in code.

dagster-duckdb ships the I/O manager; its type handlers live in sibling packages (pandas,
polars, pyspark). This example keeps to Arrow (already a dependency of the local Airbyte), so
it brings a ten-line ``pyarrow.Table`` handler; with ``dagster-duckdb-pandas`` installed,
``DuckDBPandasIOManager`` works the same way with DataFrames.

::

    airbyte_assets = build_airbyte_assets_definitions(workspace=airbyte)
    defs = dg.Definitions(
        assets=[*airbyte_assets, customer_revenue],
        resources={
            "airbyte": airbyte,
            AIRBYTE_TABLES: DuckDBArrowIOManager(database="/path/of/the/destination.duckdb"),
        },
    )
"""

# No `from __future__ import annotations`: Dagster reads the asset's input annotations.
from collections.abc import Mapping, Sequence

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice
from dagster_duckdb import DuckDBIOManager
from dagster_duckdb.io_manager import DuckDbClient

__all__ = ["AIRBYTE_TABLES", "ArrowTypeHandler", "DuckDBArrowIOManager", "customer_revenue"]

# The resource key the downstream inputs load with (the Airbyte assets store no values).
AIRBYTE_TABLES = "airbyte_tables"


class ArrowTypeHandler(DbTypeHandler[pa.Table]):
    """Reads (and writes) DuckDB tables as ``pyarrow.Table``."""

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pa.Table, connection: object
    ) -> Mapping[str, object]:
        name = f"{table_slice.schema}.{table_slice.table}"
        connection.register("dagster_output", obj)  # type: ignore[attr-defined]
        connection.execute(  # type: ignore[attr-defined]
            f"create or replace table {name} as select * from dagster_output"
        )
        connection.unregister("dagster_output")  # type: ignore[attr-defined]
        return {"dagster/row_count": obj.num_rows}

    def load_input(
        self, context: dg.InputContext, table_slice: TableSlice, connection: object
    ) -> pa.Table:
        relation = connection.sql(DuckDbClient.get_select_statement(table_slice))  # type: ignore[attr-defined]
        # DuckDB 1.4 named it to_arrow_table(); before, arrow() gave the table.
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
        return fetch()

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pa.Table]


class DuckDBArrowIOManager(DuckDBIOManager):
    """dagster-duckdb's I/O manager with Arrow tables: ``[schema, table]`` keys are tables."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [ArrowTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pa.Table


@dg.asset(
    ins={
        "orders": dg.AssetIn(key=["raw", "orders"], input_manager_key=AIRBYTE_TABLES),
        "customers": dg.AssetIn(key=["raw", "customers"], input_manager_key=AIRBYTE_TABLES),
    },
    group_name="python",
    kinds={"python", "duckdb"},
)
def customer_revenue(orders: pa.Table, customers: pa.Table) -> dg.MaterializeResult:
    """Orders and revenue per known customer, from the tables Airbyte synced."""
    known = pc.is_in(orders["customer_id"], value_set=pc.unique(customers["id"]))
    per_customer = (
        orders.filter(known)
        .group_by("customer_id")
        .aggregate([("id", "count_distinct"), ("total", "sum")])
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": per_customer.num_rows,
            "orders_read": orders.num_rows,
            "customers_read": customers.num_rows,
            "revenue": float(pc.sum(per_customer["total_sum"]).as_py() or 0),
        }
    )
