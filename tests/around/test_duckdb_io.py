"""A downstream Python asset reads synced tables through dagster-duckdb's I/O manager by key."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import pytest
from around_helpers import build_assets, config_post, workspace_for

pytest.importorskip("dagster_duckdb")

ROOT = Path(__file__).resolve().parents[2]


def _example() -> Any:
    spec = importlib.util.spec_from_file_location(
        "duckdb_downstream_example", ROOT / "examples" / "duckdb_downstream.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _destination_path(server: Any) -> str:
    connection = config_post(
        server, "connections/get", {"connectionId": server.sample_connection_id}
    )
    destination = config_post(
        server, "destinations/get", {"destinationId": connection["destinationId"]}
    )
    return str(destination["connectionConfiguration"]["destination_path"])


def _sync_jobs(server: Any) -> int:
    response = httpx.get(
        f"{server.public_api_url}/jobs",
        params={"connectionId": server.sample_connection_id, "jobType": "sync"},
        timeout=30,
    )
    response.raise_for_status()
    return len(response.json()["data"])


def test_downstream_asset_reads_the_synced_tables_by_key(
    local_airbyte: Any, tmp_path: Path
) -> None:
    example = _example()
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    path = _destination_path(local_airbyte)
    resources = {
        "airbyte": workspace,
        example.AIRBYTE_TABLES: example.DuckDBArrowIOManager(database=path),
    }
    downstream = example.customer_revenue
    assert set(downstream.keys_by_input_name.values()) == {
        dg.AssetKey(["raw", "orders"]),
        dg.AssetKey(["raw", "customers"]),
    }
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        # One run: the sync, then the Python asset on what it wrote.
        synced_before = _sync_jobs(local_airbyte)
        result = dg.materialize([*assets, downstream], resources=resources, instance=instance)
        assert result.success
        assert _sync_jobs(local_airbyte) == synced_before + 1
        metadata = result.asset_materializations_for_node("customer_revenue")[0].metadata

        with duckdb.connect(path, read_only=True) as con:
            orders, customers = (
                con.execute(f"select count(*) from raw.{t}").fetchone()[0]  # type: ignore[index]
                for t in ("orders", "customers")
            )
            expected = con.execute(
                "select count(distinct customer_id), coalesce(sum(total), 0) from raw.orders "
                "where customer_id in (select id from raw.customers)"
            ).fetchone()
        assert orders > 0 and customers > 0
        assert metadata["orders_read"].value == orders
        assert metadata["customers_read"].value == customers
        assert expected is not None
        assert metadata["dagster/row_count"].value == expected[0]
        assert metadata["revenue"].value == pytest.approx(float(expected[1]))

        # The Python asset alone re-reads the tables; Airbyte is not asked to sync again.
        before = _sync_jobs(local_airbyte)
        alone = dg.materialize(
            [*assets, downstream],
            resources=resources,
            instance=instance,
            selection=[dg.AssetKey("customer_revenue")],
        )
        assert alone.success
        assert _sync_jobs(local_airbyte) == before
