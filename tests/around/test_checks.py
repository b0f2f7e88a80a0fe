"""Schema drift checks: a column added to a real source table fails the check, named."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Callable, Iterator
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
from dagster_airbyte_assets.translator import MetadataKeys, column_schema_from_json_schema


@contextlib.contextmanager
def tiny_http_server(handle: Callable[[str, str, bytes], tuple[int, str, bytes]]) -> Iterator[str]:
    """A REST API on loopback for the REST API source (stdlib, stopped on exit)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, payload = handle(self.command, self.path, b"")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


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


def _checks_only(
    assets: list[dg.AssetsDefinition], checks: list[dg.AssetChecksDefinition], workspace: Any
) -> list[dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [*assets, *checks],
        resources={"airbyte": workspace},
        selection=dg.AssetSelection.all_asset_checks(),
    )
    assert result.success  # drift checks are non-blocking warnings or failures, not errors
    assert not result.get_asset_materialization_events()  # no sync ran for the checks
    return result.get_asset_check_evaluations()


def test_a_failed_discover_says_could_not_discover_never_every_stream_removed(
    local_airbyte: Any, tmp_path: Path
) -> None:
    rows = json.dumps([{"id": 1, "name": "a"}]).encode()
    with tiny_http_server(lambda m, p, b: (200, "application/json", rows)) as api:
        definitions = config_post(local_airbyte, "source_definitions/list", {})
        rest = next(d for d in definitions["sourceDefinitions"] if d["name"] == "REST API")
        source = config_post(
            local_airbyte,
            "sources/create",
            {
                "sourceDefinitionId": rest["sourceDefinitionId"],
                "connectionConfiguration": {"url": f"{api}/items"},
                "workspaceId": local_airbyte.workspace_id,
                "name": "items API",
            },
        )
        discovered = config_post(
            local_airbyte, "sources/discover_schema", {"sourceId": source["sourceId"]}
        )
        sample = config_post(
            local_airbyte, "connections/get", {"connectionId": local_airbyte.sample_connection_id}
        )
        connection = config_post(
            local_airbyte,
            "connections/create",
            {
                "sourceId": source["sourceId"],
                "destinationId": sample["destinationId"],
                "syncCatalog": discovered["catalog"],
                "scheduleType": "manual",
                "name": "items",
                "prefix": "api_",
                "status": "active",
            },
        )
        workspace = workspace_for(local_airbyte)
        assets = build_assets(
            workspace,
            tmp_path,
            connection_selector=lambda c: c.connection_id == connection["connectionId"],
        )
    # The API is gone: Airbyte answers the discover with 200, no catalog and the reason.
    checks = build_airbyte_schema_drift_checks(assets=assets)
    (evaluation,) = _checks_only(assets, checks, workspace)
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert (evaluation.description or "").startswith("could not discover: ")
    assert "no longer in the" not in (evaluation.description or "")


def test_fields_the_connection_leaves_out_are_not_drift(local_airbyte: Any, tmp_path: Path) -> None:
    cid = local_airbyte.sample_connection_id
    connection = config_post(local_airbyte, "connections/get", {"connectionId": cid})
    streams = connection["syncCatalog"]["streams"]
    customers = next(s for s in streams if s["stream"]["name"] == "customers")
    every_field = sorted(customers["stream"]["jsonSchema"]["properties"])
    keep = [f for f in every_field if f in ("id", "updated_at", "email")]
    assert len(keep) == 3 < len(every_field)
    customers["config"].update(
        fieldSelectionEnabled=True, selectedFields=[{"fieldPath": [f]} for f in keep]
    )
    config_post(
        local_airbyte,
        "connections/update",
        {"connectionId": cid, "syncCatalog": {"streams": streams}},
    )
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    spec = next(s for a in assets for s in a.specs if s.key == dg.AssetKey(["raw", "customers"]))
    columns = [c.name for c in spec.metadata[MetadataKeys.COLUMN_SCHEMA].columns]
    # The table gets the selected fields only (and Airbyte's own columns).
    assert sorted(c for c in columns if not c.startswith("_airbyte_")) == keep
    checks = build_airbyte_schema_drift_checks(assets=assets)
    evaluations = {e.asset_key: e for e in _checks_only(assets, checks, workspace)}
    # A fresh discover lists every field; the ones left out are not "added".
    customers_check = evaluations[dg.AssetKey(["raw", "customers"])]
    assert customers_check.passed, customers_check.description
    assert all(e.passed for e in evaluations.values())
