"""The example dbt project (``examples/dbt_project``) built for real, in DuckDB and PostgreSQL.

The raw tables are shaped like the local Airbyte's "Sample Data" streams after an incremental
append sync (typed columns plus the Airbyte columns), including what such syncs produce: ids
repeated with a newer ``updated_at``, a tie on ``updated_at`` broken by ``_airbyte_extracted_at``,
a NULL ``updated_at``, and ids past 2^31. Times are UTC while the database session runs in
Tokyo, so a day bucketed in local time would show up as a wrong ``order_date``.

dbt is not a dependency of the package itself; outside CI these tests skip without it. No
``from __future__ import annotations``: Dagster reads the ``context`` annotation at runtime.
"""

import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("CI") != "true":  # under CI a missing dbt must fail, never skip
    pytest.importorskip("dagster_dbt")

from dagster import AssetExecutionContext, AssetKey, materialize
from dagster_dbt import DbtCliResource, dbt_assets

PROJECT_DIR = Path(__file__).resolve().parents[2] / "examples" / "dbt_project"
SESSION_TZ = "Asia/Tokyo"  # UTC+9: 2024-05-01T23:30Z is already May 2nd there


def _ts(text: str) -> datetime:
    """A UTC instant in 2024 from ``"MM-DD HH:MM"``."""
    return datetime.fromisoformat(f"2024-{text}").replace(tzinfo=UTC)


# Two syncs: S1 (the first, full) and S2 (an incremental append of what changed since).
S1, S2 = _ts("05-02 00:00"), _ts("05-04 00:00")
NEW_CUSTOMER = 1714600000000000  # the source's new-row ids: millis * 1000 + i
NEW_ORDER = 1714600000000001
TS = ("TIMESTAMPTZ", "timestamptz")
BIGINT, TEXT, DOUBLE = ("BIGINT", "bigint"), ("VARCHAR", "text"), ("DOUBLE", "double precision")

# fmt: off
# table -> ({column: (DuckDB type, PostgreSQL type)}, rows: the columns, then extracted_at)
RAW_TABLES: dict[str, tuple[dict[str, tuple[str, str]], list[tuple[Any, ...]]]] = {
    "customers": (
        {"id": BIGINT, "first_name": TEXT, "last_name": TEXT, "email": TEXT, "country": TEXT,
         "created_at": TS, "updated_at": TS},
        [
            (1, "Ada", "Lovelace", "ada.lovelace.1@example.com", "FR",
             _ts("01-03 08:00"), _ts("01-05 08:00"), S1),
            # A version without updated_at must never win (PostgreSQL sorts NULLs first).
            (1, "Ada", "Lovelace", "ada.lovelace.1@example.com", "XX",
             _ts("01-03 08:00"), None, S2),
            (2, "Grace", "Hopper", "grace.hopper.2@example.com", "US",
             _ts("02-10 08:00"), _ts("02-12 08:00"), S1),
            (2, "Grace", "Hopper", "grace.hopper.2@example.com", "DE",
             _ts("02-10 08:00"), _ts("05-03 09:00"), S2),
            # The same updated_at twice: the later extraction wins.
            (3, "Alan", "Turing", "alan.turing.3@example.com", "GB",
             _ts("03-01 08:00"), _ts("03-01 09:00"), S1),
            (3, "Alan", "Turing", "alan.turing.3@example.com", "JP",
             _ts("03-01 08:00"), _ts("03-01 09:00"), S2),
            (NEW_CUSTOMER, "Linus", "Torvalds", f"linus.torvalds.{NEW_CUSTOMER}@example.com", "FI",
             _ts("05-03 14:00"), _ts("05-03 14:00"), S2),
        ],
    ),
    "products": (
        {"id": BIGINT, "name": TEXT, "category": TEXT, "price": DOUBLE,
         "in_stock": ("BOOLEAN", "boolean"), "created_at": TS, "updated_at": TS},
        [
            (1, "Pro Notebook", "books", 12.5, True, _ts("01-02 08:00"), _ts("01-02 08:00"), S1),
            (2, "Smart Kettle", "kitchen", 40.0, True, _ts("01-02 08:00"), _ts("01-09 08:00"), S1),
            (2, "Smart Kettle", "kitchen", 44.0, False, _ts("01-02 08:00"), _ts("05-03 06:00"), S2),
            (3, "Eco Lamp", "garden", 30.0, True, _ts("01-02 08:00"), _ts("01-02 08:00"), S1),
        ],
    ),
    "orders": (
        {"id": BIGINT, "customer_id": BIGINT, "product_id": BIGINT, "quantity": BIGINT,
         "unit_price": DOUBLE, "total": DOUBLE, "status": TEXT, "created_at": TS, "updated_at": TS},
        [
            (1, 1, 1, 2, 12.5, 25.0, "pending", _ts("05-01 10:00"), _ts("05-01 10:00"), S1),
            (1, 1, 1, 2, 12.5, 25.0, "paid", _ts("05-01 10:00"), _ts("05-01 12:00"), S1),
            # 23:30 UTC is May 2nd in the session's time zone: it must count for May 1st.
            (2, 1, 3, 1, 30.0, 30.0, "delivered", _ts("05-01 23:30"), _ts("05-01 23:30"), S1),
            (3, 2, 2, 1, 40.0, 40.0, "pending", _ts("05-02 08:00"), _ts("05-02 08:00"), S2),
            (3, 2, 2, 1, 40.0, 40.0, "cancelled", _ts("05-02 08:00"), _ts("05-03 08:00"), S2),
            (4, 2, 1, 1, 12.5, 12.5, "shipped", _ts("05-02 09:00"), _ts("05-02 09:00"), S2),
            (5, 3, 2, 2, 44.0, 88.0, "paid", _ts("05-03 07:00"), _ts("05-03 07:00"), S2),
            (5, 3, 2, 2, 44.0, 88.0, "refunded", _ts("05-03 07:00"), _ts("05-03 11:00"), S2),
            (NEW_ORDER, NEW_CUSTOMER, 2, 3, 44.0, 132.0, "pending",
             _ts("05-03 15:00"), _ts("05-03 15:00"), S2),
        ],
    ),
}
# fmt: on
AIRBYTE_COLUMNS = {
    "_airbyte_raw_id": ("VARCHAR", "text"),
    "_airbyte_extracted_at": ("TIMESTAMPTZ", "timestamptz"),
    "_airbyte_meta": ("JSON", "jsonb"),
    "_airbyte_generation_id": ("BIGINT", "bigint"),
}

