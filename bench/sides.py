"""The two sides as their users would write them: the resource and the definitions call.

Both sides get the same server, workspace and client credentials; only the library differs. The
bench uses only the public entry points of each library (``AirbyteWorkspace`` and
``build_airbyte_assets_definitions``), so it keeps working while their internals change.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_definitions", "ours_state_kwargs", "workspace_for"]


def ours_state_kwargs(state_dir: str) -> dict[str, Any]:
    """How ours is told where its saved workspace snapshot lives.

    The one place the bench depends on ours' loading mechanism. A "cold" load is a fresh
    process with an empty ``state_dir`` (ours must fetch the workspace and save it); a "reload"
    is a fresh process with the same ``state_dir`` after a cold load (ours reads what it saved and
    should make no API call). If the integration moves its saved state elsewhere (Dagster's
    state-backed definitions, another keyword), change only this function.
    """
    return {"state_path": f"{state_dir}/airbyte-workspace.json"}


def workspace_for(cfg: dict[str, Any]) -> Any:
    """The side's workspace resource for ``cfg`` (ours: Public dialect unless ``dialect=config``)."""
    if cfg["side"] == "ours":
        from dagster_airbyte_assets import AirbyteWorkspace

        url = cfg["config_api_url"] if cfg.get("dialect") == "config" else cfg["url"]
        return AirbyteWorkspace(
            url=url,
            workspace_id=cfg["workspace_id"],
            client_id=cfg["client_id"],
            client_secret=cfg["client_secret"],
            **_overrides(cfg),
        )
    from dagster_airbyte import AirbyteWorkspace as TheirWorkspace

    return TheirWorkspace(
        rest_api_base_url=cfg["public_api_url"],
        configuration_api_base_url=cfg["config_api_url"],
        workspace_id=cfg["workspace_id"],
        client_id=cfg["client_id"],
        client_secret=cfg["client_secret"],
        **_overrides(cfg),
    )


def _overrides(cfg: dict[str, Any]) -> dict[str, Any]:
    """Only ``--quick`` sets any (a shorter poll interval, so the smoke run stays short)."""
    return {"poll_interval": cfg["poll_interval"]} if cfg.get("poll_interval") else {}


def build_definitions(cfg: dict[str, Any], workspace: Any) -> list[Any]:
    """Each side's documented ``build_airbyte_assets_definitions`` call."""
    wanted = set(cfg.get("connection_ids") or [])
    if cfg["side"] == "ours":
        from dagster_airbyte_assets import build_airbyte_assets_definitions

        return build_airbyte_assets_definitions(
            workspace=workspace,
            connection_selector=(lambda c: c.connection_id in wanted) if wanted else None,
            one_step=bool(cfg.get("one_step")),
            **ours_state_kwargs(cfg["state_dir"]),
        )
    from dagster_airbyte import build_airbyte_assets_definitions as theirs

    return list(
        theirs(
            workspace=workspace,
            connection_selector_fn=(lambda c: c.id in wanted) if wanted else None,
        )
    )
