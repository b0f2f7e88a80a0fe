"""Schema drift checks reading the connection's configured catalog (``schema_source="connection"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from around_helpers import build_assets, config_post, workspace_for

from dagster_airbyte_assets.checks import (
    SCHEMA_DRIFT_CHECK_NAME,
    build_airbyte_schema_drift_checks,
)


def _run_checks(
    assets: list[dg.AssetsDefinition], checks: list[dg.AssetChecksDefinition], workspace: Any
) -> dict[dg.AssetKey, dg.AssetCheckEvaluation]:
    """Only the checks: no sync is needed to compare schemas."""
    result = dg.materialize(
        [*assets, *checks],
        resources={"airbyte": workspace},
        selection=dg.AssetSelection.all_asset_checks(),
    )
    assert result.success
    assert not result.get_asset_materialization_events()
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {SCHEMA_DRIFT_CHECK_NAME}
    return {e.asset_key: e for e in evaluations}


def test_changed_connection_catalog_fails_the_check_naming_the_column(
    local_airbyte: Any, tmp_path: Path
) -> None:
    cid = local_airbyte.sample_connection_id
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    checks = build_airbyte_schema_drift_checks(assets=assets, schema_source="connection")
    keys = {dg.AssetKey(["raw", t]) for t in ("customers", "products", "orders")}

    before = _run_checks(assets, checks, workspace)
    assert set(before) == keys and all(e.passed for e in before.values())

    # Someone edits the connection's catalog in Airbyte: customers gains a column.
    connection = config_post(local_airbyte, "connections/get", {"connectionId": cid})
    catalog = connection["syncCatalog"]
    [customers] = [s for s in catalog["streams"] if s["stream"]["name"] == "customers"]
    properties = customers["stream"]["jsonSchema"]["properties"]
    assert "loyalty_tier" not in properties
    properties["loyalty_tier"] = {"type": ["null", "string"]}
    config_post(local_airbyte, "connections/update", {"connectionId": cid, "syncCatalog": catalog})

    after = _run_checks(assets, checks, workspace)
    failed = after[dg.AssetKey(["raw", "customers"])]
    assert not failed.passed
    assert "added loyalty_tier" in (failed.description or "")
    assert "connection's schema" in (failed.description or "")
    assert failed.metadata["added_columns"].value == ["loyalty_tier"]
    assert failed.metadata["removed_columns"].value == []
    # The other streams did not change.
    assert all(after[k].passed for k in keys - {failed.asset_key})
