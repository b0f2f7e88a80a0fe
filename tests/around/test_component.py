"""The YAML component in a dg-style project: loads through dagster.components, materializes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from around_helpers import dg_project, workspace_for

from dagster_airbyte_assets.component import AirbyteAssetsComponent


def _project(tmp_path: Path, server: Any, connection_name: str) -> Path:
    return dg_project(
        tmp_path,
        "airbyte_project",
        f"""
            type: dagster_airbyte_assets.component.AirbyteAssetsComponent
            attributes:
              workspace:
                url: "{{{{ env.TEST_AIRBYTE_URL }}}}"
                poll_interval: 1
              connection_selector:
                by_name: ["{connection_name}"]
              translation:
                group_name: "airbyte_{{{{ props.stream.name }}}}"
                tags:
                  team: data
              state_path: airbyte-state.json
              schema_drift_checks: true
              sync_sensor: true
            """,
    )


def test_component_loads_in_a_dg_project_and_materializes(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = (
        workspace_for(local_airbyte).get_client().get_connection(local_airbyte.sample_connection_id)
    )
    root = _project(tmp_path, local_airbyte, connection.name)
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.setenv("TEST_AIRBYTE_URL", local_airbyte.url)

    defs = dg.load_from_defs_folder(project_root=root)

    keys = {dg.AssetKey(["raw", t]) for t in ("customers", "products", "orders")}
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) == keys
    assert specs[dg.AssetKey(["raw", "orders"])].group_name == "airbyte_orders"
    assert specs[dg.AssetKey(["raw", "orders"])].tags["team"] == "data"
    # The snapshot is saved next to defs.yaml, relative to the component folder.
    assert (root / "src" / "airbyte_project" / "defs" / "airbyte" / "airbyte-state.json").exists()
    assert defs.resolve_sensor_def("airbyte_sync_sensor") is not None

    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process()
    assert result.success
    counts = {
        event.event_specific_data.materialization.asset_key: (  # type: ignore[union-attr]
            event.event_specific_data.materialization.metadata["dagster/row_count"].value  # type: ignore[union-attr]
        )
        for event in result.get_asset_materialization_events()
    }
    assert set(counts) == keys and all(int(v) > 0 for v in counts.values())  # type: ignore[arg-type]
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert len(result.get_asset_check_evaluations()) == 3


def test_component_type_is_a_dagster_component() -> None:
    assert issubclass(AirbyteAssetsComponent, dg.Component)
