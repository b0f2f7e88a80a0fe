"""The deliberate second step: from dagster-airbyte's keys to the schema-qualified ones.

What the README's "Switching from dagster-airbyte" shows: the old -> new key mapping built from
the two translators over one snapshot, and Dagster's ``asset_key_replacements`` rewiring a
downstream asset that still names an old key, so the graph and a run stay whole while code moves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dropin_helpers import add_prefixed_connection, admin, dagster_airbyte_settings, jobs

from dagster_airbyte_assets import (
    AirbyteWorkspace,
    LegacyKeysTranslator,
    MetadataKeys,
    build_airbyte_assets_definitions,
    load_airbyte_asset_specs,
)


def _stream_id(spec: dg.AssetSpec) -> tuple[str, str]:
    return spec.metadata[MetadataKeys.CONNECTION_ID], spec.metadata[MetadataKeys.STREAM_NAME]


def test_old_keys_map_to_new_and_downstream_is_rewired(
    local_airbyte_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    server = local_airbyte_factory(seed="sample", test_controls=True, auth="client-credentials")
    with admin(server) as client:
        add_prefixed_connection(server, client)
        airbyte = AirbyteWorkspace(**dagster_airbyte_settings(server))

        # The README's recipe, as written there.
        new_keys = {_stream_id(s): s.key for s in load_airbyte_asset_specs(airbyte)}
        renames = {
            spec.key: new_keys[_stream_id(spec)]
            for spec in load_airbyte_asset_specs(airbyte, translator=LegacyKeysTranslator())
        }
        assert renames == {
            dg.AssetKey(t): dg.AssetKey(["raw", t])
            for t in ("customers", "products", "orders", "copy_customers", "copy_products")
        }

        @dg.asset(deps=[dg.AssetKey("customers")])  # written against dagster-airbyte's keys
        def customer_report() -> None:
            return None

        assets = build_airbyte_assets_definitions(workspace=airbyte)
        report = customer_report.with_attributes(asset_key_replacements=renames)
        defs = dg.Definitions(assets=[*assets, report], resources={"airbyte": airbyte})
        graph = defs.resolve_asset_graph()
        assert graph.get(dg.AssetKey("customer_report")).parent_keys == {
            dg.AssetKey(["raw", "customers"])
        }

        before = len(jobs(client, server.sample_connection_id))
        result = dg.materialize(
            [*assets, report],
            resources={"airbyte": airbyte},
            selection=dg.AssetSelection.assets("customer_report").upstream(depth=1),
        )
        assert result.success
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert {dg.AssetKey(["raw", "customers"]), dg.AssetKey("customer_report")} <= materialized
        assert len(jobs(client, server.sample_connection_id)) == before + 1
