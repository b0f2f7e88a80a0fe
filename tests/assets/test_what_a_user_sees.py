"""What a user sees in the UI and the logs (issue 12): names, metadata, row counts, progress.

Real Dagster materializations against the local Airbyte over HTTP; each test checks the job on
the server side too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx

from dagster_airbyte_assets import (
    AirbyteWorkspace,
    build_airbyte_assets_definitions,
    build_airbyte_schedules,
    build_airbyte_schema_drift_checks,
)
from dagster_airbyte_assets.translator import MetadataKeys


def _config_post(server: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.config_api_url}/{path}", json=body, timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def _copy_of_sample(server: Any, prefix: str) -> str:
    """A second connection with the sample connection's name, landing under ``prefix``."""
    sample = _config_post(server, "connections/get", {"connectionId": server.sample_connection_id})
    body = {
        key: sample[key]
        for key in ("sourceId", "destinationId", "syncCatalog", "name", "namespaceDefinition")
    }
    body.update(prefix=prefix, status="active", scheduleType="manual")
    return str(_config_post(server, "connections/create", body)["connectionId"])


def _workspace(server: Any) -> AirbyteWorkspace:
    return AirbyteWorkspace(url=server.url, poll_interval=1.0)


def _names(server: Any, tmp_path: Path) -> tuple[set[str], set[str], set[str], list[str]]:
    workspace = _workspace(server)
    state = tmp_path / "state.json"
    assets = build_airbyte_assets_definitions(workspace=workspace, state_path=state)
    checks = build_airbyte_schema_drift_checks(assets=assets)
    name = _config_post(server, "connections/get", {"connectionId": server.sample_connection_id})[
        "name"
    ]
    schedules = build_airbyte_schedules(
        workspace=workspace, assets=assets, state_path=state, cron_overrides={name: "0 * * * *"}
    )
    ids = [
        c["connectionId"]
        for c in _config_post(server, "connections/list", {"workspaceId": server.workspace_id})[
            "connections"
        ]
    ]
    steps_and_checks = {a.node_def.name for a in assets}, {c.node_def.name for c in checks}
    return *steps_and_checks, {s.name for s in schedules}, ids


def test_step_and_check_names_carry_no_ids_and_are_the_same_on_every_machine(
    local_airbyte_factory: Any, tmp_path: Path
) -> None:
    machines = []
    for n in (1, 2):
        server = local_airbyte_factory(seed="sample", test_controls=True, auth="none")
        _copy_of_sample(server, "copy_")
        machines.append(_names(server, tmp_path / str(n)))
    (ops_1, checks_1, schedules_1, ids_1), (ops_2, checks_2, schedules_2, ids_2) = machines
    assert set(ids_1).isdisjoint(ids_2)  # two deployments, different ids...
    assert ops_1 == ops_2  # ...and the same step names
    assert checks_1 == checks_2
    assert schedules_1 == schedules_2
    assert len(ops_1) == len(checks_1) == len(schedules_1) == 2
    for name in ops_1 | checks_1 | schedules_1:
        assert not any(i[:8] in name for i in ids_1 + ids_2), name
    base = min(ops_1, key=len)
    assert ops_1 == {base, f"{base}_2"}


def _duckdb_path(server: Any) -> str:
    sample = _config_post(server, "connections/get", {"connectionId": server.sample_connection_id})
    destination = _config_post(
        server, "destinations/get", {"destinationId": sample["destinationId"]}
    )
    return str(destination["connectionConfiguration"]["destination_path"])


def _materialize(server: Any, tmp_path: Path) -> tuple[list[dg.AssetsDefinition], Any]:
    workspace = _workspace(server)
    assets = build_airbyte_assets_definitions(
        workspace=workspace, state_path=tmp_path / "state.json"
    )
    # An instance of the test's own (disposed here): no temporary directory left to the GC.
    (tmp_path / "dagster").mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
    assert result.success
    return assets, result


def _sync_jobs(server: Any) -> list[dict[str, Any]]:
    body = {"configTypes": ["sync"], "configId": server.sample_connection_id}
    jobs: list[dict[str, Any]] = _config_post(server, "jobs/list", body)["jobs"]
    return jobs


def test_table_names_are_fully_qualified_as_dbt_and_duckdb_name_them(
    local_airbyte: Any, tmp_path: Path
) -> None:
    assets, _ = _materialize(local_airbyte, tmp_path)
    assert len(_sync_jobs(local_airbyte)) == 1
    path = _duckdb_path(local_airbyte)
    with duckdb.connect(path, read_only=True) as con:
        for spec in (s for a in assets for s in a.specs):
            table_name = spec.metadata[MetadataKeys.TABLE_NAME]
            database, schema, table = table_name.split(".")
            assert database == Path(path).stem  # DuckDB's catalog: the file's stem
            assert (schema, table) == ("raw", spec.key.path[-1])
            # The name as written resolves in DuckDB itself, fully qualified.
            count = con.execute(f"select count(*) from {table_name}").fetchone()
            assert count is not None and count[0] > 0


