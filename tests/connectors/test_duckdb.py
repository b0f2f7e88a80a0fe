from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from connector_helpers import airbyte_records, configured, max_cursor, sync
from local_airbyte.connectors.base import (
    ConnectorError,
    DiscoveredStream,
)
from local_airbyte.connectors.duckdb import DuckDBDestination
from local_airbyte.connectors.sample_data import SampleDataSource

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "score": {"type": ["null", "number"]},
        "active": {"type": ["null", "boolean"]},
        "tags": {"type": ["null", "array"], "items": {"type": "string"}},
        "updated_at": {"type": ["null", "string"], "format": "date-time"},
        "day": {"type": ["null", "string"], "format": "date"},
    },
}
STREAM = DiscoveredStream(
    name="people",
    json_schema=SCHEMA,
    default_cursor_field=("updated_at",),
    source_defined_primary_key=(("id",),),
)


def _row(i: int, name: str, hour: int) -> dict:
    return {
        "id": i,
        "name": name,
        "score": i / 2,
        "active": i % 2 == 0,
        "tags": ["a", name],
        "updated_at": f"2024-03-01T{hour:02d}:00:00Z",
        "day": "2024-03-01",
    }


@pytest.fixture
def config(tmp_path: Path) -> dict:
    return {"destination_path": str(tmp_path / "warehouse.duckdb"), "schema": "raw"}


def _write(config: dict, mode: str, rows: list[dict], stream: DiscoveredStream = STREAM, **kw):  # type: ignore[no-untyped-def]
    writer = DuckDBDestination().open_stream(config, configured(stream, mode, **kw))
    writer.write(airbyte_records(rows))
    return writer


def _query(config: dict, sql: str) -> list[tuple]:
    with duckdb.connect(config["destination_path"], read_only=True) as con:
        return con.execute(sql).fetchall()


def test_check_and_spec(config: dict, tmp_path: Path) -> None:
    destination = DuckDBDestination()
    destination.check(config)
    assert Path(config["destination_path"]).exists()
    assert destination.default_namespace(config) == "raw"
    assert destination.default_namespace({"destination_path": "x"}) == "main"
    assert "destination_path" in destination.spec()["required"]
    with pytest.raises(ConnectorError, match="does not exist"):
        destination.check({"destination_path": str(tmp_path / "missing" / "x.duckdb")})
    with pytest.raises(ConnectorError, match="destination_path' is required"):
        destination.check({})


def test_typed_columns_and_airbyte_columns(config: dict) -> None:
    _write(config, "append", [_row(1, "ada", 1), {"id": "not-a-number", "name": "bad"}]).commit()
    types = dict(
        _query(
            config,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema='raw' AND table_name='people'",
        )
    )
    assert types == {
        "id": "BIGINT",
        "name": "VARCHAR",
        "score": "DOUBLE",
        "active": "BOOLEAN",
        "tags": "JSON",
        "updated_at": "TIMESTAMP WITH TIME ZONE",
        "day": "DATE",
        "_airbyte_raw_id": "VARCHAR",
        "_airbyte_extracted_at": "TIMESTAMP WITH TIME ZONE",
        "_airbyte_meta": "JSON",
        "_airbyte_generation_id": "BIGINT",
    }
    rows = _query(
        config,
        "SELECT id, name, tags, updated_at, _airbyte_meta FROM raw.people ORDER BY name",
    )
    assert rows[0][0] == 1 and json.loads(rows[0][2]) == ["a", "ada"]
    assert rows[0][3] == datetime(2024, 3, 1, 1, tzinfo=UTC)
    # A value that does not fit its column is NULLed and the change is recorded, as Airbyte does.
    assert rows[1][0] is None
    assert json.loads(rows[1][4])["changes"] == [
        {"field": "id", "change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR"}
    ]


def test_nothing_visible_before_commit_and_abort_keeps_old_data(config: dict) -> None:
    _write(config, "overwrite", [_row(1, "ada", 1), _row(2, "alan", 1)]).commit()
    writer = _write(config, "overwrite", [_row(3, "grace", 2)])
    # Staged outside the file: readers see the old data and may even hold the file open.
    assert _query(config, "SELECT count(*) FROM raw.people") == [(2,)]
    writer.abort()
    assert _query(config, "SELECT id FROM raw.people ORDER BY id") == [(1,), (2,)]
    _write(config, "overwrite", [_row(3, "grace", 2)]).commit()
    assert _query(config, "SELECT id FROM raw.people") == [(3,)]


def test_append_and_append_dedup(config: dict) -> None:
    _write(config, "append", [_row(1, "ada", 1)]).commit()
    _write(config, "append", [_row(1, "ada2", 2)]).commit()
    assert _query(config, "SELECT count(*) FROM raw.people") == [(2,)]

    dedup = {**config, "schema": "dd"}
    _write(dedup, "append_dedup", [_row(1, "a1", 1), _row(2, "b1", 1), _row(1, "a3", 3)]).commit()
    # An older cursor for id 1 loses against the stored row; id 2 gets a newer version.
    _write(dedup, "append_dedup", [_row(1, "a2", 2), _row(2, "b2", 2), _row(3, "c", 1)]).commit()
    assert _query(dedup, "SELECT id, name FROM dd.people ORDER BY id") == [
        (1, "a3"),
        (2, "b2"),
        (3, "c"),
    ]


