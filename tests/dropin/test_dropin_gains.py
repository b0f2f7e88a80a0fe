"""Two of the migration guide's "what you gain" claims, shown on both libraries.

- A translator reading the destination's props (``schema`` here): dagster-airbyte rebuilds the
  props at run time without them and materializes other keys than it loaded; ours materializes
  the loaded keys.
- A ``queued`` job (Airbyte Cloud, waiting for worker capacity): dagster-airbyte fails on the
  unknown status and cancels the job; ours waits and succeeds. The local Airbyte's ``cloud``
  profile queues each job for ``queue_seconds`` (from Airbyte's JobCreationAndStatusUpdateHelper).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dropin_helpers import admin, dagster_airbyte_settings, jobs

pytest.importorskip("dagster_airbyte")

SCHEMA_KEYS_PROGRAM = """
import dagster as dg
from {library} import AirbyteWorkspace, DagsterAirbyteTranslator, build_airbyte_assets_definitions


class BySchema(DagsterAirbyteTranslator):
    def get_asset_spec(self, props):
        key = dg.AssetKey([props.schema or "unknown", props.table_name])
        return super().get_asset_spec(props).replace_attributes(key=key)


def build(settings):
    airbyte = AirbyteWorkspace(**settings)
    assets = build_airbyte_assets_definitions(workspace=airbyte, dagster_airbyte_translator=BySchema())
    return assets, airbyte
"""


def _build(library: str, settings: dict[str, Any]) -> tuple[list[dg.AssetsDefinition], Any]:
    namespace: dict[str, Any] = {}
    source = SCHEMA_KEYS_PROGRAM.format(library=library)
    exec(compile(source, f"program_{library}", "exec", dont_inherit=True), namespace)
    built: tuple[list[dg.AssetsDefinition], Any] = namespace["build"](settings)
    return built


def test_keys_at_run_time_are_the_keys_at_load(
    local_airbyte_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    server = local_airbyte_factory(seed="sample", test_controls=True, auth="client-credentials")
    settings = dagster_airbyte_settings(server)
    loaded = {dg.AssetKey(["raw", t]) for t in ("customers", "products", "orders")}
    materialized = {}
    with admin(server) as client:
        for library in ("dagster_airbyte", "dagster_airbyte_assets"):
            assets, airbyte = _build(library, settings)
            assert {key for a in assets for key in a.keys} == loaded, library
            before = len(jobs(client, server.sample_connection_id))
            result = dg.materialize(list(assets), resources={"airbyte": airbyte})
            assert result.success, library
            events = result.get_asset_materialization_events()
            materialized[library] = {e.asset_key for e in events}
            newest, *older = jobs(client, server.sample_connection_id)
            assert len(older) == before and newest["job"]["status"] == "succeeded"
    assert materialized["dagster_airbyte_assets"] == loaded
    assert materialized["dagster_airbyte"] == {
        dg.AssetKey(["unknown", t]) for t in ("customers", "products", "orders")
    }


def test_a_queued_job_is_waited_on(
    local_airbyte_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    server = local_airbyte_factory(
        seed="sample",
        test_controls=True,
        auth="client-credentials",
        airbyte_version="cloud",
        queue_seconds=6.0,  # dagster-airbyte polls after poll_interval (1 s): still queued
    )
    settings = dagster_airbyte_settings(server)
    connection_id = server.sample_connection_id
    with admin(server) as client:
        assets, airbyte = _build("dagster_airbyte", settings)
        result = dg.materialize(list(assets), resources={"airbyte": airbyte}, raise_on_error=False)
        assert not result.success
        (failure,) = result.get_step_failure_events()
        assert "unexpected state `queued`" in str(failure.event_specific_data)
        (theirs,) = jobs(client, connection_id)
        assert theirs["job"]["status"] == "cancelled"

        assets, airbyte = _build("dagster_airbyte_assets", settings)
        result = dg.materialize(list(assets), resources={"airbyte": airbyte})
        assert result.success
        ours, _ = jobs(client, connection_id)
        assert ours["job"]["status"] == "succeeded"
        assert ours["job"]["id"] != theirs["job"]["id"]