def _local_post(server: Any, path: str, body: dict[str, Any]) -> None:
    httpx.post(f"{server.url}/_local/{path}", json=body, timeout=30).raise_for_status()


def _run_log(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [e.user_message for e in instance.all_logs(run_id) if not e.is_dagster_event]


def test_a_running_sync_says_how_far_it_got_and_how_it_ended(
    local_airbyte: Any, tmp_path: Path
) -> None:
    cid = local_airbyte.sample_connection_id
    name = _config_post(local_airbyte, "connections/get", {"connectionId": cid})["name"]
    _local_post(local_airbyte, f"connections/{cid}/sync_duration", {"seconds": 3})
    _local_post(
        local_airbyte, f"connections/{cid}/fail_next_attempts", {"count": 1, "message": "hiccup"}
    )
    workspace = AirbyteWorkspace(url=local_airbyte.url, poll_interval=1.0, heartbeat_interval=0.5)
    assets = build_airbyte_assets_definitions(
        workspace=workspace, state_path=tmp_path / "state.json"
    )
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
        assert result.success
        lines = _run_log(instance, result.run_id)
    [job] = _sync_jobs(local_airbyte)
    job_id = job["job"]["id"]
    me = f"Airbyte job {job_id} of connection {name!r}"

    # Heartbeats while it runs, with the numbers so far.
    beats = [line for line in lines if line.startswith(f"{me} still running")]
    assert beats, lines
    for line in beats:
        assert re.fullmatch(
            rf"{re.escape(me)} still running( \(attempt \d\))? after \d+\.\ds: "
            r"(\d[\d,]* records, [\d.]+ (B|KiB|MiB) so far|no numbers from Airbyte yet)\.",
            line,
        ), line
    # The failed attempt, once, with Airbyte's reason.
    assert [line for line in lines if "failed" in line and "attempt" in line] == [
        f"{me}: attempt 1 failed: hiccup"
    ]
    # "So far" never once the job has ended.
    assert not [line for line in lines if "succeeded" in line and "so far" in line]
    # A per-stream summary at the end, with the numbers the materializations carry.
    [summary] = [line for line in lines if line.startswith(f"{me} succeeded in ")]
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        table = materialization.asset_key.path[-1]
        synced = materialization.metadata[MetadataKeys.RECORDS_SYNCED].value
        assert re.search(rf"\b{table} {synced:,} records \([\d.]+ (B|KiB|MiB)\)", summary), summary
    assert "(2 attempts)" in summary
    # Connections by name: their id appears in no line.
    assert not [line for line in lines if cid in line]


def _sync_meta(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    return {
        e.materialization.asset_key.path[-1]: {
            k: v.value for k, v in e.materialization.metadata.items()
        }
        for e in result.get_asset_materialization_events()
    }


def test_row_count_is_the_tables_size_and_records_synced_what_the_sync_moved(
    local_airbyte: Any, tmp_path: Path
) -> None:
    cid = local_airbyte.sample_connection_id
    path = _duckdb_path(local_airbyte)

    def tables() -> dict[str, int]:
        with duckdb.connect(path, read_only=True) as con:
            return {
                t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]  # type: ignore[index]
                for t in ("customers", "orders", "products")
            }

    def run(name: str, **settings: Any) -> dict[str, dict[str, Any]]:
        workspace = AirbyteWorkspace(url=local_airbyte.url, poll_interval=1.0, **settings)
        assets = build_airbyte_assets_definitions(
            workspace=workspace, state_path=tmp_path / f"{name}.json"
        )
        (tmp_path / name).mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / name)) as instance:
            result = dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
        assert result.success
        return _sync_meta(result)

    run("first")
    before = tables()
    # Incremental append, counting switched off: the table's size is unknown here, so no
    # dagster/row_count at all (never the rows synced in its place).
    second = run("second", fetch_row_counts=False)
    after = tables()
    for table, meta in second.items():
        assert meta[MetadataKeys.RECORDS_SYNCED] == after[table] - before[table]
        assert MetadataKeys.ROW_COUNT not in meta
    # Counting on (the default): the table's size, read in the destination.
    third = run("third")
    now = tables()
    for table, meta in third.items():
        assert meta[MetadataKeys.ROW_COUNT] == now[table]
        assert meta[MetadataKeys.RECORDS_SYNCED] == now[table] - after[table]

    # Full refresh | overwrite: the rows synced are the table, known without counting.
    connection = _config_post(local_airbyte, "connections/get", {"connectionId": cid})
    catalog = connection["syncCatalog"]
    for stream in catalog["streams"]:
        stream["config"].update(syncMode="full_refresh", destinationSyncMode="overwrite")
    _config_post(local_airbyte, "connections/update", {"connectionId": cid, "syncCatalog": catalog})
    overwritten = run("overwrite", fetch_row_counts=False)
    final = tables()
    for table, meta in overwritten.items():
        assert meta[MetadataKeys.ROW_COUNT] == meta[MetadataKeys.RECORDS_SYNCED] == final[table]
    assert len(_sync_jobs(local_airbyte)) == 4


