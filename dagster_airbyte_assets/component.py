"""``AirbyteAssetsComponent``: the workspace's stream assets from a ``defs.yaml``, for ``dg``.

Built on this package's resource and ``build_airbyte_assets_definitions``, so YAML users get the
same keys, the same saved snapshot (zero API calls on reload) and the same execution as Python
users. Schedules, the external-sync sensor and schema drift checks are one switch each::

    # defs/airbyte/defs.yaml
    type: dagster_airbyte_assets.component.AirbyteAssetsComponent
    attributes:
      workspace:
        url: http://localhost:8000
        client_id: "{{ env.AIRBYTE_CLIENT_ID }}"
        client_secret: "{{ env.AIRBYTE_CLIENT_SECRET }}"
      connection_selector:
        by_name: [Postgres → Warehouse]
      translation:
        group_name: "airbyte_{{ props.stream.name }}"
      state_path: airbyte-state.json      # relative to this folder
      schema_drift_checks: true
      sync_sensor: true
      schedules:
        take_over_scheduling: true

``translation`` is Dagster's asset-attributes block; templates see ``props`` (an
``AirbyteStreamProps``: ``props.connection``, ``props.stream``, ``props.table_name``...) and
``spec`` (the default spec).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
import pydantic
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver

from dagster_airbyte_assets.assets import build_airbyte_assets_definitions
from dagster_airbyte_assets.checks import build_airbyte_schema_drift_checks
from dagster_airbyte_assets.client import AirbyteConnection
from dagster_airbyte_assets.resource import AirbyteWorkspace
from dagster_airbyte_assets.schedules import build_airbyte_schedules
from dagster_airbyte_assets.sensor import build_airbyte_sync_sensor
from dagster_airbyte_assets.translator import AirbyteStreamProps, DagsterAirbyteTranslator

__all__ = [
    "AirbyteAssetsComponent",
    "AirbyteConnectionSelectorById",
    "AirbyteConnectionSelectorByName",
    "AirbyteSchedulesArgs",
    "AirbyteWorkspaceArgs",
]


class AirbyteWorkspaceArgs(dg.Model):
    """The ``AirbyteWorkspace`` settings in YAML (secrets through ``{{ env.NAME }}``)."""

    url: str = pydantic.Field(
        description="Deployment root (http://localhost:8000) or an API base URL (.../api/v1)."
    )
    api: str | None = pydantic.Field(None, description="'config' or 'public' to force a dialect.")
    config_api_url: str | None = pydantic.Field(None, description="Config API base URL.")
    public_api_url: str | None = pydantic.Field(None, description="Public API base URL.")
    workspace_id: str | None = pydantic.Field(
        None, description="Workspace id; optional when the deployment has one workspace."
    )
    username: str | None = pydantic.Field(None, description="Basic auth user.")
    password: str | None = pydantic.Field(None, description="Basic auth password (secret).")
    token: str | None = pydantic.Field(None, description="Static Bearer token (secret).")
    client_id: str | None = pydantic.Field(None, description="Application client id.")
    client_secret: str | None = pydantic.Field(None, description="Client secret (secret).")
    request_timeout: float | None = pydantic.Field(None, description="Seconds per HTTP answer.")
    poll_interval: float | None = pydantic.Field(None, description="Max seconds between polls.")
    poll_timeout: float | None = pydantic.Field(None, description="Give up on a sync after this.")
    cancel_on_termination: bool | None = pydantic.Field(
        None, description="Cancel the Airbyte job when the Dagster step is terminated."
    )
    ui_url: str | None = pydantic.Field(None, description="Airbyte UI root, for links.")


def _resolve_workspace(context: dg.ResolutionContext, model: AirbyteWorkspaceArgs) -> Any:
    values = context.resolve_value(model.model_dump(exclude_none=True))
    return AirbyteWorkspace(**values)


class AirbyteConnectionSelectorByName(dg.Model):
    by_name: Sequence[str] = pydantic.Field(description="Connection names to include.")


class AirbyteConnectionSelectorById(dg.Model):
    by_id: Sequence[str] = pydantic.Field(description="Connection ids to include.")


def _resolve_selector(
    context: dg.ResolutionContext,
    model: AirbyteConnectionSelectorByName | AirbyteConnectionSelectorById,
) -> Callable[[AirbyteConnection], bool]:
    if isinstance(model, AirbyteConnectionSelectorByName):
        names = set(context.resolve_value(list(model.by_name)))
        return lambda connection: connection.name in names
    ids = set(context.resolve_value(list(model.by_id)))
    return lambda connection: connection.connection_id in ids


class AirbyteSchedulesArgs(dg.Model):
    """``build_airbyte_schedules`` options."""

    take_over_scheduling: bool = pydantic.Field(
        False, description="Set scheduled Airbyte connections to manual; Dagster runs them."
    )
    cron_overrides: dict[str, str] = pydantic.Field(
        default_factory=dict, description="Connection name or id -> 5-field cron."
    )
    override_timezone: str = pydantic.Field("UTC", description="Time zone of cron_overrides.")
    on_unconvertible: Literal["raise", "skip"] = pydantic.Field(
        "raise", description="What to do with a schedule that has no exact cron."
    )


class _ComponentTranslator(DagsterAirbyteTranslator):
    """The default translator, then the YAML ``translation`` block on top."""

    def __init__(self, translation: TranslationFn[AirbyteStreamProps] | None) -> None:
        self._translation = translation

    def get_asset_spec(self, props: AirbyteStreamProps) -> dg.AssetSpec:
        spec = super().get_asset_spec(props)
        return self._translation(spec, props) if self._translation else spec


class AirbyteAssetsComponent(dg.Component, dg.Model, dg.Resolvable):
    """Every selected Airbyte stream of a workspace as an asset, from YAML.

    See the module docstring for a complete ``defs.yaml``.
    """

    workspace: Annotated[
        AirbyteWorkspace,
        dg.Resolver(_resolve_workspace, model_field_type=AirbyteWorkspaceArgs),
    ]
    connection_selector: Annotated[
        Callable[[AirbyteConnection], bool] | None,
        dg.Resolver(
            _resolve_selector,
            model_field_type=AirbyteConnectionSelectorByName | AirbyteConnectionSelectorById,
            description="Which connections become assets (by name or by id); all by default.",
        ),
    ] = None
    translation: (
        Annotated[
            TranslationFn[AirbyteStreamProps],
            TranslationFnResolver(template_vars_for_translation_fn=lambda props: {"props": props}),
        ]
        | None
    ) = pydantic.Field(
        default=None, description="Asset attributes applied on top of the default spec."
    )
    state_path: str | None = pydantic.Field(
        default=None,
        description="Saved workspace snapshot, relative to this component's folder.",
    )
    refresh: Literal["if_missing", "always", "never"] = pydantic.Field(
        default="if_missing", description="When to fetch the workspace from Airbyte."
    )
    resource_key: str = pydantic.Field(
        default="airbyte", description="Resource key the assets run with."
    )
    schema_drift_checks: bool = pydantic.Field(
        default=False, description="Add a schema drift check per stream."
    )
    sync_sensor: bool = pydantic.Field(
        default=False, description="Add a sensor reporting syncs started outside Dagster."
    )
    schedules: AirbyteSchedulesArgs | None = pydantic.Field(
        default=None, description="Add a schedule per scheduled connection."
    )

    def _state_path(self, context: dg.ComponentLoadContext) -> Path | None:
        if self.state_path is None:
            return None
        path = Path(self.state_path)
        return path if path.is_absolute() else context.path / path

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        state_path = self._state_path(context)
        assets = build_airbyte_assets_definitions(
            workspace=self.workspace,
            translator=_ComponentTranslator(self.translation),
            connection_selector=self.connection_selector,
            state_path=state_path,
            refresh=self.refresh,
            resource_key=self.resource_key,
        )
        checks: list[dg.AssetChecksDefinition] = []
        if self.schema_drift_checks:
            checks = build_airbyte_schema_drift_checks(
                assets=assets, resource_key=self.resource_key
            )
        sensors = []
        if self.sync_sensor:
            sensors.append(build_airbyte_sync_sensor(workspace=self.workspace, assets=assets))
        schedules: list[dg.ScheduleDefinition] = []
        if self.schedules is not None:
            schedules = build_airbyte_schedules(
                workspace=self.workspace,
                assets=assets,
                take_over_scheduling=self.schedules.take_over_scheduling,
                cron_overrides=self.schedules.cron_overrides,
                override_timezone=self.schedules.override_timezone,
                on_unconvertible=self.schedules.on_unconvertible,
                connection_selector=self.connection_selector,
                state_path=state_path,
                refresh="if_missing" if self.refresh == "always" else self.refresh,
            )
        resources: Mapping[str, Any] = {self.resource_key: self.workspace}
        return dg.Definitions(
            assets=assets,
            asset_checks=checks,
            sensors=sensors,
            schedules=schedules,
            resources=resources,
        )
