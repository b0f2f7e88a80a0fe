from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from connector_helpers import airbyte_records, configured, max_cursor, read_all, sync
from local_airbyte.connectors.base import (
    ConnectorError,
    DiscoveredStream,
)
from local_airbyte.connectors.postgres import (
    PostgresDestination,
    PostgresSource,
    normalize_postgres_identifier,
)

pytestmark = pytest.mark.postgres

SCHEMA_SQL = """
CREATE SCHEMA shop;
CREATE TYPE shop.mood AS ENUM ('happy', 'sad');
CREATE TABLE shop.customers (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    score numeric(10, 2),
    small smallint,
    active boolean,
    tags text[],
    numbers integer[],
    payload jsonb,
    mood shop.mood,
    born date,
    updated_at timestamptz,
    local_ts timestamp,
    raw bytea
);
CREATE TABLE shop.order_lines (order_id int, line int, qty int, PRIMARY KEY (order_id, line));
CREATE VIEW shop.happy AS SELECT id, name FROM shop.customers WHERE mood = 'happy';
CREATE TABLE public.elsewhere (id int);
INSERT INTO shop.customers VALUES
 (1, 'ada', 1.50, 3, true, '{a,b}', '{1,2}', '{"k": [1, 2]}', 'happy', '1815-12-10',
  '2024-01-01 10:00:00+00', '2024-01-01 10:00:00', '\\x0102'),
 (2, 'alan', NULL, NULL, NULL, NULL, NULL, NULL, 'sad', NULL,
  '2024-01-02 10:00:00.123456+00', NULL, NULL),
 (3, 'grace', 2, 1, false, '{}', '{}', '[]', NULL, NULL, '2024-01-03 10:00:00+00', NULL, NULL);
"""


def _config(pg, **extra):  # type: ignore[no-untyped-def]
    return {
        "host": pg.host,
        "port": pg.port,
        "database": pg.database,
        "username": pg.user,
        "password": "",
        "ssl": False,
        "replication_method": {"method": "Standard"},
        **extra,
    }


@pytest.fixture
def shop(pg_database):  # type: ignore[no-untyped-def]
    with pg_database.connect() as conn:
        conn.execute(SCHEMA_SQL)
    return pg_database


def _streams(config: dict) -> dict[str, DiscoveredStream]:
    return {s.name: s for s in PostgresSource().discover(config)}


def test_normalize_identifier() -> None:
    assert normalize_postgres_identifier("Order Items") == "order_items"
    assert normalize_postgres_identifier("pre_Orders-2024") == "pre_orders_2024"
    assert normalize_postgres_identifier("1st") == "_1st"
    assert normalize_postgres_identifier("é") == "e"
    assert normalize_postgres_identifier("表") == "_"
    assert len(normalize_postgres_identifier("x" * 100)) == 63


def test_discover_types_keys_and_views(shop) -> None:  # type: ignore[no-untyped-def]
    streams = _streams(_config(shop, schemas=["shop"]))
    assert set(streams) == {"customers", "order_lines", "happy"}
    customers = streams["customers"]
    assert customers.namespace == "shop"
    assert customers.source_defined_primary_key == (("id",),)
    assert streams["order_lines"].source_defined_primary_key == (("order_id",), ("line",))
    props = customers.json_schema["properties"]
    assert props["id"] == {"type": "integer"}
    assert props["name"] == {"type": "string"}
    assert props["score"] == {"type": ["null", "number"]}
    assert props["small"] == {"type": ["null", "integer"]}
    assert props["active"] == {"type": ["null", "boolean"]}
    assert props["tags"] == {"type": ["null", "array"], "items": {"type": "string"}}
    assert props["numbers"] == {"type": ["null", "array"], "items": {"type": "integer"}}
    assert props["payload"] == {"type": ["null", "object"]}
    assert props["born"] == {"type": ["null", "string"], "format": "date"}
    assert props["updated_at"]["format"] == "date-time"
    assert props["updated_at"]["airbyte_type"] == "timestamp_with_timezone"
    assert props["local_ts"]["airbyte_type"] == "timestamp_without_timezone"
    assert props["mood"] == {"type": ["null", "string"]}  # enums (and the rest) are strings
    assert "elsewhere" in _streams(_config(shop))