def test_metadata_reads_well_and_links_the_attempt_that_succeeded(
    local_airbyte: Any, tmp_path: Path
) -> None:
    cid = local_airbyte.sample_connection_id
    _local_post(
        local_airbyte, f"connections/{cid}/fail_next_attempts", {"count": 1, "message": "hiccup"}
    )
    assets, result = _materialize(local_airbyte, tmp_path)
    [job] = _sync_jobs(local_airbyte)
    attempts = [a["id"] for a in job["attempts"]]
    assert len(attempts) == 2
    noise = {"airbyte/workspace_id", "airbyte/json_schema_hash"}
    for spec in (s for a in assets for s in a.specs):
        assert noise.isdisjoint(spec.metadata), spec.metadata.keys()
    events = result.get_asset_materialization_events()
    assert len(events) == 3
    for event in events:
        metadata = event.materialization.metadata
        assert noise.isdisjoint(metadata)
        # The link opens the attempt that succeeded, as Airbyte's UI links it.
        url = metadata[MetadataKeys.JOB_URL].value
        assert isinstance(url, str)
        assert url.endswith(f"/connections/{cid}/job-history#{job['job']['id']}::{attempts[-1]}")
        # Seconds as a float, whatever Airbyte's whole-second timestamps give.
        duration = metadata[MetadataKeys.DURATION_S]
        assert isinstance(duration, dg.FloatMetadataValue)
        assert duration.value == float(job["job"]["updatedAt"] - job["job"]["createdAt"])
        # Bytes for machines and for people.
        size = metadata[MetadataKeys.BYTES_COMMITTED].value
        assert isinstance(size, int) and size > 0
        text = metadata[MetadataKeys.SIZE_COMMITTED].value
        assert re.fullmatch(r"\d+(\.\d)? (B|KiB|MiB)", str(text)), text
        number, unit = str(text).split()
        scale = {"B": 1, "KiB": 1024, "MiB": 1024**2}[unit]
        assert abs(float(number) * scale - size) <= 0.05 * scale


def test_columns_are_typed_as_the_destination_types_them(
    local_airbyte: Any, tmp_path: Path
) -> None:
    assets, _ = _materialize(local_airbyte, tmp_path)
    assert len(_sync_jobs(local_airbyte)) == 1
    specs = {s.key.path[-1]: s for a in assets for s in a.specs}
    orders = specs["orders"].metadata[MetadataKeys.COLUMN_SCHEMA].columns
    # destination-duckdb's rules (airbyte_cdk.sql's SQLTypeConverter), Airbyte's columns last.
    assert [(c.name, c.type) for c in orders] == [
        ("id", "BIGINT"),
        ("customer_id", "BIGINT"),
        ("product_id", "BIGINT"),
        ("quantity", "BIGINT"),
        ("unit_price", "DECIMAL(38,9)"),
        ("total", "DECIMAL(38,9)"),
        ("status", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("updated_at", "TIMESTAMP"),
        ("_airbyte_raw_id", "VARCHAR"),
        ("_airbyte_extracted_at", "TIMESTAMP"),
        ("_airbyte_meta", "JSON"),
    ]
    # Every predicted column is a column of the table that landed, in its order. (The local
    # Airbyte also writes _airbyte_generation_id, which destination-duckdb does not.)
    with duckdb.connect(_duckdb_path(local_airbyte), read_only=True) as con:
        for table, spec in specs.items():
            landed = [
                row[0]
                for row in con.execute(
                    "select column_name from information_schema.columns where "
                    "table_schema = 'raw' and table_name = ? order by ordinal_position",
                    [table],
                ).fetchall()
            ]
            predicted = [c.name for c in spec.metadata[MetadataKeys.COLUMN_SCHEMA].columns]
            assert [c for c in landed if c in predicted] == predicted
            assert set(landed) - set(predicted) <= {"_airbyte_generation_id"}


def test_heartbeat_without_a_progress_endpoint_reads_the_attempts(
    local_airbyte_factory: Any, tmp_path: Path
) -> None:
    # Airbyte 0.50 has no connections/sync_progress: the numbers come from the job's attempt.
    server = local_airbyte_factory(
        seed="sample", test_controls=True, auth="none", airbyte_version="0.50"
    )
    cid = server.sample_connection_id
    name = _config_post(server, "connections/get", {"connectionId": cid})["name"]
    _local_post(server, f"connections/{cid}/sync_duration", {"seconds": 3})
    workspace = AirbyteWorkspace(
        url=server.config_api_url, poll_interval=1.0, heartbeat_interval=0.5
    )
    assets = build_airbyte_assets_definitions(
        workspace=workspace, state_path=tmp_path / "state.json"
    )
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
        assert result.success
        lines = _run_log(instance, result.run_id)
    [job] = _sync_jobs(server)
    me = f"Airbyte job {job['job']['id']} of connection {name!r}"
    beats = [line for line in lines if line.startswith(f"{me} still running after ")]
    assert beats, lines
    assert all(line.endswith(" so far.") or "no numbers" in line for line in beats), beats
    assert [line for line in lines if line.startswith(f"{me} succeeded in ")]
    assert not [line for line in lines if cid in line]