def test_dedup_ties_go_to_the_latest_extraction(config: dict) -> None:
    stream = configured(STREAM, "append_dedup")
    destination = DuckDBDestination()
    old = datetime.now(UTC) - timedelta(hours=1)
    for name, moment in (("new", datetime.now(UTC)), ("old", old)):
        writer = destination.open_stream(config, stream)
        writer.write(airbyte_records([_row(1, name, 1)], extracted_at=moment))
        writer.commit()
    assert _query(config, "SELECT name FROM raw.people") == [("new",)]


def test_overwrite_dedup(config: dict) -> None:
    _write(config, "overwrite_dedup", [_row(1, "a", 1), _row(1, "b", 2), _row(2, "c", 1)]).commit()
    _write(config, "overwrite_dedup", [_row(5, "x", 1), _row(5, "y", 0)]).commit()
    assert _query(config, "SELECT id, name FROM raw.people") == [(5, "x")]


def test_dedup_without_primary_key_is_refused(config: dict) -> None:
    no_pk = DiscoveredStream(name="people", json_schema=SCHEMA)
    with pytest.raises(ConnectorError, match="no primary key"):
        DuckDBDestination().open_stream(config, configured(no_pk, "append_dedup"))


def test_schema_evolution_adds_columns(config: dict) -> None:
    _write(config, "append", [_row(1, "ada", 1)]).commit()
    wider = DiscoveredStream(
        name="people",
        json_schema={
            "type": "object",
            "properties": {**SCHEMA["properties"], "email": {"type": ["null", "string"]}},
        },
        source_defined_primary_key=(("id",),),
    )
    _write(config, "append_dedup", [{**_row(2, "alan", 2), "email": "a@x"}], wider).commit()
    assert _query(config, "SELECT id, email FROM raw.people ORDER BY id") == [
        (1, None),
        (2, "a@x"),
    ]


def test_namespace_and_prefixed_table(config: dict) -> None:
    writer = _write(
        config, "append", [_row(1, "ada", 1)], table="pre_people", destination_namespace="other"
    )
    writer.commit()
    assert _query(config, "SELECT id FROM other.pre_people") == [(1,)]


def test_concurrent_commits_to_one_file(config: dict) -> None:
    streams = [
        DiscoveredStream(name=f"s{i}", json_schema=SCHEMA, source_defined_primary_key=(("id",),))
        for i in range(4)
    ]
    errors: list[BaseException] = []

    def run(stream: DiscoveredStream) -> None:
        try:
            for n in range(2):
                _write(config, "append", [_row(n, stream.name, 1)], stream).commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in streams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for stream in streams:
        assert _query(config, f"SELECT count(*) FROM raw.{stream.name}") == [(2,)]


def test_file_locked_by_another_process(config: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(config, "append", [_row(1, "ada", 1)]).commit()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); "
            "time.sleep(30)",
            config["destination_path"],
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        monkeypatch.setattr("local_airbyte.connectors.duckdb._LOCK_RETRY_SECONDS", 0.3)
        writer = _write(config, "append", [_row(2, "alan", 1)])
        with pytest.raises(ConnectorError, match="Another connection"):
            writer.commit()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert _query(config, "SELECT count(*) FROM raw.people") == [(1,)]


def test_sample_data_full_then_incremental(config: dict) -> None:
    source = SampleDataSource()
    src = {"count": 20, "records_per_sync": 4}
    (orders,) = [s for s in source.discover(src) if s.name == "orders"]
    stream = configured(orders, "append_dedup", sync_mode="incremental")
    destination = DuckDBDestination()
    first = sync(source, src, destination, config, stream)
    assert _query(config, "SELECT count(*) FROM raw.orders") == [(len(first),)]
    second = sync(source, src, destination, config, stream, max_cursor(first, "updated_at"))
    new = {r["id"] for r in second} - {r["id"] for r in first}
    assert new
    (count,) = _query(config, "SELECT count(*) FROM raw.orders")[0]
    assert count == len(first) + len(new)
    (latest,) = _query(config, "SELECT max(updated_at) FROM raw.orders")[0]
    assert latest == datetime.fromisoformat(max_cursor(second, "updated_at"))


def test_reader_in_this_process_delays_then_fails_clearly(
    config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(config, "append", [_row(1, "ada", 1)]).commit()
    monkeypatch.setattr("local_airbyte.connectors.duckdb._LOCK_RETRY_SECONDS", 0.2)
    reader = duckdb.connect(config["destination_path"], read_only=True)
    try:
        with pytest.raises(ConnectorError, match="keeps the file open"):
            _write(config, "append", [_row(2, "alan", 1)]).commit()
    finally:
        reader.close()
    _write(config, "append", [_row(3, "grace", 1)]).commit()
    assert _query(config, "SELECT id FROM raw.people ORDER BY id") == [(1,), (3,)]


def test_files_open_in_duckdb_1_0(config: dict) -> None:
    """The file is written with storage compatibility v1.0.0 (storage version 64), which every
    DuckDB 1.x opens; DuckDB >= 1.2 would otherwise write a format 1.0/1.1 readers refuse.

    Checked with the installed DuckDB (whatever its version): the header's storage version and
    DuckDB's own ``storage_version`` tag.
    """
    import struct

    _write(config, "append", [_row(1, "a", 1)]).commit()
    with open(config["destination_path"], "rb") as handle:
        header = handle.read(20)
    assert header[8:12] == b"DUCK"
    assert struct.unpack("<Q", header[12:20])[0] == 64  # storage version of DuckDB 0.10-1.1
    db = duckdb.connect(config["destination_path"], read_only=True)
    try:
        tags = db.execute("SELECT tags FROM duckdb_databases() WHERE NOT internal").fetchone()
    finally:
        db.close()
    assert tags is not None and tags[0].get("storage_version") == "v1.0.0+"
