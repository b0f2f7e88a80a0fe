"""The YAML component in a dg project: a Dagster ``StateBackedComponent``.

Its state is refreshed by ``dg utils refresh-defs-state`` (and under ``dg``/``dagster dev``),
stored per ``defs_state.management_type``, and every worker rebuilds it from the reconstruction
metadata, whatever the storage. Missing state is an error naming the command, never an empty
code location.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from around_helpers import (
    dg_project,
    refresh_component_state,
    request_counts,
    reset_request_counts,
    workspace_for,
)
from dagster._core.definitions.definitions_load_context import (
    DefinitionsLoadContext,
    DefinitionsLoadType,
)
from dagster._core.definitions.metadata.metadata_value import (
    CodeLocationReconstructionMetadataValue,
)
from dagster._core.definitions.repository_definition import RepositoryLoadData
from dagster._core.storage.defs_state.base import DefsStateStorage

from dagster_airbyte_assets.component import AirbyteAssetsComponent, AirbyteWorkspaceArgs
from dagster_airbyte_assets.errors import AirbyteConfigurationError
from dagster_airbyte_assets.resource import AirbyteWorkspace

KEYS = {dg.AssetKey(["raw", t]) for t in ("customers", "products", "orders")}
ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path, connection_name: str, package: str, extra: str = "") -> Path:
    return dg_project(
        tmp_path,
        package,
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
              schema_drift_checks: true
              sync_sensor: true
            {extra}
            """,
    )


def _connection_name(server: Any) -> str:
    client = workspace_for(server).get_client()
    return client.get_connection(server.sample_connection_id).name


def _load(root: Path) -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=root)


def _causes(exc: BaseException) -> list[BaseException]:
    chain = []
    current: BaseException | None = exc
    while current is not None:
        chain.append(current)
        current = current.__cause__
    return chain


def test_dg_refresh_defs_state_then_load_and_materialize(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path, _connection_name(local_airbyte), "airbyte_project")
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.setenv("TEST_AIRBYTE_URL", local_airbyte.url)

    # Dagster's own command, in the project, as a deployment's image build runs it.
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "utils", "refresh-defs-state"],
        cwd=root,
        env={
            **os.environ,
            "DAGSTER_HOME": str(home),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(root / "src")]),
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "refreshed successfully" in result.stdout + result.stderr
    defs_dir = root / "src" / "airbyte_project" / "defs"
    [state] = (defs_dir / ".local_defs_state").glob("AirbyteAssetsComponent*/state")
    assert local_airbyte.sample_connection_id in state.read_text()

    reset_request_counts(local_airbyte)
    defs = _load(root)
    assert request_counts(local_airbyte)["total"] == 0  # built from the stored state

    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) == KEYS
    assert specs[dg.AssetKey(["raw", "orders"])].group_name == "airbyte_orders"
    assert specs[dg.AssetKey(["raw", "orders"])].tags["team"] == "data"
    assert defs.resolve_sensor_def("airbyte_sync_sensor") is not None

    result_run = defs.resolve_implicit_global_asset_job_def().execute_in_process()
    assert result_run.success
    counts = {
        event.event_specific_data.materialization.asset_key: (  # type: ignore[union-attr]
            event.event_specific_data.materialization.metadata["dagster/row_count"].value  # type: ignore[union-attr]
        )
        for event in result_run.get_asset_materialization_events()
    }
    assert set(counts) == KEYS and all(int(v) > 0 for v in counts.values())  # type: ignore[arg-type]
    assert all(e.passed for e in result_run.get_asset_check_evaluations())
    assert len(result_run.get_asset_check_evaluations()) == 3


def test_missing_state_is_an_error_naming_the_command(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path, _connection_name(local_airbyte), "airbyte_missing_state")
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.setenv("TEST_AIRBYTE_URL", local_airbyte.url)
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)

    with pytest.raises(Exception) as caught:
        _load(root)
    [error] = [e for e in _causes(caught.value) if isinstance(e, AirbyteConfigurationError)]
    assert "dg utils refresh-defs-state" in str(error)
    assert "LOCAL_FILESYSTEM" in str(error)


