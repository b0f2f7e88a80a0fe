from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from connector_helpers import airbyte_records, configured, sync
from local_airbyte.connectors.base import (
    ConnectorError,
    DiscoveredStream,
)
from local_airbyte.connectors.s3 import S3Destination

STREAM = DiscoveredStream(
    name="orders",
    namespace="shop",
    json_schema={
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "total": {"type": ["null", "number"]},
            "items": {"type": ["null", "array"]},
            "updated_at": {"type": ["null", "string"], "format": "date-time"},
        },
    },
    source_defined_primary_key=(("id",),),
)
ROWS = [
    {"id": 1, "total": 9.5, "items": [{"sku": "a"}], "updated_at": "2024-01-01T00:00:00Z"},
    {"id": 2, "total": None, "items": None, "updated_at": "2024-01-02T00:00:00Z"},
]


def _local(tmp_path: Path, **fmt: Any) -> dict[str, Any]:
    return {
        "s3_bucket_name": "datalake",
        "s3_bucket_path": "bronze/",
        "s3_bucket_region": "us-east-1",
        "access_key_id": "minioadmin",
        "secret_access_key": "sekret-key-123",
        "s3_endpoint": f"file://{tmp_path}",
        "format": {"format_type": "Parquet", "compression_codec": "snappy", **fmt},
    }


def _write(config: dict, mode: str, rows: list[dict], namespace: str | None = "shop"):  # type: ignore[no-untyped-def]
    writer = S3Destination().open_stream(
        config, configured(STREAM, mode, destination_namespace=namespace)
    )
    writer.write(airbyte_records(rows))
    return writer


def test_local_directory_parquet_layout(tmp_path: Path) -> None:
    config = _local(tmp_path)
    S3Destination().check(config)
    assert S3Destination().default_namespace(config) is None
    _write(config, "append", ROWS).commit()
    files = list((tmp_path / "datalake" / "bronze" / "shop" / "orders").iterdir())
    assert len(files) == 1 and files[0].name.endswith("_0.parquet")
    table = pq.read_table(files[0])
    assert table.column_names == [
        "id",
        "total",
        "items",
        "updated_at",
        "_airbyte_raw_id",
        "_airbyte_extracted_at",
        "_airbyte_meta",
        "_airbyte_generation_id",
    ]
    assert str(table.schema.field("updated_at").type) == "timestamp[us, tz=UTC]"
    rows = table.to_pylist()
    assert rows[0]["id"] == 1 and json.loads(rows[0]["items"]) == [{"sku": "a"}]
    assert pq.read_metadata(files[0]).row_group(0).column(0).compression == "SNAPPY"


def test_append_adds_files_overwrite_replaces_them_abort_leaves_them(tmp_path: Path) -> None:
    config = _local(tmp_path)
    folder = tmp_path / "datalake" / "bronze" / "orders"
    _write(config, "append", ROWS, namespace=None).commit()
    _write(config, "append", ROWS, namespace=None).commit()
    assert ds.dataset(str(folder)).count_rows() == 4
    writer = _write(config, "overwrite", ROWS[:1], namespace=None)
    writer.abort()
    assert ds.dataset(str(folder)).count_rows() == 4
    _write(config, "overwrite", ROWS[:1], namespace=None).commit()
    assert ds.dataset(str(folder)).count_rows() == 1


