"""``examples/demo.py`` (``make demo``) run twice as a script, as a new user would.

The first run seeds the local Airbyte, syncs everything and builds the dbt models; the second,
on the same state with no clean-up, must sync incrementally (fewer rows) and build again. The
evidence is read where it lands: Dagster's event log in DAGSTER_HOME and the DuckDB file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import ROOT, clean_environment, free_port, skip_without_dbt

skip_without_dbt()

pytestmark = pytest.mark.slow

STREAMS = ("customers", "products", "orders")
MODELS = (
    ("staging", "stg_customers"),
    ("staging", "stg_products"),
    ("staging", "stg_orders"),
    ("marts", "customer_orders"),
    ("marts", "daily_revenue"),
)


def _run_demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _row_counts(instance: Any, key: Any, label: str = "airbyte/records_synced") -> list[int]:
    """``label`` (records synced) of every materialization of ``key``, oldest first."""
    records = instance.fetch_materializations(key, limit=10, ascending=True).records
    counts = []
    for record in records:
        value = record.asset_materialization.metadata[label].value
        assert isinstance(value, int)
        counts.append(value)
    return counts


def test_demo_twice_second_run_incremental(tmp_path: Path) -> None:
    import dagster as dg
    import duckdb

    state_dir, home = tmp_path / "local-airbyte", tmp_path / "dagster_home"
    port = free_port()
    env = clean_environment(
        DEMO_STATE_DIR=str(state_dir), DAGSTER_HOME=str(home), DEMO_PORT=str(port)
    )

    first = _run_demo(env)
    second = _run_demo(env)

    for result in (first, second):
        assert "8 assets materialized" in result.stdout, result.stdout
        # DEMO_PORT kept on an immediate rerun (its last connections are in TIME_WAIT), so the
        # job link the run recorded names it.
        assert "is in use" not in result.stdout
        assert f"Airbyte's page of this sync: http://127.0.0.1:{port}/workspaces/" in result.stdout
        assert "loaded definitions.py" in result.stdout  # progress while loading
        assert "19 asset checks: 19 passed, 0 warned, 0 failed." in result.stdout
        assert "freshness: 3 checks" in result.stdout
        assert "automation: 5 dbt models build" in result.stdout
        assert "Running with dbt" not in result.stdout  # dbt's own log stays out of the way
        assert "Local Airbyte stopped." in result.stdout
    assert "enabled: false" in (home / "dagster.yaml").read_text()  # telemetry off

    assert "Preparing the dbt manifest" in first.stdout  # dbt parse, said while it runs
    assert "Preparing the dbt manifest" not in second.stdout  # the manifest is up to date

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert [(r.job_name, r.tags.get("launched_by")) for r in runs] == [
            ("sync_and_transform", "make demo")
        ] * 2
        table_rows: dict[str, Any] = {}
        synced = {stream: _row_counts(instance, dg.AssetKey(["raw", stream])) for stream in STREAMS}
        for stream, counts in synced.items():
            assert len(counts) == 2, (stream, counts)
        for schema, model in MODELS:
            records = instance.fetch_materializations(dg.AssetKey([schema, model]), limit=10)
            assert len(records.records) == 2, model
            metadata = records.records[0].asset_materialization.metadata  # type: ignore[union-attr]
            # dagster-dbt's typed columns for every model; row counts for tables (not views)
            columns = metadata["dagster/column_schema"].value.columns  # type: ignore[attr-defined]
            assert columns and all(c.type for c in columns), model
            if schema == "marts":
                table_rows[model] = metadata["dagster/row_count"].value

    total_first = sum(counts[0] for counts in synced.values())
    total_second = sum(counts[1] for counts in synced.values())
    assert 0 < total_second < total_first, synced  # incremental: only what changed moved
    with duckdb.connect(str(state_dir / "local.duckdb"), read_only=True) as con:
        for stream, counts in synced.items():
            (rows,) = con.execute(f"select count(*) from raw.{stream}").fetchone() or (0,)
            assert rows == sum(counts), stream  # append: both syncs' rows are in the table
            # dagster/row_count is the table's size (counted in the DuckDB file), as for dbt
            sizes = _row_counts(instance, dg.AssetKey(["raw", stream]), "dagster/row_count")
            assert sizes[-1] == rows, stream
        (customers,) = con.execute("select count(distinct id) from raw.customers").fetchone() or (
            0,
        )
        (summarised,) = con.execute("select count(*) from marts.customer_orders").fetchone() or (0,)
        assert summarised == customers > 0  # the marts were rebuilt over the second sync too
        assert table_rows["customer_orders"] == summarised  # dbt's row count is the table's