def test_dev_loads_refresh_the_state_unless_opted_out(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _connection_name(local_airbyte)
    monkeypatch.setenv("TEST_AIRBYTE_URL", local_airbyte.url)
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")  # what `dagster dev` and every `dg` set

    root = _project(tmp_path / "a", name, "airbyte_dev_refresh")
    monkeypatch.syspath_prepend(str(root / "src"))
    reset_request_counts(local_airbyte)
    assert {s.key for s in _load(root).resolve_all_asset_specs()} == KEYS
    assert request_counts(local_airbyte)["by_route"].get("POST /api/v1/connections/list")

    opted_out = _project(
        tmp_path / "b",
        name,
        "airbyte_dev_no_refresh",
        extra="  defs_state:\n                management_type: LOCAL_FILESYSTEM\n"
        "                refresh_if_dev: false",
    )
    monkeypatch.syspath_prepend(str(opted_out / "src"))
    refresh_component_state(opted_out)
    reset_request_counts(local_airbyte)
    assert {s.key for s in _load(opted_out).resolve_all_asset_specs()} == KEYS
    assert request_counts(local_airbyte)["total"] == 0


@pytest.mark.parametrize("management_type", ["LOCAL_FILESYSTEM", "VERSIONED_STATE_STORAGE"])
def test_workers_rebuild_from_reconstruction_metadata_whatever_the_storage(
    local_airbyte_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    management_type: str,
) -> None:
    server = local_airbyte_factory(seed="sample", test_controls=True, auth="none")
    package = f"airbyte_{management_type.lower()}"
    root = _project(
        tmp_path,
        _connection_name(server),
        package,
        extra=f"  defs_state:\n                management_type: {management_type}\n"
        "                refresh_if_dev: false",
    )
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.setenv("TEST_AIRBYTE_URL", server.url)
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)

    with dg.instance_for_test():
        refresh_component_state(root)
        # The code server: a load context made after the refresh pins the new version.
        defining = DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION)
        with DefinitionsLoadContext.scoped(defining):
            defined = {s.key for s in _load(root).resolve_all_asset_specs()}
        recorded = dict(defining.get_pending_reconstruction_metadata())
    assert defined == KEYS

    # A Celery step worker: no state storage in context, no local state, no Airbyte.
    assert DefsStateStorage.get() is None
    server.stop()
    for state in (root / "src" / package / "defs").glob(".local_defs_state/*/state"):
        state.unlink()
    load_data = RepositoryLoadData(
        reconstruction_metadata={
            k: CodeLocationReconstructionMetadataValue(v) for k, v in recorded.items()
        }
    )
    rebuilding = DefinitionsLoadContext(DefinitionsLoadType.RECONSTRUCTION, load_data)
    with DefinitionsLoadContext.scoped(rebuilding):
        rebuilt = {s.key for s in _load(root).resolve_all_asset_specs()}
    assert rebuilt == defined


def test_workspace_yaml_model_is_generated_from_the_resource(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = AirbyteWorkspace.model_fields
    assert AirbyteWorkspaceArgs.model_fields.keys() == fields.keys()
    for name, field in AirbyteWorkspaceArgs.model_fields.items():
        assert field.description == fields[name].description
        assert field.is_required() == fields[name].is_required()

    # Retry and pool settings from YAML reach the resource the assets run with.
    root = dg_project(
        tmp_path,
        "airbyte_settings_project",
        """
            type: dagster_airbyte_assets.component.AirbyteAssetsComponent
            attributes:
              workspace:
                url: "{{ env.TEST_AIRBYTE_URL }}"
                request_max_retries: 2
                retry_timeout: 7.5
                max_concurrent_requests: 3
                request_timeout: 4
            """,
    )
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.setenv("TEST_AIRBYTE_URL", local_airbyte.url)
    from dagster.components.core.component_tree import ComponentTree

    [component] = ComponentTree.for_project(root).get_all_components(of_type=AirbyteAssetsComponent)
    workspace = component.workspace
    assert (workspace.request_max_retries, workspace.retry_timeout) == (2, 7.5)
    assert (workspace.max_concurrent_requests, workspace.request_timeout) == (3, 4.0)
    assert workspace.poll_interval == AirbyteWorkspace.model_fields["poll_interval"].default


def test_component_type_is_a_state_backed_component() -> None:
    assert issubclass(AirbyteAssetsComponent, dg.StateBackedComponent)
