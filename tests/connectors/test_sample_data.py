from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from connector_helpers import configured, max_cursor, read_all
from local_airbyte.connectors.base import ConnectorError
from local_airbyte.connectors.sample_data import SampleDataSource

CONFIG = {"count": 30, "seed": 7, "records_per_sync": 4}


@pytest.fixture
def source() -> SampleDataSource:
    return SampleDataSource()


def _stream(source: SampleDataSource, name: str, sync_mode: str = "full_refresh"):  # type: ignore[no-untyped-def]
    (found,) = [s for s in source.discover(CONFIG) if s.name == name]
    return configured(found, sync_mode=sync_mode)


def test_discover_streams_and_schema(source: SampleDataSource) -> None:
    streams = {s.name: s for s in source.discover(CONFIG)}
    assert set(streams) == {"customers", "products", "orders"}
    for stream in streams.values():
        props = stream.json_schema["properties"]
        assert props["updated_at"]["format"] == "date-time"
        assert props["created_at"]["type"] == "string"
        assert stream.source_defined_primary_key == (("id",),)
        assert stream.source_defined_cursor and stream.default_cursor_field == ("updated_at",)
    assert streams["orders"].json_schema["properties"]["total"]["type"] == ["null", "number"]


def test_full_refresh_is_base_data_plus_changes(source: SampleDataSource) -> None:
    customers = read_all(source, CONFIG, _stream(source, "customers"))
    ids = [r["id"] for r in customers]
    assert len(ids) == len(set(ids))
    assert set(range(1, 31)) <= set(ids)
    assert len(customers) == 30 + 2  # 4 changes: 2 new customers, 2 updates of base rows
    for row in customers:
        datetime.fromisoformat(row["updated_at"])
        assert "@" in row["email"]
    orders = read_all(source, CONFIG, _stream(source, "orders"))
    assert {o["id"] for o in orders} >= set(range(1, 61))
    assert all(o["total"] == round(o["unit_price"] * o["quantity"], 2) for o in orders)


def test_base_data_is_deterministic(source: SampleDataSource) -> None:
    one = {r["id"]: r for r in read_all(source, CONFIG, _stream(source, "products"))}
    two = {r["id"]: r for r in read_all(source, CONFIG, _stream(source, "products"))}
    old = "2025-06-01T00:00:00.000000Z"
    same = [i for i in one if one[i]["updated_at"] < old and two[i]["updated_at"] < old]
    assert len(same) >= len(one) - 8
    assert all(one[i] == two[i] for i in same)
    other = read_all(source, {**CONFIG, "seed": 8}, _stream(source, "products"))
    assert [r["name"] for r in other] != [one[i]["name"] for i in sorted(one)]


@pytest.mark.parametrize("name", ["customers", "products", "orders"])
def test_incremental_yields_only_newer_rows(source: SampleDataSource, name: str) -> None:
    stream = _stream(source, name, "incremental")
    first = read_all(source, CONFIG, stream)
    cursor = max_cursor(first, "updated_at")
    second = read_all(source, CONFIG, stream, cursor)
    assert second, "every incremental read must bring changes"
    assert all(r["updated_at"] > cursor for r in second)
    third = read_all(source, CONFIG, stream, max_cursor(second, "updated_at"))
    assert third and all(r["updated_at"] > max_cursor(second, "updated_at") for r in third)
    if name != "products":
        # New rows get ids derived from time: never an id seen before.
        new_ids = {r["id"] for r in third} - {r["id"] for r in first + second}
        assert new_ids


def test_incremental_with_cursor_in_the_future(source: SampleDataSource) -> None:
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = read_all(source, CONFIG, _stream(source, "orders", "incremental"), future)
    assert rows and all(r["updated_at"] > future for r in rows)


def test_cancel_stops_reading(source: SampleDataSource) -> None:
    cancelled = threading.Event()
    cancelled.set()
    batches = list(source.read({"count": 5000}, _stream(source, "customers"), None, cancelled))
    assert batches == []


def test_bad_config_is_explained(source: SampleDataSource) -> None:
    with pytest.raises(ConnectorError, match="'count' must be an integer"):
        source.check({"count": "many"})
    with pytest.raises(ConnectorError, match="no stream 'nope'"):
        stream = _stream(source, "orders")
        read_all(source, CONFIG, type(stream)(**{**stream.__dict__, "name": "nope"}))
