"""Schema drift checks: a column added to a real source table fails the check, named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from around_helpers import build_assets, config_post, workspace_for

from dagster_airbyte_assets.checks import (
    SCHEMA_DRIFT_CHECK_NAME,
    build_airbyte_schema_drift_checks,
    compare_column_schemas,
)
from dagster_airbyte_assets.translator import column_schema_from_json_schema


def test_compare_lists_added_removed_and_retyped_columns() -> None:
    before = column_schema_from_json_schema(
        {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "x": {}}}
    )
    after = column_schema_from_json_schema(
        {"properties": {"id": {"type": "string"}, "name": {"type": "string"}, "email": {}}}
    )
    drift = compare_column_schemas(before, after)
    assert drift.added == {"email": "unknown?"}
    assert drift.removed == {"x": "unknown?"}
    assert drift.retyped == {"id": ("integer", "string")}
    assert (
        "added email" in drift.describe() and "re-typed id (integer -> string)" in drift.describe()
    )


def _postgres_connection(server: Any, pg: Any) -> str:
    sources = config_post(server, "source_definitions/list", {})["sourceDefinitions"]
    definition = next(d for d in sources if d["name"] == "Postgres")
    workspace_id = server.workspace_id
    source = config_post(
        server,
        "sources/create",
        {
            "sourceDefinitionId": definition["sourceDefinitionId"],
            "connectionConfiguration": {
                "host": pg.host,
                "port": pg.port,
                "database": pg.database,
                "username": pg.user,
                "schemas": ["public"],
            },
            "workspaceId": workspace_id,
            "name": "Postgres people",
        },
    )
    sample = config_post(server, "connections/get", {"connectionId": server.sample_connection_id})
    connection = config_post(
        server,
        "connections/create",
        {
            "sourceId": source["sourceId"],
            "destinationId": sample["destinationId"],
            "syncCatalog": {
                "streams": [
                    {
                        "stream": {"name": "people", "namespace": "public"},
                        "config": {
                            "syncMode": "full_refresh",
                            "destinationSyncMode": "overwrite",
                            "selected": True,
                        },
                    }
                ]
            },
            "scheduleType": "manual",
            "name": "people",
            "namespaceDefinition": "destination",
            "prefix": "pg_",
            "status": "active",
        },
    )
    return str(connection["connectionId"])


@pytest.mark.postgres
def test_added_source_column_fails_the_drift_check(
    local_airbyte: Any, pg_database: Any, tmp_path: Path
) -> None:
    with pg_database.connect() as con:
        con.execute("create table people (id integer primary key, name text)")
        con.execute("insert into people values (1, 'Ada'), (2, 'Grace')")
    connection_id = _postgres_connection(local_airbyte, pg_database)
    workspace = workspace_for(local_airbyte)
    assets = build_assets(
        workspace, tmp_path, connection_selector=lambda c: c.connection_id == connection_id
    )
    checks = build_airbyte_schema_drift_checks(assets=assets)
    key = dg.AssetKey(["raw", "pg_people"])

    def run() -> dg.AssetCheckEvaluation:
        result = dg.materialize([*assets, *checks], resources={"airbyte": workspace})
        assert result.success  # non-blocking: the sync's materialization stands either way
        [evaluation] = result.get_asset_check_evaluations()
        assert evaluation.asset_key == key
        assert evaluation.check_name == SCHEMA_DRIFT_CHECK_NAME
        return evaluation

    assert run().passed

    with pg_database.connect() as con:
        con.execute("alter table people add column email text")
    failed = run()
    assert not failed.passed
    assert "added email" in (failed.description or "")
    assert failed.metadata["added_columns"].value == ["email"]
