"""dagster-airbyte's component YAML loads in ours with only ``type:`` changed.

The YAML is its documentation's (``AirbyteWorkspaceComponent``: both URLs, workspace id, client
credentials from the environment, ``connection_selector.by_name``, a ``translation`` reading
``props.connection_name`` / ``props.table_name``, ``defs_state``). Both components load it in a
``dg`` project from state fetched the ``dg utils refresh-defs-state`` way; ours builds the same
keys, groups and descriptions, and materializes with one new Airbyte job.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "around"))
from around_helpers import dg_project, refresh_component_state
from dropin_helpers import add_prefixed_connection, admin, jobs

from dagster_airbyte_assets import AirbyteAssetsComponent, AirbyteCloudWorkspace

pytest.importorskip("dagster_airbyte")

THEIR_YAML = """
    type: {type}
    attributes:
      workspace:
        rest_api_base_url: {public_api_url}
        configuration_api_base_url: {config_api_url}
        workspace_id: {workspace_id}
        client_id: "{{{{ env.AIRBYTE_CLIENT_ID }}}}"
        client_secret: "{{{{ env.AIRBYTE_CLIENT_SECRET }}}}"
      connection_selector:
        by_name:
          - Sample copy
      translation:{key_line}
        group_name: airbyte_data
        description: "Loads data from Airbyte connection {{{{ props.connection_name }}}}"
      defs_state:
        management_type: LOCAL_FILESYSTEM
        refresh_if_dev: false
"""


KEY_LINE = '\n        key: "airbyte/{{ props.table_name }}"'


def _load(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: Any,
    package: str,
    type_: str,
    key_line: str = KEY_LINE,
) -> dg.Definitions:
    yaml = THEIR_YAML.format(
        type=type_,
        key_line=key_line,
        public_api_url=server.public_api_url,
        config_api_url=server.config_api_url,
        workspace_id=server.workspace_id,
    )
    root = dg_project(tmp_path, package, yaml)
    monkeypatch.syspath_prepend(str(root / "src"))
    refresh_component_state(root)
    return dg.load_from_defs_folder(path_within_project=root)


def test_their_component_yaml_loads_with_only_type_changed(
    local_airbyte_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = local_airbyte_factory(seed="sample", test_controls=True, auth="client-credentials")
    client_id, client_secret = server.client_credentials
    monkeypatch.setenv("AIRBYTE_CLIENT_ID", client_id)
    monkeypatch.setenv("AIRBYTE_CLIENT_SECRET", client_secret)
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)
    with admin(server) as http:
        copy_id = add_prefixed_connection(server, http)

        theirs = _load(
            tmp_path,
            monkeypatch,
            server,
            "theirs_project",
            "dagster_airbyte.AirbyteWorkspaceComponent",
        )
        ours = _load(
            tmp_path,
            monkeypatch,
            server,
            "ours_project",
            "dagster_airbyte_assets.AirbyteAssetsComponent",
        )
        their_specs = {s.key: s for s in theirs.resolve_all_asset_specs()}
        our_specs = {s.key: s for s in ours.resolve_all_asset_specs()}
        keys = {
            dg.AssetKey(["airbyte", "copy_customers"]),
            dg.AssetKey(["airbyte", "copy_products"]),
        }
        assert set(their_specs) == set(our_specs) == keys
        for key in keys:
            assert our_specs[key].group_name == their_specs[key].group_name == "airbyte_data"
            assert our_specs[key].description == their_specs[key].description
            assert our_specs[key].description == "Loads data from Airbyte connection Sample copy"

        before = len(jobs(http, copy_id))
        result = ours.resolve_implicit_global_asset_job_def().execute_in_process()
        assert result.success
        counts = {
            event.asset_key: event.materialization.metadata["dagster/row_count"].value
            for event in result.get_asset_materialization_events()
        }
        assert set(counts) == keys
        found = jobs(http, copy_id)
        assert len(found) == before + 1 and found[0]["job"]["status"] == "succeeded"


def test_the_dropin_component_keeps_their_default_keys(
    local_airbyte_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a ``key`` in ``translation``: their keys and op names from the dropin type."""
    server = local_airbyte_factory(seed="sample", test_controls=True, auth="client-credentials")
    client_id, client_secret = server.client_credentials
    monkeypatch.setenv("AIRBYTE_CLIENT_ID", client_id)
    monkeypatch.setenv("AIRBYTE_CLIENT_SECRET", client_secret)
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)
    with admin(server) as http:
        add_prefixed_connection(server, http)
    loaded = {
        type_: _load(tmp_path, monkeypatch, server, package, type_, key_line="")
        for package, type_ in (
            ("theirs_default", "dagster_airbyte.AirbyteWorkspaceComponent"),
            ("dropin_default", "dagster_airbyte_assets.dropin.AirbyteWorkspaceComponent"),
        )
    }
    by_key = {
        type_: {
            spec.key: (assets_def.op.name, spec.group_name)
            for assets_def in defs.assets or []
            if isinstance(assets_def, dg.AssetsDefinition)
            for spec in assets_def.specs
        }
        for type_, defs in loaded.items()
    }
    theirs, ours = by_key.values()
    assert (
        ours
        == theirs
        == {
            dg.AssetKey("copy_customers"): ("airbyte_Sample_copy", "airbyte_data"),
            dg.AssetKey("copy_products"): ("airbyte_Sample_copy", "airbyte_data"),
        }
    )


def test_their_cloud_yaml_is_airbyte_cloud() -> None:
    """dagster-airbyte's Cloud workspace YAML names no URL: ours then targets Airbyte Cloud."""
    component = AirbyteAssetsComponent.resolve_from_yaml(
        """
        workspace:
          workspace_id: 6a1f5b3e-4b7a-4c47-9a39-2f0d3f1e8c11
          client_id: an-id
          client_secret: a-secret
          request_max_retries: 3
          request_retry_delay: 0.25
          max_items_per_page: 100
          poll_previous_running_sync: false
        connection_selector:
          by_id: [7c0a2b5e-1d2f-4b8e-9a6f-0e3c5d7b9a21]
        """
    )
    workspace = component.workspace
    assert isinstance(workspace, AirbyteCloudWorkspace)
    assert workspace.workspace_id == "6a1f5b3e-4b7a-4c47-9a39-2f0d3f1e8c11"
    assert workspace.request_retry_delay == 0.25
    assert workspace.get_client().describe().startswith("https://api.airbyte.com")
