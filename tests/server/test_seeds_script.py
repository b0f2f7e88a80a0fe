"""The seeds' complete Python setup script, adapted only in base URL and ids, end to end.

Source: /work/shared/seeds/config-api-reference.md, "Complete pipeline configuration". The
``requests`` calls are kept (``httpx`` if ``requests`` is absent); the Postgres source points at
a throw-away database with tables, the S3 destination at a local directory (``file://``).
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from local_airbyte_helpers import config_post, wait_for_job

try:
    import requests
except ImportError:  # pragma: no cover
    import httpx as requests  # type: ignore[no-redef]

pytestmark = pytest.mark.postgres


class AirbyteClient:
    """Airbyte API client (verbatim from the seeds, apart from the base URL argument)."""

    def __init__(self, base_url: str = "http://localhost:8001/api/v1"):
        self.base_url = base_url
        self.headers = {"Content-Type": "application/json"}
        self.workspace_id = self._get_workspace_id()

    def _get_workspace_id(self):  # type: ignore[no-untyped-def]
        response = requests.post(f"{self.base_url}/workspaces/list", headers=self.headers, json={})
        workspaces = response.json()["workspaces"]
        return workspaces[0]["workspaceId"]

    def create_postgres_source(self, name: str, config: dict):  # type: ignore[no-untyped-def,type-arg]
        response = requests.post(
            f"{self.base_url}/source_definitions/list",
            headers=self.headers,
            json={"workspaceId": self.workspace_id},
        )
        definitions = response.json()["sourceDefinitions"]
        pg_def = next(d for d in definitions if "postgres" in d["name"].lower())
        payload = {
            "sourceDefinitionId": pg_def["sourceDefinitionId"],
            "connectionConfiguration": config,
            "workspaceId": self.workspace_id,
            "name": name,
        }
        response = requests.post(
            f"{self.base_url}/sources/create", headers=self.headers, json=payload
        )
        return response.json()

    def create_s3_destination(self, name: str, config: dict):  # type: ignore[no-untyped-def,type-arg]
        response = requests.post(
            f"{self.base_url}/destination_definitions/list",
            headers=self.headers,
            json={"workspaceId": self.workspace_id},
        )
        definitions = response.json()["destinationDefinitions"]
        s3_def = next(d for d in definitions if d["name"] == "S3")
        payload = {
            "destinationDefinitionId": s3_def["destinationDefinitionId"],
            "connectionConfiguration": config,
            "workspaceId": self.workspace_id,
            "name": name,
        }
        response = requests.post(
            f"{self.base_url}/destinations/create", headers=self.headers, json=payload
        )
        return response.json()

    def create_connection(
        self, source_id: str, dest_id: str, streams: list, schedule_hours: int = 24
    ):  # type: ignore[no-untyped-def,type-arg]
        payload = {
            "sourceId": source_id,
            "destinationId": dest_id,
            "syncCatalog": {"streams": streams},
            "schedule": {"units": schedule_hours, "timeUnit": "hours"},
            "name": f"{source_id[:8]} → {dest_id[:8]}",
            "namespaceDefinition": "source",
            "status": "active",
        }
        response = requests.post(
            f"{self.base_url}/connections/create", headers=self.headers, json=payload
        )
        return response.json()

    def trigger_sync(self, connection_id: str):  # type: ignore[no-untyped-def]
        response = requests.post(
            f"{self.base_url}/connections/sync",
            headers=self.headers,
            json={"connectionId": connection_id},
        )
        return response.json()["job"]["id"]


def _ecommerce(pg_database) -> None:  # type: ignore[no-untyped-def]
    with pg_database.connect() as conn:
        for table in ("customers", "orders"):
            conn.execute(
                f"CREATE TABLE {table} (id int primary key, name text, updated_at timestamptz)"
            )
            conn.execute(
                f"INSERT INTO {table} SELECT g, 'n' || g, now() - g * interval '1 minute'"
                " FROM generate_series(1, 25) g"
            )


def test_seeds_script_postgres_to_s3_parquet(local_airbyte_factory, pg_database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _ecommerce(pg_database)
    # The seeds' script starts with workspaces/list, which Airbyte removed in v1.7.0: run it
    # against the last release that has it.
    server = local_airbyte_factory(airbyte_version="1.6")
    (tmp_path / "s3").mkdir()
    client = AirbyteClient(server.config_api_url)
    pg_source = client.create_postgres_source(
        name="PostgreSQL - Ecommerce",
        config={
            "host": pg_database.host,
            "port": pg_database.port,
            "database": pg_database.database,
            "username": pg_database.user,
            "password": "postgres",
            "ssl": False,
            "replication_method": {"method": "Standard"},
        },
    )
    minio_dest = client.create_s3_destination(
        name="MinIO - Bronze",
        config={
            "s3_bucket_name": "datalake",
            "s3_bucket_path": "bronze/",
            "s3_bucket_region": "us-east-1",
            "access_key_id": "minioadmin",
            "secret_access_key": "minioadmin",
            "s3_endpoint": f"file://{tmp_path / 's3'}",
            "format": {"format_type": "Parquet", "compression_codec": "snappy"},
        },
    )
    streams = [
        {
            "stream": {"name": name, "namespace": "public"},
            "config": {
                "syncMode": "incremental",
                "cursorField": ["updated_at"],
                "destinationSyncMode": "append",
                "selected": True,
            },
        }
        for name in ("customers", "orders")
    ]
    connection = client.create_connection(
        source_id=pg_source["sourceId"],
        dest_id=minio_dest["destinationId"],
        streams=streams,
        schedule_hours=6,
    )
    job_id = client.trigger_sync(connection["connectionId"])
    info = wait_for_job(server, job_id)
    assert info["job"]["status"] == "succeeded", info["attempts"][-1]["logs"]["logLines"]
    files = sorted((tmp_path / "s3").rglob("*.parquet"))
    assert {f.parent.name for f in files} == {"customers", "orders"}
    table = pq.read_table(next(f for f in files if f.parent.name == "orders"))
    assert table.num_rows == 25 and "_airbyte_raw_id" in table.column_names
    assert "minioadmin" not in str(minio_dest)


def test_postgres_to_postgres_incremental(local_airbyte_factory, pg_database) -> None:  # type: ignore[no-untyped-def]
    _ecommerce(pg_database)
    # The seeds' script starts with workspaces/list, which Airbyte removed in v1.7.0: run it
    # against the last release that has it.
    server = local_airbyte_factory(airbyte_version="1.6")
    ws = server.workspace_id
    sdefs = config_post(server, "/source_definitions/list").json()["sourceDefinitions"]
    ddefs = config_post(server, "/destination_definitions/list").json()["destinationDefinitions"]
    pg_config = {
        "host": pg_database.host,
        "port": pg_database.port,
        "database": pg_database.database,
        "username": pg_database.user,
        "password": "x",
    }
    source = config_post(
        server,
        "/sources/create",
        {
            "workspaceId": ws,
            "name": "pg",
            "sourceDefinitionId": next(d for d in sdefs if d["name"] == "Postgres")[
                "sourceDefinitionId"
            ],
            "connectionConfiguration": pg_config,
        },
    ).json()
    dest = config_post(
        server,
        "/destinations/create",
        {
            "workspaceId": ws,
            "name": "pgd",
            "destinationDefinitionId": next(d for d in ddefs if d["name"] == "Postgres")[
                "destinationDefinitionId"
            ],
            "connectionConfiguration": {**pg_config, "schema": "raw"},
        },
    ).json()
    connection = config_post(
        server,
        "/connections/create",
        {
            "sourceId": source["sourceId"],
            "destinationId": dest["destinationId"],
            "status": "active",
            "prefix": "pg_",
            "namespaceDefinition": "destination",
            "syncCatalog": {
                "streams": [
                    {
                        "stream": {"name": "orders", "namespace": "public"},
                        "config": {
                            "syncMode": "incremental",
                            "cursorField": ["updated_at"],
                            "destinationSyncMode": "append_dedup",
                            "primaryKey": [["id"]],
                            "selected": True,
                        },
                    }
                ]
            },
        },
    ).json()
    cid = connection["connectionId"]
    first = wait_for_job(
        server, config_post(server, "/connections/sync", {"connectionId": cid}).json()["job"]["id"]
    )
    assert first["job"]["status"] == "succeeded", first["attempts"][-1]["logs"]["logLines"]
    with pg_database.connect() as conn:
        conn.execute(
            "UPDATE orders SET name = 'changed', updated_at = now() + interval '1 hour' WHERE id = 3"
        )
    second = wait_for_job(
        server, config_post(server, "/connections/sync", {"connectionId": cid}).json()["job"]["id"]
    )
    assert second["job"]["aggregatedStats"]["recordsCommitted"] == 1
    with pg_database.connect() as conn:
        rows = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE name = 'changed') FROM raw.pg_orders"
        ).fetchone()
    assert rows == (25, 1)
