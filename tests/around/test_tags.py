"""Airbyte connection tags: served by the local Airbyte as the real API does, in the snapshot,
as Dagster tags on the assets, and as a connection selector (Python and the component)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from around_helpers import build_assets, config_post, dg_project, refresh_component_state

from dagster_airbyte_assets import AirbyteWorkspace, connection_selector_by_tag
from dagster_airbyte_assets.errors import AirbyteConfigurationError

KEYS = {dg.AssetKey(["raw", t]) for t in ("customers", "products", "orders")}


def _workspace_id(server: Any) -> str:
    return str(
        config_post(server, "connections/get", {"connectionId": server.sample_connection_id})[
            "workspaceId"
        ]
    )


def _tag_sample_connection(server: Any) -> list[dict[str, Any]]:
    """Two tags, one made through each API, set on the sample connection by a Public PATCH."""
    workspace_id = _workspace_id(server)
    public = httpx.post(
        f"{server.public_api_url}/tags",
        json={"workspaceId": workspace_id, "name": "Finance Team", "color": "FF5733"},
        timeout=30,
    )
    public.raise_for_status()
    config = config_post(
        server, "tags/create", {"workspaceId": workspace_id, "name": "daily", "color": "00aa00"}
    )
    tags = [public.json(), config]
    patched = httpx.patch(
        f"{server.public_api_url}/connections/{server.sample_connection_id}",
        json={"tags": tags},
        timeout=30,
    )
    patched.raise_for_status()
    assert {t["name"] for t in patched.json()["tags"]} == {"Finance Team", "daily"}
    return tags


def test_the_local_airbyte_serves_tags_as_the_real_api(local_airbyte: Any) -> None:
    tags = _tag_sample_connection(local_airbyte)
    workspace_id = _workspace_id(local_airbyte)
    listed = httpx.get(
        f"{local_airbyte.public_api_url}/tags", params={"workspaceIds": workspace_id}, timeout=30
    ).json()
    assert {t["name"] for t in listed["data"]} == {"Finance Team", "daily"}
    config_read = config_post(
        local_airbyte, "connections/get", {"connectionId": local_airbyte.sample_connection_id}
    )
    assert sorted(config_read["tags"], key=lambda t: t["name"]) == sorted(
        tags, key=lambda t: t["name"]
    )
    assert set(config_read["tags"][0]) == {"tagId", "workspaceId", "name", "color"}
    # TagServiceDataImpl / the tag table: names unique per workspace, six hex digit colours.
    duplicate = httpx.post(
        f"{local_airbyte.config_api_url}/tags/create",
        json={"workspaceId": workspace_id, "name": "daily", "color": "000000"},
        timeout=30,
    )
    assert duplicate.status_code == 409
    bad_colour = httpx.post(
        f"{local_airbyte.config_api_url}/tags/create",
        json={"workspaceId": workspace_id, "name": "red", "color": "red"},
        timeout=30,
    )
    assert bad_colour.status_code == 422


@pytest.mark.parametrize("api", ["config", "public"])
def test_tags_reach_the_assets_and_select_connections(
    local_airbyte: Any, tmp_path: Path, api: str
) -> None:
    _tag_sample_connection(local_airbyte)
    workspace = AirbyteWorkspace(url=local_airbyte.url, api=api)
    assets = build_assets(workspace, tmp_path)
    specs = {spec.key: spec for a in assets for spec in a.specs}
    assert set(specs) == KEYS
    orders = specs[dg.AssetKey(["raw", "orders"])]
    assert orders.tags["airbyte_tag/Finance_Team"] == ""
    assert orders.tags["airbyte_tag/daily"] == ""
    # Dagster's own selection by tag works on them.
    defs = dg.Definitions(assets=assets, resources={"airbyte": workspace})
    selected = dg.AssetSelection.tag("airbyte_tag/daily", "").resolve(defs.resolve_asset_graph())
    assert selected == KEYS

    by_tag = build_assets(
        workspace, tmp_path, connection_selector=connection_selector_by_tag("daily", "other")
    )
    assert {s.key for a in by_tag for s in a.specs} == KEYS
    both = connection_selector_by_tag("daily", "other", match_all=True)
    assert build_assets(workspace, tmp_path, connection_selector=both) == []
    with pytest.raises(AirbyteConfigurationError, match="tag names"):
        connection_selector_by_tag()


def test_releases_before_1_6_have_no_tags(local_airbyte_factory: Any, tmp_path: Path) -> None:
    server = local_airbyte_factory(seed="sample", auth="none", airbyte_version="0.63")
    read = config_post(server, "connections/get", {"connectionId": server.sample_connection_id})
    assert "tags" not in read
    missing = httpx.post(
        f"{server.config_api_url}/tags/create",
        json={"workspaceId": read["workspaceId"], "name": "x", "color": "000000"},
        timeout=30,
    )
    assert missing.status_code == 404
    workspace = AirbyteWorkspace(url=server.url)
    assets = build_assets(workspace, tmp_path)
    assert all(not k.startswith("airbyte_tag/") for a in assets for s in a.specs for k in s.tags)
    selected = build_assets(
        workspace, tmp_path, connection_selector=connection_selector_by_tag("daily")
    )
    assert selected == []


def test_component_by_tag(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tag_sample_connection(local_airbyte)
    root = dg_project(
        tmp_path,
        "tagged_project",
        """
        type: dagster_airbyte_assets.component.AirbyteAssetsComponent
        attributes:
          workspace:
            url: "{{ env.TEST_AIRBYTE_URL }}"
          connection_selector:
            by_tag: ["Finance Team"]
        """,
    )
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.setenv("TEST_AIRBYTE_URL", local_airbyte.url)
    refresh_component_state(root)
    defs = dg.load_from_defs_folder(path_within_project=root)
    specs = list(defs.resolve_all_asset_specs())
    assert {s.key for s in specs} == KEYS
    assert all(s.tags["airbyte_tag/Finance_Team"] == "" for s in specs)