def test_full_refresh_and_incremental_read(shop) -> None:  # type: ignore[no-untyped-def]
    config = _config(shop, schemas=["shop"])
    stream = configured(_streams(config)["customers"])
    rows = sorted(read_all(PostgresSource(), config, stream), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert rows[0]["score"] == 1.5 and rows[2]["score"] == 2
    assert rows[0]["tags"] == ["a", "b"] and rows[0]["payload"] == {"k": [1, 2]}
    assert rows[0]["updated_at"] == "2024-01-01T10:00:00+00:00"
    assert rows[0]["raw"] == "AQI=" and rows[0]["mood"] == "happy"
    json.dumps(rows)  # everything the source yields is JSON

    incremental = configured(
        DiscoveredStream(
            name="customers",
            namespace="shop",
            json_schema=stream.json_schema,
            default_cursor_field=("updated_at",),
        ),
        sync_mode="incremental",
    )
    first = read_all(PostgresSource(), config, incremental)
    assert [r["id"] for r in first] == [1, 2, 3]  # ordered by the cursor
    cursor = first[1]["updated_at"]
    assert [r["id"] for r in read_all(PostgresSource(), config, incremental, cursor)] == [3]
    with shop.connect() as conn:
        conn.execute(
            "UPDATE shop.customers SET name = 'ada2', updated_at = now() WHERE id = 1;"
            "INSERT INTO shop.customers (id, name, updated_at) VALUES (4, 'ken', now())"
        )
    last = read_all(PostgresSource(), config, incremental, max_cursor(first, "updated_at"))
    assert sorted(r["id"] for r in last) == [1, 4]


def test_check_failures_name_the_server_not_the_password(shop) -> None:  # type: ignore[no-untyped-def]
    PostgresSource().check(_config(shop))
    PostgresSource().check(_config(shop, schemas=["shop", "public"]))
    with pytest.raises(ConnectorError, match="schema\\(s\\) 'Shop' not found"):
        PostgresSource().check(_config(shop, schemas=["Shop"]))
    PostgresDestination().check(_config(shop))
    secret = "s3cr3t-Pa55"
    bad_db = _config(shop, database="no_such_db_xyz", password=secret)
    with pytest.raises(ConnectorError) as err:
        PostgresSource().check(bad_db)
    assert "no_such_db_xyz" in str(err.value) and secret not in str(err.value)
    closed = _config(shop, port=1, password=secret, host="127.0.0.1")
    with pytest.raises(ConnectorError) as err:
        PostgresDestination().check(closed)
    assert "127.0.0.1:1" in str(err.value) and secret not in str(err.value)
    assert secret not in repr(err.value)
    with pytest.raises(ConnectorError, match="'host', 'database' and 'username' are required"):
        PostgresSource().check({"password": secret})
    assert PostgresSource().spec()["properties"]["password"]["airbyte_secret"] is True


PEOPLE = DiscoveredStream(
    name="People List",
    json_schema={
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "Name": {"type": ["null", "string"]},
            "score": {"type": ["null", "number"]},
            "meta": {"type": ["null", "object"]},
            "updated_at": {"type": ["null", "string"], "format": "date-time"},
        },
    },
    default_cursor_field=("updated_at",),
    source_defined_primary_key=(("id",),),
)


def _people(*rows: tuple[int, str, int]) -> list[dict]:
    return [
        {
            "id": i,
            "Name": name,
            "score": Decimal("1.25") if i == 1 else i,
            "meta": {"n": i, "s": "\x00zero"},
            "updated_at": f"2024-05-01T{hour:02d}:00:00+00:00",
        }
        for i, name, hour in rows
    ]


def _write(config: dict, mode: str, rows: list[dict], stream: DiscoveredStream = PEOPLE, **kw):  # type: ignore[no-untyped-def]
    writer = PostgresDestination().open_stream(config, configured(stream, mode, **kw))
    writer.write(airbyte_records(rows))
    return writer


