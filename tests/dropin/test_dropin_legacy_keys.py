"""``LegacyKeysTranslator`` builds exactly dagster-airbyte's keys, groups and op names.

Both libraries load the same local Airbyte workspace (a connection without a prefix, one with
``copy_``); ours with ``LegacyKeysTranslator`` must name every asset, group and step as
dagster-airbyte 0.29.27 itself does, so switching keeps materialization history, schedules and
sensors. Then ours materializes under those keys: one new Airbyte job per connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dropin_helpers import add_prefixed_connection, admin, dagster_airbyte_settings, jobs

import dagster_airbyte_assets

dagster_airbyte = pytest.importorskip("dagster_airbyte")


def _by_key(assets: list[dg.AssetsDefinition]) -> dict[dg.AssetKey, tuple[str, str | None]]:
    """Each asset key with its op name and group."""
    return {
        spec.key: (assets_def.op.name, assets_def.group_names_by_key.get(spec.key))
        for assets_def in assets
        for spec in assets_def.specs
    }


def test_legacy_keys_equal_dagster_airbytes_own(
    local_airbyte_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    server = local_airbyte_factory(seed="sample", test_controls=True, auth="client-credentials")
    with admin(server) as client:
        connection_ids = [server.sample_connection_id, add_prefixed_connection(server, client)]
        settings = dagster_airbyte_settings(server)

        theirs_workspace = dagster_airbyte.AirbyteWorkspace(**settings)
        theirs = _by_key(
            list(dagster_airbyte.build_airbyte_assets_definitions(workspace=theirs_workspace))
        )
        theirs_specs = {
            spec.key for spec in dagster_airbyte.load_airbyte_asset_specs(theirs_workspace)
        }

        workspace = dagster_airbyte_assets.AirbyteWorkspace(**settings)
        translator = dagster_airbyte_assets.LegacyKeysTranslator()
        assets = dagster_airbyte_assets.build_airbyte_assets_definitions(
            workspace=workspace, dagster_airbyte_translator=translator
        )
        ours = _by_key(assets)
        ours_specs = {
            spec.key
            for spec in dagster_airbyte_assets.load_airbyte_asset_specs(
                workspace, dagster_airbyte_translator=translator
            )
        }

        assert ours == theirs
        assert ours_specs == theirs_specs == set(theirs)
        assert set(theirs) == {
            dg.AssetKey(name)
            for name in ("customers", "products", "orders", "copy_customers", "copy_products")
        }
        assert {op for op, _ in theirs.values()} == {
            "airbyte_sample_data_duckdb",
            "airbyte_sample_copy",
        }
        assert {group for _, group in theirs.values()} == {"default"}

        before = {cid: len(jobs(client, cid)) for cid in connection_ids}
        result = dg.materialize(assets, resources={"airbyte": workspace})
        assert result.success
        counts = {
            event.asset_key: event.materialization.metadata["dagster/row_count"].value
            for event in result.get_asset_materialization_events()
            if event.event_specific_data is not None
        }
        assert set(counts) == set(theirs)
        for cid in connection_ids:
            (job, *_) = jobs(client, cid)
            assert len(jobs(client, cid)) == before[cid] + 1
            assert job["job"]["status"] == "succeeded"


DEFAULT_KEYS_PROGRAM = """
import dagster as dg
from {library} import (
    AirbyteWorkspace,
    DagsterAirbyteTranslator,
    airbyte_assets,
    build_airbyte_assets_definitions,
)


class Tagged(DagsterAirbyteTranslator):
    def get_asset_spec(self, props):
        return super().get_asset_spec(props).merge_attributes(metadata={{"team": "data"}})


def build(settings, connection_id):
    airbyte = AirbyteWorkspace(**settings)

    @airbyte_assets(connection_id=connection_id, workspace=airbyte)
    def copy_of_the_sample(context: dg.AssetExecutionContext, airbyte: AirbyteWorkspace):
        yield from airbyte.sync_and_poll(context=context)

    built = [
        build_airbyte_assets_definitions(workspace=airbyte),
        build_airbyte_assets_definitions(workspace=airbyte, dagster_airbyte_translator=Tagged()),
        [copy_of_the_sample],
    ]
    return built, {{spec.key for spec in airbyte.load_asset_specs()}}
"""


def _run(
    library: str, settings: dict[str, Any], connection_id: str
) -> tuple[list[list[dg.AssetsDefinition]], set[dg.AssetKey]]:
    namespace: dict[str, Any] = {}
    source = DEFAULT_KEYS_PROGRAM.format(library=library)
    exec(compile(source, f"program_{library}", "exec", dont_inherit=True), namespace)
    built: tuple[list[list[dg.AssetsDefinition]], set[dg.AssetKey]]
    built = namespace["build"](settings, connection_id)
    return built


def test_the_dropin_module_keeps_their_default_keys_with_one_changed_line(
    local_airbyte_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``from dagster_airbyte_assets.dropin import ...``: their defaults, even through super()."""
    monkeypatch.chdir(tmp_path)
    server = local_airbyte_factory(seed="sample", test_controls=True, auth="client-credentials")
    with admin(server) as client:
        copy_id = add_prefixed_connection(server, client)
    settings = dagster_airbyte_settings(server)
    their_defs, their_specs = _run("dagster_airbyte", settings, copy_id)
    our_defs, our_specs = _run("dagster_airbyte_assets.dropin", settings, copy_id)
    theirs = [_by_key(list(a)) for a in their_defs]
    ours = [_by_key(a) for a in our_defs]
    assert ours == theirs
    assert our_specs == their_specs == set(theirs[0])  # workspace.load_asset_specs()
    assert len(theirs[0]) == 5 and theirs[0] == theirs[1]
    assert theirs[2] == {
        dg.AssetKey("copy_customers"): ("copy_of_the_sample", "default"),
        dg.AssetKey("copy_products"): ("copy_of_the_sample", "default"),
    }
