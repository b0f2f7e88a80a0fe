"""The workspace snapshot: how workers get it (reconstruction metadata), fallbacks when Airbyte
is down, one fetch per load, and the refresh command."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from dagster._core.definitions.definitions_load_context import (
    DefinitionsLoadContext,
    DefinitionsLoadType,
)
from reconstruction import define, reconstruct_elsewhere

from dagster_airbyte_assets import (
    AirbyteWorkspace,
    build_airbyte_assets_definitions,
    build_airbyte_schedules,
    load_airbyte_asset_specs,
)
from dagster_airbyte_assets._state import STATE_DIR_ENV, decode_state, snapshot_metadata_key
from dagster_airbyte_assets.errors import AirbyteConfigurationError

SAMPLE_KEYS = {dg.AssetKey(["raw", t]) for t in ("customers", "products", "orders")}


def _dead_url() -> str:
    """A loopback port with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _keys(assets: list[dg.AssetsDefinition]) -> set[dg.AssetKey]:
    return {key for a in assets for key in a.keys}


def _quick(url: str, **kwargs: Any) -> AirbyteWorkspace:
    return AirbyteWorkspace(url=url, request_max_retries=0, request_timeout=2, **kwargs)


def test_unreachable_airbyte_falls_back_to_the_last_good_state(
    local_airbyte: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state.json"
    workspace_id = local_airbyte.workspace_id
    build_airbyte_assets_definitions(workspace=_quick(local_airbyte.url), state_path=state)
    saved = state.read_text()

    down = _quick(_dead_url(), workspace_id=workspace_id)
    with caplog.at_level(logging.WARNING, logger="dagster_airbyte_assets"):
        assets = build_airbyte_assets_definitions(
            workspace=down, state_path=state, refresh="always"
        )
    assert _keys(assets) == SAMPLE_KEYS
    assert "building definitions from the state saved at" in caplog.text
    assert state.read_text() == saved  # the good state is not overwritten by a failure


def test_no_state_and_no_airbyte_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(AirbyteConfigurationError) as caught:
        build_airbyte_assets_definitions(
            workspace=_quick(_dead_url(), workspace_id="00000000-0000-4000-8000-000000000001"),
            state_path=tmp_path / "state.json",
        )
    message = str(caught.value)
    assert "No saved state exists" in message
    assert "dagster-airbyte-assets refresh-state" in message


def test_refresh_never_without_state_refuses(local_airbyte: Any, tmp_path: Path) -> None:
    with pytest.raises(AirbyteConfigurationError, match="refresh='never'"):
        build_airbyte_assets_definitions(
            workspace=_quick(local_airbyte.url), state_path=tmp_path / "s.json", refresh="never"
        )


MODULE_LEVEL = """
import dagster as dg
from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions

airbyte = AirbyteWorkspace(url={url!r})
assets = build_airbyte_assets_definitions(workspace=airbyte, state_path={state!r})
defs = dg.Definitions(assets=assets, resources={{"airbyte": airbyte}})
"""

LAZY = """
import dagster as dg
from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions

@dg.definitions
def defs():
    airbyte = AirbyteWorkspace(url={url!r})
    assets = build_airbyte_assets_definitions(workspace=airbyte, state_path={state!r})
    return dg.Definitions(assets=assets, resources={{"airbyte": airbyte}})
"""


@pytest.mark.parametrize("source", [MODULE_LEVEL, LAZY], ids=["module-level", "dg.definitions"])
def test_refresh_state_command_fetches_again(
    local_airbyte: Any, tmp_path: Path, source: str
) -> None:
    state = tmp_path / "state.json"
    defs_file = tmp_path / "defs.py"
    defs_file.write_text(source.format(url=local_airbyte.url, state=str(state)))
    build_airbyte_assets_definitions(workspace=_quick(local_airbyte.url), state_path=state)
    # A new connection appears in Airbyte; the saved state does not know it yet.
    client = AirbyteWorkspace(url=local_airbyte.config_api_url).get_client()
    seeded = client.get_connection(local_airbyte.sample_connection_id)
    client.create_connection(
        seeded.source_id, seeded.destination_id, name="More", streams=seeded.streams, prefix="more_"
    )
    assert (
        len(
            _keys(
                build_airbyte_assets_definitions(
                    workspace=_quick(local_airbyte.url), state_path=state
                )
            )
        )
        == 3
    )

    httpx.delete(f"{local_airbyte.url}/_local/requests")
    result = subprocess.run(
        [sys.executable, "-m", "dagster_airbyte_assets.cli", "refresh-state", "-f", str(defs_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "1 workspace(s), 6 stream assets" in result.stdout
    assert httpx.get(f"{local_airbyte.url}/_local/requests").json()["total"] > 0
    assert (
        len(
            _keys(
                build_airbyte_assets_definitions(
                    workspace=_quick(local_airbyte.url), state_path=state
                )
            )
        )
        == 6
    )


def _requests(server: Any) -> dict[str, Any]:
    return httpx.get(f"{server.url}/_local/requests").json()  # type: ignore[no-any-return]


CODE_LOCATION = """
import dagster as dg
from dagster_airbyte_assets import (
    AirbyteWorkspace, build_airbyte_assets_definitions, build_airbyte_schedules,
    build_airbyte_schema_drift_checks, build_airbyte_sync_sensor, build_airbyte_take_over_job,
)

@dg.definitions
def defs():
    airbyte = AirbyteWorkspace(url={url!r}, request_max_retries=0, request_timeout=2)
    assets = build_airbyte_assets_definitions(workspace=airbyte, refresh="always")
    return dg.Definitions(
        assets=assets,
        asset_checks=build_airbyte_schema_drift_checks(assets=assets),
        schedules=build_airbyte_schedules(
            workspace=airbyte, assets=assets, cron_overrides={{{connection!r}: "15 6 * * *"}}
        ),
        sensors=[build_airbyte_sync_sensor(workspace=airbyte, assets=assets)],
        jobs=[build_airbyte_take_over_job(workspace=airbyte, assets=assets)],
        resources={{"airbyte": airbyte}},
    )
"""


def test_reconstruction_with_no_file_and_no_reachable_airbyte_builds_the_same_keys(
    local_airbyte_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = local_airbyte_factory(seed="sample", test_controls=True, auth="none")
    defs_file = tmp_path / "code" / "airbyte_location_a.py"
    defs_file.parent.mkdir()
    defs_file.write_text(
        CODE_LOCATION.format(url=server.url, connection=server.sample_connection_id)
    )
    code_server_state = tmp_path / "code-server-state"
    monkeypatch.setenv(STATE_DIR_ENV, str(code_server_state))

    defined, load_data = define(defs_file)
    assert {"raw/customers", "raw/products", "raw/orders"} <= set(defined["keys"])
    assert len(defined["schedules"]) == 1 and "airbyte_take_over_schedules" in defined["jobs"]
    assert _requests(server)["by_route"].get("POST /api/v1/connections/list")  # it fetched

    # The worker's world: Airbyte gone, no snapshot file anywhere, another working directory.
    server.stop()
    for saved in code_server_state.iterdir():
        saved.unlink()
    rebuilt = reconstruct_elsewhere(
        defs_file,
        load_data,
        tmp_path / "worker",
        env={STATE_DIR_ENV: ""},
    )
    assert rebuilt == defined
    assert not (tmp_path / "worker" / ".dagster_airbyte_assets").exists()


def test_the_snapshot_travels_compressed_and_without_credentials(
    local_airbyte_factory: Any, tmp_path: Path
) -> None:
    server = local_airbyte_factory(seed="sample", test_controls=True, auth="client-credentials")
    workspace = AirbyteWorkspace(
        url=server.url, client_id="local-client", client_secret="local-secret"
    )
    context = DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION)
    with DefinitionsLoadContext.scoped(context):
        build_airbyte_assets_definitions(workspace=workspace, state_path=tmp_path / "s.json")
    value = context.get_pending_reconstruction_metadata()[snapshot_metadata_key(workspace)]
    text = decode_state(value)
    assert value.startswith("zlib:") and len(value) < len(text)
    assert server.sample_connection_id in text
    assert "local-secret" not in text and "local-client" not in text


def test_one_load_fetches_the_workspace_once(local_airbyte: Any, tmp_path: Path) -> None:
    httpx.delete(f"{local_airbyte.url}/_local/requests")  # the seeding's own requests
    workspace = _quick(local_airbyte.url)
    single = DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION)
    with DefinitionsLoadContext.scoped(single):
        build_airbyte_assets_definitions(
            workspace=workspace, state_path=tmp_path / "one.json", refresh="always"
        )
    one_fetch = _requests(local_airbyte)["total"]
    assert one_fetch > 0

    httpx.delete(f"{local_airbyte.url}/_local/requests")
    workspace = _quick(local_airbyte.url)
    with DefinitionsLoadContext.scoped(DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION)):
        # Assets, specs and schedules of one workspace, each asking for a fresh fetch.
        assets = build_airbyte_assets_definitions(
            workspace=workspace, state_path=tmp_path / "two.json", refresh="always"
        )
        load_airbyte_asset_specs(
            workspace=workspace, state_path=tmp_path / "two.json", refresh="always"
        )
        build_airbyte_schedules(
            workspace=workspace,
            assets=assets,
            state_path=tmp_path / "two.json",
            refresh="always",
        )
    assert _requests(local_airbyte)["total"] == one_fetch