def _select(pg, sql: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    with pg.connect() as conn:
        return conn.execute(sql).fetchall()


def test_destination_types_names_and_modes(pg_database) -> None:  # type: ignore[no-untyped-def]
    config = _config(pg_database, schema="Raw-Data")
    assert PostgresDestination().default_namespace(config) == "raw_data"
    _write(config, "append", _people((1, "ada", 1), (2, "alan", 1))).commit()
    types = dict(
        _select(
            pg_database,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw_data' AND table_name = 'people_list'",
        )
    )
    assert types == {
        "id": "bigint",
        "name": "character varying",
        "score": "numeric",
        "meta": "jsonb",
        "updated_at": "timestamp with time zone",
        "_airbyte_raw_id": "character varying",
        "_airbyte_extracted_at": "timestamp with time zone",
        "_airbyte_meta": "jsonb",
        "_airbyte_generation_id": "bigint",
    }
    rows = _select(
        pg_database, "SELECT id, name, score, meta FROM raw_data.people_list ORDER BY id"
    )
    assert rows[0] == (1, "ada", Decimal("1.25"), {"n": 1, "s": "zero"})

    _write(config, "append", _people((1, "ada", 2))).commit()
    assert _select(pg_database, "SELECT count(*) FROM raw_data.people_list") == [(3,)]

    _write(config, "append_dedup", _people((1, "ada-old", 0), (2, "alan-new", 5))).commit()
    assert _select(pg_database, "SELECT id, name FROM raw_data.people_list ORDER BY id") == [
        (1, "ada"),
        (2, "alan-new"),
    ]


def test_overwrite_is_atomic_and_nothing_shows_before_commit(pg_database) -> None:  # type: ignore[no-untyped-def]
    config = _config(pg_database)
    _write(config, "overwrite", _people((1, "ada", 1), (2, "alan", 1))).commit()
    writer = _write(config, "overwrite", _people((3, "grace", 1)))
    assert _select(pg_database, "SELECT id FROM public.people_list ORDER BY id") == [(1,), (2,)]
    writer.abort()
    assert _select(pg_database, "SELECT id FROM public.people_list ORDER BY id") == [(1,), (2,)]
    _write(config, "overwrite_dedup", _people((3, "g1", 1), (3, "g2", 2))).commit()
    assert _select(pg_database, "SELECT id, name FROM public.people_list") == [(3, "g2")]
    tables = _select(
        pg_database,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )
    assert tables == [("people_list",)]  # no staging leftovers


def test_schema_evolution_and_dependent_view(pg_database) -> None:  # type: ignore[no-untyped-def]
    config = _config(pg_database)
    _write(config, "append", _people((1, "ada", 1))).commit()
    wider = DiscoveredStream(
        name=PEOPLE.name,
        json_schema={
            "type": "object",
            "properties": {**PEOPLE.json_schema["properties"], "Email": {"type": "string"}},
        },
        source_defined_primary_key=(("id",),),
    )
    _write(config, "append_dedup", [{**_people((2, "b", 1))[0], "Email": "b@x"}], wider).commit()
    assert _select(pg_database, "SELECT id, email FROM people_list ORDER BY id") == [
        (1, None),
        (2, "b@x"),
    ]
    with pg_database.connect() as conn:
        conn.execute("CREATE VIEW people_view AS SELECT id FROM people_list")
    with pytest.raises(ConnectorError, match="people_list failed"):
        _write(config, "overwrite", _people((9, "z", 1))).commit()
    assert _select(pg_database, "SELECT count(*) FROM people_list") == [(2,)]
    _write({**config, "drop_cascade": True}, "overwrite", _people((9, "z", 1))).commit()
    assert _select(pg_database, "SELECT id FROM people_list") == [(9,)]


def test_postgres_to_postgres_round_trip(shop, pg_database) -> None:  # type: ignore[no-untyped-def]
    source_config = _config(shop, schemas=["shop"])
    found = _streams(source_config)["customers"]
    stream = configured(
        DiscoveredStream(
            name=found.name,
            namespace=found.namespace,
            json_schema=found.json_schema,
            default_cursor_field=("updated_at",),
            source_defined_primary_key=found.source_defined_primary_key,
        ),
        "append_dedup",
        sync_mode="incremental",
        table="pre_customers",
        destination_namespace="shop_copy",
    )
    dest = _config(shop)  # same database, another schema
    rows = sync(PostgresSource(), source_config, PostgresDestination(), dest, stream)
    with shop.connect() as conn:
        conn.execute("UPDATE shop.customers SET name = 'grace2', updated_at = now() WHERE id = 3")
    again = sync(
        PostgresSource(),
        source_config,
        PostgresDestination(),
        dest,
        stream,
        max_cursor(rows, "updated_at"),
    )
    assert [r["id"] for r in again] == [3]
    copied = _select(
        shop,
        "SELECT id, name, score, tags, payload, updated_at, born, raw FROM shop_copy.pre_customers "
        "ORDER BY id",
    )
    assert [r[:2] for r in copied] == [(1, "ada"), (2, "alan"), (3, "grace2")]
    assert copied[0][2] == Decimal("1.5") and copied[0][3] == ["a", "b"]
    assert copied[0][4] == {"k": [1, 2]}
    assert copied[0][5] == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert str(copied[0][6]) == "1815-12-10" and copied[0][7] == "AQI="


def test_sample_data_into_postgres_incremental_dedup(pg_database) -> None:  # type: ignore[no-untyped-def]
    from local_airbyte.connectors.sample_data import SampleDataSource

    source, src = SampleDataSource(), {"count": 10, "records_per_sync": 3}
    (customers,) = [s for s in source.discover(src) if s.name == "customers"]
    stream = configured(
        customers, "append_dedup", sync_mode="incremental", table="Sample Customers"
    )
    dest = _config(pg_database)
    first = sync(source, src, PostgresDestination(), dest, stream)
    second = sync(source, src, PostgresDestination(), dest, stream, max_cursor(first, "updated_at"))
    ids = {r["id"] for r in first} | {r["id"] for r in second}
    assert _select(pg_database, "SELECT count(*), count(DISTINCT id) FROM sample_customers") == [
        (len(ids), len(ids))
    ]
    latest = {r["id"]: r["country"] for r in first + second}
    stored = dict(_select(pg_database, "SELECT id, country FROM sample_customers"))
    assert stored == latest