# (customer_id, country, order_count, lifetime_value, first_order_at)
EXPECTED_CUSTOMER_ORDERS = [
    (1, "FR", 2, Decimal("55.00"), _ts("05-01 10:00")),
    (2, "DE", 1, Decimal("12.50"), _ts("05-02 09:00")),
    (3, "JP", 0, Decimal("0.00"), None),
    (NEW_CUSTOMER, "FI", 1, Decimal("132.00"), _ts("05-03 15:00")),
]
# (order_date, order_count, units_sold, revenue)
EXPECTED_DAILY_REVENUE = [
    (date(2024, 5, 1), 2, 3, Decimal("55.00")),
    (date(2024, 5, 2), 1, 1, Decimal("12.50")),
    (date(2024, 5, 3), 1, 3, Decimal("132.00")),
]
CUSTOMER_ORDERS_SQL = (
    "select customer_id, country, order_count, lifetime_value, first_order_at"
    " from marts.customer_orders order by customer_id"
)
DAILY_REVENUE_SQL = (
    "select order_date, order_count, units_sold, revenue from marts.daily_revenue"
    " order by order_date"
)


def _raw_ddl_and_rows(
    dialect: int, placeholder: str
) -> Iterator[tuple[str, str, list[tuple[Any, ...]]]]:
    """(create table, insert, rows) per raw table; ``dialect`` 0 is DuckDB, 1 PostgreSQL."""
    for table, (columns, rows) in RAW_TABLES.items():
        all_columns = {**columns, **AIRBYTE_COLUMNS}
        names = list(all_columns)
        create = (
            f"create table raw.{table} ("
            + ", ".join(f"{name} {types[dialect]}" for name, types in all_columns.items())
            + ")"
        )
        insert = (
            f"insert into raw.{table} ({', '.join(names)}) values ("
            + ", ".join([placeholder] * len(names))
            + ")"
        )
        full_rows = [
            (*row[:-1], f"{table}-{i}", row[-1], '{"changes": []}', 1) for i, row in enumerate(rows)
        ]
        yield create, insert, full_rows


