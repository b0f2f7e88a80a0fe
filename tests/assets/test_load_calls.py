"""How many API calls a cold load costs, and that a reload from saved state costs none, nor does
a worker rebuilding the definitions from the code location's reconstruction metadata.

200 connections x 5 streams, created in bulk on the local Airbyte; calls are counted on the
server (``/_local/requests``), so every HTTP request the loader makes is seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster._core.definitions.definitions_load_context import (
    DefinitionsLoadContext,
    DefinitionsLoadType,
)
from dagster._core.definitions.metadata.metadata_value import (
    CodeLocationReconstructionMetadataValue,
)
from dagster._core.definitions.repository_definition import RepositoryLoadData

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions

CONNECTIONS = 200
STREAMS = 5


@pytest.fixture
def big_workspace(local_airbyte: Any) -> Any:
    httpx.post(
        f"{local_airbyte.url}/_local/bulk",
        json={"connections": CONNECTIONS, "streams": STREAMS},
        timeout=60,
    ).raise_for_status()
    return local_airbyte


def _requests(server: Any) -> dict[str, Any]:
    return httpx.get(f"{server.url}/_local/requests").json()


def _load(server: Any, url: str, state: Path) -> int:
    httpx.delete(f"{server.url}/_local/requests").raise_for_status()
    workspace = AirbyteWorkspace(url=url, workspace_id=server.workspace_id)
    assets = build_airbyte_assets_definitions(workspace=workspace, state_path=state)
    # The seeded connection plus the bulk ones, one multi_asset each.
    assert len(assets) == CONNECTIONS + 1
    assert sum(len(list(a.keys)) for a in assets) == CONNECTIONS * STREAMS + 3
    return int(_requests(server)["total"])


@pytest.mark.parametrize("dialect", ["config", "public"])
def test_cold_load_costs_a_handful_of_calls_when_lists_carry_catalogs(
    big_workspace: Any, tmp_path: Path, dialect: str
) -> None:
    url = big_workspace.config_api_url if dialect == "config" else big_workspace.url
    assert _load(big_workspace, url, tmp_path / "state.json") <= 4
    assert _load(big_workspace, url, tmp_path / "state.json") == 0


def test_public_api_only_costs_no_more_than_one_call_per_connection(
    big_workspace: Any, tmp_path: Path
) -> None:
    # No Config API reachable (404 on every /api/v1 path): only per-connection data is there.
    httpx.post(
        f"{big_workspace.url}/_local/faults",
        json={"fail_rate": 1.0, "fail_status": 404, "path_regex": "^/api/v1/"},
    ).raise_for_status()
    calls = _load(big_workspace, big_workspace.url, tmp_path / "state.json")
    pages = 2 * (CONNECTIONS // 100 + 2)  # connection and destination list pages, generously
    assert calls <= CONNECTIONS + 1 + pages
    assert _load(big_workspace, big_workspace.url, tmp_path / "state.json") == 0


def test_a_worker_rebuilds_from_reconstruction_metadata_with_no_call(
    big_workspace: Any, tmp_path: Path
) -> None:
    defining = DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION)
    with DefinitionsLoadContext.scoped(defining):
        assert _load(big_workspace, big_workspace.url, tmp_path / "state.json") <= 4
    (tmp_path / "state.json").unlink()  # the worker has no file

    load_data = RepositoryLoadData(
        reconstruction_metadata={
            k: CodeLocationReconstructionMetadataValue(v)
            for k, v in defining.get_pending_reconstruction_metadata().items()
        }
    )
    with DefinitionsLoadContext.scoped(
        DefinitionsLoadContext(DefinitionsLoadType.RECONSTRUCTION, load_data)
    ):
        assert _load(big_workspace, big_workspace.url, tmp_path / "state.json") == 0
    assert not (tmp_path / "state.json").exists()
