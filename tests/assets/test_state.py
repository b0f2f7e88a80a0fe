"""The saved workspace snapshot: fallbacks when Airbyte is down, and the refresh command."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from dagster_airbyte_assets import (
    AirbyteConfigurationError,
    AirbyteWorkspace,
    build_airbyte_assets_definitions,
)

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


def test_refresh_state_command_fetches_again(local_airbyte: Any, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    defs_file = tmp_path / "defs.py"
    defs_file.write_text(
        textwrap.dedent(
            f"""
            import dagster as dg
            from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions

            airbyte = AirbyteWorkspace(url={local_airbyte.url!r})
            assets = build_airbyte_assets_definitions(workspace=airbyte, state_path={str(state)!r})
            defs = dg.Definitions(assets=assets, resources={{"airbyte": airbyte}})
            """
        )
    )
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
    assert "6 stream assets" in result.stdout
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