def _normalise(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """PostgreSQL sums bigints into numeric: compare whole-number Decimals as ints."""
    return [
        tuple(int(v) if isinstance(v, Decimal) and v.as_tuple().exponent == 0 else v for v in row)
        for row in rows
    ]


def _dbt(project_dir: Path, target: str = "duckdb") -> DbtCliResource:
    """The dbt CLI of this interpreter's environment (a venv's bin/ need not be on PATH)."""
    beside = Path(sys.executable).parent / "dbt"
    return DbtCliResource(
        project_dir=str(project_dir),
        profiles_dir=str(project_dir),
        target=target,
        dbt_executable=str(beside) if beside.exists() else "dbt",
    )


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the project, so runs never write target/ or logs/ into the repo."""
    copy = tmp_path_factory.mktemp("dbt") / "dbt_project"
    shutil.copytree(
        PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*", ".user.yml")
    )
    return copy


@pytest.fixture(scope="module")
def manifest_path(project_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBT_DUCKDB_PATH", str(tmp_path_factory.mktemp("parse") / "unused.duckdb"))
        invocation = _dbt(project_dir).cli(["parse"], target_path=project_dir / "target").wait()
    return invocation.target_path / "manifest.json"


def test_sources_carry_the_airbyte_stream_asset_keys(manifest_path: Path) -> None:
    @dbt_assets(manifest=manifest_path)
    def sample_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource) -> Any:
        yield from dbt.cli(["build"], context=context).stream()

    airbyte_keys = {AssetKey(["raw", t]) for t in ("customers", "products", "orders")}
    assert airbyte_keys <= set(sample_dbt_assets.dependency_keys)
    assert set(sample_dbt_assets.keys) == {
        AssetKey(["staging", "stg_customers"]),
        AssetKey(["staging", "stg_products"]),
        AssetKey(["staging", "stg_orders"]),
        AssetKey(["marts", "customer_orders"]),
        AssetKey(["marts", "daily_revenue"]),
    }
    deps = sample_dbt_assets.asset_deps
    assert deps[AssetKey(["staging", "stg_orders"])] == {AssetKey(["raw", "orders"])}


@pytest.mark.slow
def test_build_in_duckdb_through_dagster(
    project_dir: Path, manifest_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    db_path = tmp_path / "airbyte.duckdb"
    with duckdb.connect(str(db_path)) as con:
        con.execute("create schema raw")
        for create, insert, rows in _raw_ddl_and_rows(0, "?"):
            con.execute(create)
            con.executemany(insert, rows)
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(db_path))
    monkeypatch.setenv("TZ", SESSION_TZ)  # DuckDB's session time zone defaults to the local one

    @dbt_assets(manifest=manifest_path)
    def sample_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource) -> Any:
        yield from dbt.cli(["build"], context=context).stream()

    result = materialize([sample_dbt_assets], resources={"dbt": _dbt(project_dir)})

    assert result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == set(sample_dbt_assets.keys)
    checks = result.get_asset_check_evaluations()
    assert checks, "the dbt tests should run as Dagster asset checks"
    assert all(check.passed for check in checks), [c.check_name for c in checks if not c.passed]
    with duckdb.connect(str(db_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        assert _normalise(con.execute(CUSTOMER_ORDERS_SQL).fetchall()) == EXPECTED_CUSTOMER_ORDERS
        assert _normalise(con.execute(DAILY_REVENUE_SQL).fetchall()) == EXPECTED_DAILY_REVENUE


@pytest.mark.slow
@pytest.mark.postgres
def test_build_in_postgres(
    project_dir: Path, pg_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pg_database.connect() as con:
        con.execute("create schema raw")
        for create, insert, rows in _raw_ddl_and_rows(1, "%s"):
            con.execute(create)
            with con.cursor() as cur:
                cur.executemany(insert, rows)
    monkeypatch.setenv("DBT_PG_HOST", pg_database.host)
    monkeypatch.setenv("DBT_PG_PORT", str(pg_database.port))
    monkeypatch.setenv("DBT_PG_USER", pg_database.user)
    monkeypatch.setenv("DBT_PG_DBNAME", pg_database.database)
    monkeypatch.setenv("PGTZ", SESSION_TZ)  # libpq sets the session time zone from it

    invocation = (
        _dbt(project_dir, "postgres")
        .cli(["build"], target_path=project_dir / "target-postgres")
        .wait()
    )

    assert invocation.is_successful()
    results = invocation.get_artifact("run_results.json")["results"]
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    assert len(tests) >= 9 and all(r["status"] == "pass" for r in tests), tests
    with pg_database.connect() as con:
        con.execute("set time zone 'UTC'")
        assert _normalise(con.execute(CUSTOMER_ORDERS_SQL).fetchall()) == EXPECTED_CUSTOMER_ORDERS
        assert _normalise(con.execute(DAILY_REVENUE_SQL).fetchall()) == EXPECTED_DAILY_REVENUE


def _sync_sample_data_into_duckdb(db_path: Path, syncs: int) -> dict[str, list[dict[str, Any]]]:
    """Run ``syncs`` incremental-append syncs of the real Sample Data source into the real
    DuckDB destination (adding the Airbyte columns as the engine does); return every record
    emitted per stream, in emission order."""
    import threading
    import uuid

    from local_airbyte.connectors.base import ConfiguredStream
    from local_airbyte.connectors.duckdb import DuckDBDestination
    from local_airbyte.connectors.sample_data import SampleDataSource

    source, destination = SampleDataSource(), DuckDBDestination()
    source_config = {"count": 30, "seed": 7, "records_per_sync": 10}
    destination_config = {"destination_path": str(db_path), "schema": "raw"}
    emitted: dict[str, list[dict[str, Any]]] = {}
    cursors: dict[str, Any] = {}
    for sync_id in range(1, syncs + 1):
        for discovered in source.discover(source_config):
            stream = ConfiguredStream(
                name=discovered.name,
                json_schema=discovered.json_schema,
                sync_mode="incremental",
                destination_sync_mode="append",
                destination_table=discovered.name,
                destination_namespace="raw",
                cursor_field=("updated_at",),
                primary_key=(("id",),),
                sync_id=sync_id,
            )
            writer = destination.open_stream(destination_config, stream)
            extracted_at = datetime.now(UTC)
            for batch in source.read(
                source_config, stream, cursors.get(stream.name), threading.Event()
            ):
                for record in batch:
                    record["_airbyte_raw_id"] = str(uuid.uuid4())
                    record["_airbyte_extracted_at"] = extracted_at.isoformat()
                    record["_airbyte_meta"] = {"changes": [], "sync_id": sync_id}
                    record["_airbyte_generation_id"] = 0
                writer.write(batch)
                emitted.setdefault(stream.name, []).extend(batch)
            writer.commit()
            cursors[stream.name] = max(r["updated_at"] for r in emitted[stream.name])
    return emitted


def _latest(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    latest: dict[int, dict[str, Any]] = {}
    for record in records:  # later syncs come later: ties go to the later extraction
        kept = latest.get(record["id"])
        if kept is None or record["updated_at"] >= kept["updated_at"]:
            latest[record["id"]] = record
    return latest


@pytest.mark.slow
def test_build_on_what_the_local_airbyte_syncs(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The models fit the real Sample Data columns as the real DuckDB destination types them."""
    import duckdb

    db_path = tmp_path / "airbyte.duckdb"
    emitted = _sync_sample_data_into_duckdb(db_path, syncs=2)
    customers, orders = _latest(emitted["customers"]), _latest(emitted["orders"])
    assert len(emitted["orders"]) > len(orders), "the second sync should repeat some ids"
    revenue: dict[date, Decimal] = {}
    for order in orders.values():
        if order["status"] not in ("cancelled", "refunded"):
            day = datetime.fromisoformat(order["created_at"]).astimezone(UTC).date()
            revenue[day] = revenue.get(day, Decimal(0)) + Decimal(str(order["total"]))

    monkeypatch.setenv("DBT_DUCKDB_PATH", str(db_path))
    invocation = _dbt(project_dir).cli(["build"], target_path=tmp_path / "target").wait()

    assert invocation.is_successful()
    with duckdb.connect(str(db_path), read_only=True) as con:
        statuses = dict(con.execute("select order_id, status from staging.stg_orders").fetchall())
        assert statuses == {oid: o["status"] for oid, o in orders.items()}
        assert con.execute("select count(*) from marts.customer_orders").fetchone() == (
            len(customers),
        )
        daily = dict(con.execute("select order_date, revenue from marts.daily_revenue").fetchall())
        assert daily == revenue
