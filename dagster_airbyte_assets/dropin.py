"""dagster-airbyte's API with dagster-airbyte's keys: switching is one line, history is kept.

::

    from dagster_airbyte import AirbyteWorkspace, build_airbyte_assets_definitions  # before
    from dagster_airbyte_assets.dropin import AirbyteWorkspace, build_airbyte_assets_definitions

Every name here is the top-level one of this package, except that the default translator is
:class:`LegacyKeysTranslator` (dagster-airbyte's keys, ``default`` group and op names), and
``DagsterAirbyteTranslator`` is that class, so a custom translator calling ``super()`` keeps its
keys too. Materialization history, schedules, sensors and downstream ``deps`` that name those
keys keep working; execution is ours (row counts, exactly-once starts...).

Moving to the schema-qualified keys later is the second, deliberate line: import from
``dagster_airbyte_assets`` instead (README: "Switching from dagster-airbyte").
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import dagster as dg

from dagster_airbyte_assets import assets as _assets
from dagster_airbyte_assets import resource as _resource
from dagster_airbyte_assets._state import RefreshPolicy
from dagster_airbyte_assets.assets import ConnectionSelector
from dagster_airbyte_assets.client import AirbyteConnection
from dagster_airbyte_assets.compat import (
    AirbyteConnectionTableProps,
    AirbyteJobStatusType,
    LegacyKeysTranslator,
)
from dagster_airbyte_assets.component import AirbyteAssetsComponent
from dagster_airbyte_assets.translator import DagsterAirbyteTranslator as _OurTranslator

# dagster-airbyte's translator name, giving its keys (subclass it as before).
DagsterAirbyteTranslator = LegacyKeysTranslator

__all__ = [
    "AirbyteCloudWorkspace",
    "AirbyteConnectionTableProps",
    "AirbyteJobStatusType",
    "AirbyteWorkspace",
    "AirbyteWorkspaceComponent",
    "DagsterAirbyteTranslator",
    "LegacyKeysTranslator",
    "airbyte_assets",
    "build_airbyte_assets_definitions",
    "load_airbyte_asset_specs",
    "load_airbyte_cloud_asset_specs",
]


def _legacy(translator: _OurTranslator | None) -> _OurTranslator:
    return translator if translator is not None else LegacyKeysTranslator()


class AirbyteWorkspace(_resource.AirbyteWorkspace):
    """``dagster_airbyte_assets.AirbyteWorkspace``; ``load_asset_specs()`` gives the old keys."""

    def load_asset_specs(
        self,
        dagster_airbyte_translator: _OurTranslator | None = None,
        connection_selector_fn: ConnectionSelector | None = None,
        **kwargs: Any,
    ) -> list[dg.AssetSpec]:
        return super().load_asset_specs(
            _legacy(dagster_airbyte_translator), connection_selector_fn, **kwargs
        )


class AirbyteCloudWorkspace(_resource.AirbyteCloudWorkspace):
    """``dagster_airbyte_assets.AirbyteCloudWorkspace``; ``load_asset_specs()`` as above."""

    def load_asset_specs(
        self,
        dagster_airbyte_translator: _OurTranslator | None = None,
        connection_selector_fn: ConnectionSelector | None = None,
        **kwargs: Any,
    ) -> list[dg.AssetSpec]:
        return super().load_asset_specs(
            _legacy(dagster_airbyte_translator), connection_selector_fn, **kwargs
        )


def build_airbyte_assets_definitions(
    *,
    workspace: _resource.AirbyteWorkspace,
    dagster_airbyte_translator: _OurTranslator | None = None,
    connection_selector_fn: ConnectionSelector | None = None,
    **kwargs: Any,
) -> list[dg.AssetsDefinition]:
    """``dagster_airbyte_assets.build_airbyte_assets_definitions`` with dagster-airbyte's keys."""
    return _assets.build_airbyte_assets_definitions(
        workspace=workspace,
        dagster_airbyte_translator=_legacy(dagster_airbyte_translator),
        connection_selector_fn=connection_selector_fn,
        **kwargs,
    )


def load_airbyte_asset_specs(
    workspace: _resource.AirbyteWorkspace,
    dagster_airbyte_translator: _OurTranslator | None = None,
    connection_selector_fn: ConnectionSelector | None = None,
    **kwargs: Any,
) -> list[dg.AssetSpec]:
    """``dagster_airbyte_assets.load_airbyte_asset_specs`` with dagster-airbyte's keys."""
    return _assets.load_airbyte_asset_specs(
        workspace,
        dagster_airbyte_translator=_legacy(dagster_airbyte_translator),
        connection_selector_fn=connection_selector_fn,
        **kwargs,
    )


load_airbyte_cloud_asset_specs = load_airbyte_asset_specs


def airbyte_assets(
    *,
    connection_id: str,
    workspace: _resource.AirbyteWorkspace,
    name: str | None = None,
    group_name: str | None = None,
    dagster_airbyte_translator: _OurTranslator | None = None,
    state_path: str | os.PathLike[str] | None = None,
    refresh: RefreshPolicy = "if_missing",
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """``dagster_airbyte_assets.airbyte_assets`` with dagster-airbyte's keys."""
    return _assets.airbyte_assets(
        connection_id=connection_id,
        workspace=workspace,
        name=name,
        group_name=group_name,
        dagster_airbyte_translator=_legacy(dagster_airbyte_translator),
        state_path=state_path,
        refresh=refresh,
    )


class _ComponentLegacyKeysTranslator(LegacyKeysTranslator):
    def get_op_name(self, connection: AirbyteConnection) -> str:
        # dagster-airbyte's component keeps the name's case (``clean_name``), unlike its
        # ``build_airbyte_assets_definitions`` (``clean_name_lower``).
        return "airbyte_" + re.sub(r"[^A-Za-z0-9_]+", "_", connection.name)


class AirbyteWorkspaceComponent(AirbyteAssetsComponent):
    """``AirbyteAssetsComponent`` with dagster-airbyte's keys, groups and op names.

    ``type: dagster_airbyte_assets.dropin.AirbyteWorkspaceComponent`` in a dagster-airbyte
    ``defs.yaml`` is the whole change. Refresh its state once after switching
    (``dg utils refresh-defs-state``): dagster-airbyte's saved state is in its own format.
    """

    def base_translator(self) -> _OurTranslator:
        return _ComponentLegacyKeysTranslator()
