"""Postgres → Postgres through Dagster: real tables in, real tables out, counts that match.

The source and the destination are two databases on the PostgreSQL server of this machine
(never skipped under ``CI=true``). The connection is created through the client's management
calls, as a user scripting Airbyte would, and materialized with ``dagster.materialize``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions
from dagster_airbyte_assets.client import AirbyteStream
from dagster_airbyte_assets.translator import MetadataKeys

pytestmark = pytest.mark.postgres


def _seed_source(db: Any) -> None:
    with db.connect() as conn:
        conn.execute(
            "create table customers (id int primary key, email text, updated_at timestamptz not null)"
        )
        conn.execute(
            "create table orders (id int primary key, customer_id int, amount numeric(10,2),"
            " updated_at timestamptz not null)"
        )
        conn.execute(
            "insert into customers select i, 'c' || i || '@example.com',"
            " now() - interval '1 day' + i * interval '1 second' from generate_series(1, 40) i"
        )
        conn.execute(
            "insert into orders select i, 1 + i % 40, i * 1.5,"
            " now() - interval '1 day' + i * interval '1 second' from generate_series(1, 120) i"
        )


def _count(db: Any, table: str) -> int:
    with db.connect() as conn:
        row = conn.execute(f"select count(*) from {table}").fetchone()
    assert row is not None
    return int(row[0])


def _connection(server: Any, source_db: Any, dest_db: Any) -> str:
    client = AirbyteWorkspace(url=server.config_api_url).get_client()
    defs = {d.name: d.definition_id for d in client.list_source_definitions()}
    dest_defs = {d.name: d.definition_id for d in client.list_destination_definitions()}
    common = {"host": source_db.host, "port": source_db.port, "username": source_db.user}
    source = client.create_source(
        server.workspace_id,
        "Shop DB",
        defs["Postgres"],
        {**common, "database": source_db.database, "password": "unused", "schemas": ["public"]},
    )
    destination = client.create_destination(
        server.workspace_id,
        "Warehouse",
        dest_defs["Postgres"],
        {**common, "database": dest_db.database, "password": "unused", "schema": "raw"},
    )
    streams = [
        AirbyteStream(
            name=stream.name,
            namespace=stream.namespace,
            json_schema=stream.json_schema,
            selected=True,
            sync_mode="incremental",
            destination_sync_mode="append_dedup",
            cursor_field=["updated_at"],
            primary_key=[["id"]],
        )
        for stream in client.discover_source_schema(source.source_id)
    ]
    connection = client.create_connection(
        source.source_id, destination.destination_id, name="Shop → Warehouse", streams=streams
    )
    return connection.connection_id


def test_postgres_to_postgres_first_and_incremental(
    local_airbyte: Any, pg_database: Any, warehouse_database: Any, tmp_path: Path
) -> None:
    source_db, dest_db = pg_database, warehouse_database
    _seed_source(source_db)
    connection_id = _connection(local_airbyte, source_db, dest_db)

    workspace = AirbyteWorkspace(url=local_airbyte.url, poll_interval=2.0)
    assets = build_airbyte_assets_definitions(
        workspace=workspace,
        state_path=tmp_path / "state.json",
        connection_selector=lambda c: c.connection_id == connection_id,
    )
    keys = {key for a in assets for key in a.keys}
    assert keys == {dg.AssetKey(["raw", "customers"]), dg.AssetKey(["raw", "orders"])}
    spec = next(s for a in assets for s in a.specs if s.key == dg.AssetKey(["raw", "orders"]))
    assert spec.metadata[MetadataKeys.TABLE_NAME] == f"{dest_db.database}.raw.orders"
    assert spec.kinds == {"airbyte", "postgres"}
    columns = {c.name: c.type for c in spec.metadata[MetadataKeys.COLUMN_SCHEMA].columns}
    assert columns == {
        "id": "bigint",
        "customer_id": "bigint",
        "amount": "numeric",
        "updated_at": "timestamp with time zone",
        "_airbyte_raw_id": "character varying",
        "_airbyte_extracted_at": "timestamp with time zone",
        "_airbyte_meta": "jsonb",
        "_airbyte_generation_id": "bigint",
    }

    first = dg.materialize(assets, resources={"airbyte": workspace})
    assert first.success
    # The columns as the destination created them (what dbt shows for the same table).
    for stream_spec in (s for a in assets for s in a.specs):
        with dest_db.connect() as conn:
            created = conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = %s order by ordinal_position",
                (stream_spec.key.path[-1],),
            ).fetchall()
        predicted = stream_spec.metadata[MetadataKeys.COLUMN_SCHEMA].columns
        assert {c.name: c.type for c in predicted} == dict(created)
    rows = {
        e.asset_key.path[-1]: e.event_specific_data.materialization.metadata[  # type: ignore[union-attr]
            MetadataKeys.RECORDS_SYNCED
        ].value
        for e in first.get_asset_materialization_events()
    }
    assert rows == {"customers": 40, "orders": 120}
    assert _count(dest_db, "raw.orders") == 120

    with source_db.connect() as conn:
        conn.execute("insert into orders select i, 1, 9.99, now() from generate_series(121, 125) i")
        conn.execute(
            "update customers set email = 'new@example.com', updated_at = now() where id = 7"
        )
    second = dg.materialize(assets, resources={"airbyte": workspace})
    assert second.success
    # Dedup into Postgres: the table's size cannot be known from here (the API never returns
    # the destination's password), so no dagster/row_count rather than the rows synced.
    for event in second.get_asset_materialization_events():
        assert MetadataKeys.ROW_COUNT not in event.materialization.metadata
    rows = {
        e.asset_key.path[-1]: e.event_specific_data.materialization.metadata[  # type: ignore[union-attr]
            MetadataKeys.RECORDS_SYNCED
        ].value
        for e in second.get_asset_materialization_events()
    }
    # Only what changed moved; dedup by primary key keeps one row per id.
    assert rows == {"customers": 1, "orders": 5}
    assert _count(dest_db, "raw.orders") == 125
    assert _count(dest_db, "raw.customers") == 40
    with dest_db.connect() as conn:
        email = conn.execute("select email from raw.customers where id = 7").fetchone()
    assert email == ("new@example.com",)