def test_jsonl(tmp_path: Path) -> None:
    config = {**_local(tmp_path), "format": {"format_type": "JSONL"}}
    _write(config, "append", ROWS).commit()
    (path,) = (tmp_path / "datalake" / "bronze" / "shop" / "orders").glob("*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["_airbyte_data"] == ROWS[0]
    assert isinstance(lines[0]["_airbyte_extracted_at"], int)
    assert set(lines[1]) == {
        "_airbyte_raw_id",
        "_airbyte_extracted_at",
        "_airbyte_meta",
        "_airbyte_generation_id",
        "_airbyte_data",
    }


def test_bad_configs_are_explained(tmp_path: Path) -> None:
    destination = S3Destination()
    with pytest.raises(ConnectorError, match="not supported here; use Parquet or JSONL"):
        destination.check({**_local(tmp_path), "format": {"format_type": "Avro"}})
    with pytest.raises(ConnectorError, match="does not exist"):
        destination.check({**_local(tmp_path), "s3_endpoint": f"file://{tmp_path}/nope"})
    with pytest.raises(ConnectorError, match="'s3_bucket_name' is required"):
        destination.check({"format": {"format_type": "Parquet"}})


# --- a real S3-compatible endpoint: moto's server on loopback --------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server_module = pytest.importorskip("moto.server")
    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _s3_config(endpoint: str, bucket: str = "lake") -> dict[str, Any]:
    return {
        "s3_bucket_name": bucket,
        "s3_bucket_path": "raw",
        "s3_bucket_region": "us-east-1",
        "access_key_id": "testing",
        "secret_access_key": "testing-secret-value",
        "s3_endpoint": endpoint,
        "format": {"format_type": "Parquet"},
    }


def _s3fs(endpoint: str):  # type: ignore[no-untyped-def]
    from pyarrow import fs

    return fs.S3FileSystem(
        access_key="testing",
        secret_key="testing-secret-value",
        region="us-east-1",
        endpoint_override=endpoint.removeprefix("http://"),
        scheme="http",
        allow_bucket_creation=True,
    )


def test_s3_compatible_endpoint(moto_endpoint: str) -> None:
    s3 = _s3fs(moto_endpoint)
    s3.create_dir("lake")
    config = _s3_config(moto_endpoint)
    S3Destination().check(config)
    _write(config, "append", ROWS).commit()
    _write(config, "append", ROWS).commit()
    assert ds.dataset("lake/raw/shop/orders", filesystem=s3, format="parquet").count_rows() == 4
    _write(config, "overwrite", ROWS[:1]).commit()
    assert ds.dataset("lake/raw/shop/orders", filesystem=s3, format="parquet").count_rows() == 1

    missing = _s3_config(moto_endpoint, bucket="no-such-bucket")
    with pytest.raises(ConnectorError, match="no-such-bucket") as err:
        S3Destination().check(missing)
    assert "testing-secret-value" not in str(err.value)


@pytest.mark.postgres
def test_postgres_to_s3_parquet_round_trip(pg_database, moto_endpoint: str) -> None:  # type: ignore[no-untyped-def]
    from local_airbyte.connectors.postgres import PostgresSource

    with pg_database.connect() as conn:
        conn.execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric, at timestamptz);"
            "INSERT INTO items SELECT g, 'item ' || g, g * 1.5, "
            "'2024-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 2500) g"
        )
    source_config = {
        "host": pg_database.host,
        "port": pg_database.port,
        "database": pg_database.database,
        "username": pg_database.user,
    }
    (found,) = PostgresSource().discover(source_config)
    s3 = _s3fs(moto_endpoint)
    s3.create_dir("roundtrip")
    config = _s3_config(moto_endpoint, bucket="roundtrip")
    stream = configured(found, "overwrite", destination_namespace=found.namespace)
    rows = sync(PostgresSource(), source_config, S3Destination(), config, stream)
    assert len(rows) == 2500
    table = ds.dataset("roundtrip/raw/public/items", filesystem=s3, format="parquet").to_table()
    assert table.num_rows == 2500
    by_id = {r["id"]: r for r in table.to_pylist()}
    assert by_id[10]["name"] == "item 10" and by_id[10]["price"] == 15.0
    assert by_id[10]["at"].isoformat() == "2024-01-01T10:00:00+00:00"


@pytest.mark.parametrize(
    ("namespace", "table", "bucket_path"),
    [
        ("../../escaped", "orders", "bronze/"),  # a namespace format like "../${SOURCE_NAMESPACE}"
        ("shop", "../../orders", "bronze/"),  # a prefix "../../"
        ("/absolute", "orders", "bronze/"),
        ("sh\x00op", "orders", "bronze/"),
        ("shop", "orders", "../outside"),
        ("shop/./..", "orders", "bronze/"),
    ],
)
def test_file_bucket_paths_stay_inside_the_directory(
    tmp_path: Path, namespace: str, table: str, bucket_path: str
) -> None:
    """In a ``file://`` bucket keys are paths: anything leaving the directory is refused before
    a byte is written (on S3 such keys are plain strings; here they would write outside)."""
    root = tmp_path / "root"
    root.mkdir()
    config = {**_local(root), "s3_bucket_path": bucket_path}
    stream = configured(STREAM, "append", destination_namespace=namespace)
    stream = type(stream)(**{**stream.__dict__, "destination_table": table})
    with pytest.raises(ConnectorError, match="S3: "):
        S3Destination().open_stream(config, stream)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_file_bucket_symlink_out_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "datalake" / "bronze").mkdir(parents=True)
    (root / "datalake" / "bronze" / "shop").symlink_to(tmp_path)
    with pytest.raises(ConnectorError, match="outside the bucket directory"):
        S3Destination().open_stream(
            _local(root), configured(STREAM, "append", destination_namespace="shop")
        )
