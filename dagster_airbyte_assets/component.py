"""``AirbyteAssetsComponent``: the workspace's stream assets from a ``defs.yaml``, for ``dg``.

A Dagster ``StateBackedComponent``: the workspace snapshot is its ``defs_state``, fetched by
``dg utils refresh-defs-state`` (and at load under ``dg dev`` / ``dagster dev`` unless
``refresh_if_dev: false``) and stored where ``management_type`` says:

- ``LOCAL_FILESYSTEM`` (default): next to the defs module, in ``.local_defs_state/``; refresh it
  while building the image so the state ships with the code;
- ``VERSIONED_STATE_STORAGE``: in the instance's ``defs_state_storage`` (S3, GCS...), refreshed
  any time without a new image; each code-server load pins one version;
- ``LEGACY_CODE_SERVER_SNAPSHOTS``: fetched at every code-server start.

Whatever the storage, the code server also records the snapshot in the code location's
reconstruction metadata and every run, step or Celery worker rebuilds from that: no storage
access, file or Airbyte call there (Dagster's own ``VERSIONED_STATE_STORAGE`` read fails in a
Celery worker, which has no state storage in context). Missing state is an error naming the
command to run, never an empty set of assets. Same keys and execution as the Python API::

    # defs/airbyte/defs.yaml
    type: dagster_airbyte_assets.component.AirbyteAssetsComponent
    attributes:
      workspace:
        url: http://localhost:8000
        client_id: "{{ env.AIRBYTE_CLIENT_ID }}"
        client_secret: "{{ env.AIRBYTE_CLIENT_SECRET }}"
        request_max_retries: 3
      connection_selector:
        by_name: [Postgres → Warehouse]
      translation:
        group_name: "airbyte_{{ props.stream.name }}"
      schema_drift_checks: true
      sync_sensor: true
      maintenance_jobs: true            # refresh / clear / reset per connection
      freshness_checks:                 # from each connection's Airbyte schedule
        grace_minutes: 30
      schedules:
        take_over_scheduling: true      # adds the job airbyte_take_over_schedules
      defs_state:
        management_type: VERSIONED_STATE_STORAGE

``workspace`` takes every ``AirbyteWorkspace`` setting (the YAML model is generated from the
resource's fields), dagster-airbyte's included: its component's YAML loads with only ``type:``
changed (no URL at all means Airbyte Cloud, as there). ``translation`` is Dagster's
asset-attributes block; templates see ``props`` (an ``AirbyteStreamProps``: ``props.connection``,
``props.stream``, and dagster-airbyte's ``props.table_name``, ``props.connection_name``...) and
``spec`` (the default spec).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, cast

import dagster as dg
import pydantic
from dagster.components import DefsStateConfig, DefsStateConfigArgs, ResolvedDefsStateConfig
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver

from dagster_airbyte_assets._state import (
    METADATA_PREFIX,
    AirbyteWorkspaceSnapshot,
    decode_state,
    encode_state,
    fetch_workspace_snapshot,
    load_handed_over,
    parse_snapshot_json,
    reconstructed_state,
    recorded_state,
    snapshot_json,
    workspace_digest,
)
from dagster_airbyte_assets.assets import assets_from_snapshot, connection_selector_by_tag
from dagster_airbyte_assets.checks import build_airbyte_schema_drift_checks
from dagster_airbyte_assets.client import AirbyteConnection
from dagster_airbyte_assets.errors import AirbyteConfigurationError
from dagster_airbyte_assets.freshness import (
    build_airbyte_freshness_sensor,
    freshness_checks_from_snapshot,
)
from dagster_airbyte_assets.maintenance import build_airbyte_maintenance_jobs
from dagster_airbyte_assets.resource import AirbyteCloudWorkspace, AirbyteWorkspace
from dagster_airbyte_assets.schedules import build_airbyte_take_over_job, schedules_from_snapshot
from dagster_airbyte_assets.sensor import build_airbyte_sync_sensor
from dagster_airbyte_assets.translator import AirbyteStreamProps, DagsterAirbyteTranslator

__all__ = [
    "AirbyteAssetsComponent",
    "AirbyteConnectionSelectorById",
    "AirbyteConnectionSelectorByName",
    "AirbyteConnectionSelectorByTag",
    "AirbyteFreshnessArgs",
    "AirbyteSchedulesArgs",
    "AirbyteWorkspaceArgs",
]


def _workspace_args_model() -> type[dg.Model]:
    """The YAML model of ``workspace``: every ``AirbyteWorkspace`` field, generated from the
    resource so the two never drift. Optional settings default to ``None`` (the resource's own
    default applies); descriptions are the resource's."""
    fields: dict[str, Any] = {}
    for name, field in AirbyteWorkspace.model_fields.items():
        if field.is_required():
            fields[name] = (field.annotation, pydantic.Field(description=field.description))
        else:
            fields[name] = (
                Optional[field.annotation],  # noqa: UP045 - a runtime type, `X | None` is not
                pydantic.Field(None, description=field.description),
            )
    model: type[dg.Model] = pydantic.create_model(
        "AirbyteWorkspaceArgs",
        __base__=dg.Model,
        __module__=__name__,
        __doc__="The ``AirbyteWorkspace`` settings in YAML (secrets through ``{{ env.NAME }}``).",
        **fields,
    )
    return model


AirbyteWorkspaceArgs = _workspace_args_model()


def _resolve_workspace(context: dg.ResolutionContext, model: dg.Model) -> Any:
    values = context.resolve_value(model.model_dump(exclude_none=True))
    if not {"url", "rest_api_base_url", "configuration_api_base_url"} & values.keys():
        # dagster-airbyte's YAML for Airbyte Cloud names no URL at all.
        return AirbyteCloudWorkspace(**values)
    return AirbyteWorkspace(**values)


class AirbyteConnectionSelectorByName(dg.Model):
    by_name: Sequence[str] = pydantic.Field(description="Connection names to include.")


class AirbyteConnectionSelectorById(dg.Model):
    by_id: Sequence[str] = pydantic.Field(description="Connection ids to include.")


class AirbyteConnectionSelectorByTag(dg.Model):
    by_tag: Sequence[str] = pydantic.Field(
        description="Airbyte connection tag names: connections with any of them (Airbyte 1.6+)."
    )


def _resolve_selector(
    context: dg.ResolutionContext,
    model: str
    | AirbyteConnectionSelectorByName
    | AirbyteConnectionSelectorById
    | AirbyteConnectionSelectorByTag,
) -> Callable[[AirbyteConnection], bool]:
    if isinstance(model, str):  # a template giving a function, as dagster-airbyte allows
        selector = context.resolve_value(model)
        if not callable(selector):
            raise AirbyteConfigurationError(
                f"`connection_selector` must give a function of the connection, not {selector!r}"
            )
        return cast("Callable[[AirbyteConnection], bool]", selector)
    if isinstance(model, AirbyteConnectionSelectorByTag):
        return connection_selector_by_tag(*context.resolve_value(list(model.by_tag)))
    if isinstance(model, AirbyteConnectionSelectorByName):
        names = set(context.resolve_value(list(model.by_name)))
        return lambda connection: connection.name in names
    ids = set(context.resolve_value(list(model.by_id)))
    return lambda connection: connection.connection_id in ids


class AirbyteSchedulesArgs(dg.Model):
    """``build_airbyte_schedules`` options."""

    take_over_scheduling: bool = pydantic.Field(
        False,
        description=(
            "Dagster owns the schedules: adds the job airbyte_take_over_schedules, which sets "
            "scheduled Airbyte connections to manual (loading never calls Airbyte)."
        ),
    )
    cron_overrides: dict[str, str] = pydantic.Field(
        default_factory=dict, description="Connection name or id -> 5-field cron."
    )
    override_timezone: str = pydantic.Field("UTC", description="Time zone of cron_overrides.")
    on_unconvertible: Literal["raise", "skip"] = pydantic.Field(
        "raise", description="What to do with a schedule that has no exact cron."
    )


class AirbyteFreshnessArgs(dg.Model):
    """``build_airbyte_freshness_checks`` options, and Dagster's freshness sensor to run them."""

    grace_minutes: float = pydantic.Field(
        30, description="How long after its schedule a sync may land before the data is late."
    )
    max_age_minutes: dict[str, float] = pydantic.Field(
        default_factory=dict,
        description="Connection name or id -> the age (minutes) beyond which data is late; "
        "replaces the schedule's, and gives manual connections a check.",
    )


class _ComponentTranslator(DagsterAirbyteTranslator):
    """The component's base translator, then the YAML ``translation`` block on top."""

    def __init__(
        self,
        translation: TranslationFn[AirbyteStreamProps] | None,
        base: DagsterAirbyteTranslator | None = None,
    ) -> None:
        self._translation = translation
        self._base = base or DagsterAirbyteTranslator()

    def get_asset_spec(self, props: AirbyteStreamProps) -> dg.AssetSpec:
        spec = self._base.get_asset_spec(props)
        return self._translation(spec, props) if self._translation else spec

    def get_op_name(self, connection: AirbyteConnection) -> str:
        return self._base.get_op_name(connection)


class AirbyteAssetsComponent(dg.StateBackedComponent, dg.Model, dg.Resolvable):
    """Every selected Airbyte stream of a workspace as an asset, from YAML.

    See the module docstring for a complete ``defs.yaml`` and where the state lives.
    """

    workspace: Annotated[
        AirbyteWorkspace,
        dg.Resolver(_resolve_workspace, model_field_type=AirbyteWorkspaceArgs),
    ]
    connection_selector: Annotated[
        Callable[[AirbyteConnection], bool] | None,
        dg.Resolver(
            _resolve_selector,
            model_field_type=str
            | AirbyteConnectionSelectorByName
            | AirbyteConnectionSelectorById
            | AirbyteConnectionSelectorByTag,
            description="Which connections become assets (by name, id or Airbyte tag, or a "
            "template giving a function); all by default.",
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
    pool: str | None = pydantic.Field(
        default=None,
        description="Dagster concurrency pool of the sync steps, to cap concurrent syncs "
        "against this Airbyte (set the pool's limit on the instance).",
    )
    maintenance_jobs: bool = pydantic.Field(
        default=False,
        description="Add refresh, clear and reset jobs per connection (clear and reset ask for "
        "confirm_delete_data: true in the run config).",
    )
    freshness_checks: AirbyteFreshnessArgs | None = pydantic.Field(
        default=None,
        description="Add a freshness check per stream from its connection's Airbyte schedule, "
        "and the sensor that evaluates them.",
    )
    defs_state: ResolvedDefsStateConfig = DefsStateConfigArgs.local_filesystem()

    # -- state ------------------------------------------------------------------------------------

    @property
    def defs_state_config(self) -> DefsStateConfig:
        # Dagster's convention, `<Component>[<workspace>]`; the digest stands in for a workspace
        # id left to discovery (and never shows a URL, which may carry credentials).
        name = self.workspace.workspace_id or workspace_digest(self.workspace)
        return DefsStateConfig.from_args(
            self.defs_state, default_key=f"{type(self).__name__}[{name}]"
        )

    @property
    def _metadata_key(self) -> str:
        return f"{METADATA_PREFIX}/component[{self.defs_state_config.key}]"

    def write_state_to_path(self, state_path: Path) -> None:
        """Fetch the workspace from Airbyte (``dg utils refresh-defs-state``, dev reloads)."""
        snapshot = fetch_workspace_snapshot(
            self.workspace.get_client(),
            self.workspace.resolve_workspace_id(),
            max_concurrency=self.workspace.max_concurrent_requests,
            api_url=self.workspace.airbyte_url,
        )
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_text(snapshot_json(snapshot))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        # A reconstruction builds from what the code server recorded, whatever the storage:
        # a worker needs neither the file nor the instance's state storage (which a Celery
        # task does not have in context).
        text = reconstructed_state(self._metadata_key)
        if text is not None:
            return self._defs_from_snapshot(self._parse(decode_state(text)))
        return super().build_defs(context)

    def build_defs_from_state(
        self, context: dg.ComponentLoadContext, state_path: Path | None
    ) -> dg.Definitions:
        config = self.defs_state_config
        if state_path is None:
            raise AirbyteConfigurationError(
                f"No Airbyte workspace state for the component in {context.path} (defs_state "
                f"key {config.key!r}, {config.management_type.value}): it has not been fetched "
                "yet, or was fetched under another management_type. Fetch it with "
                "`dg utils refresh-defs-state` (with DAGSTER_HOME set to your instance for "
                "VERSIONED_STATE_STORAGE; while building the image for LOCAL_FILESYSTEM), or "
                "load under `dg dev` / `dagster dev` with refresh_if_dev: true."
            )
        text = state_path.read_text()
        snapshot = self._parse(text)
        recorded_state(self._metadata_key, lambda: encode_state(text))
        return self._defs_from_snapshot(snapshot)

    def _parse(self, text: str) -> AirbyteWorkspaceSnapshot:
        return parse_snapshot_json(text, f"defs_state {self.defs_state_config.key!r}")

    # -- definitions ------------------------------------------------------------------------------

    def base_translator(self) -> DagsterAirbyteTranslator:
        """The translator ``translation`` applies on top of; override to change the defaults."""
        return DagsterAirbyteTranslator()

    def _defs_from_snapshot(self, snapshot: AirbyteWorkspaceSnapshot) -> dg.Definitions:
        assets = assets_from_snapshot(
            snapshot,
            translator=_ComponentTranslator(self.translation, self.base_translator()),
            connection_selector=self.connection_selector,
            resource_key=self.resource_key,
            pool=self.pool,
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
        jobs: list[dg.JobDefinition] = []
        if self.schedules is not None:
            schedules = schedules_from_snapshot(
                snapshot,
                handed_over=load_handed_over(self.workspace),
                assets=assets,
                take_over_scheduling=self.schedules.take_over_scheduling,
                cron_overrides=self.schedules.cron_overrides,
                override_timezone=self.schedules.override_timezone,
                on_unconvertible=self.schedules.on_unconvertible,
                connection_selector=self.connection_selector,
            )
            if self.schedules.take_over_scheduling:
                jobs.append(
                    build_airbyte_take_over_job(
                        workspace=self.workspace,
                        assets=assets,
                        connection_selector=self.connection_selector,
                        cron_overrides=self.schedules.cron_overrides,
                    )
                )
        if self.freshness_checks is not None:
            freshness = freshness_checks_from_snapshot(
                snapshot,
                handed_over=load_handed_over(self.workspace),
                assets=assets,
                grace=timedelta(minutes=self.freshness_checks.grace_minutes),
                max_age_overrides={
                    name: timedelta(minutes=minutes)
                    for name, minutes in self.freshness_checks.max_age_minutes.items()
                },
            )
            if freshness:
                checks = [*checks, *freshness]
                sensors.append(build_airbyte_freshness_sensor(freshness))
        if self.maintenance_jobs:
            jobs.extend(
                build_airbyte_maintenance_jobs(assets=assets, resource_key=self.resource_key)
            )
        resources: Mapping[str, Any] = {self.resource_key: self.workspace}
        return dg.Definitions(
            assets=assets,
            asset_checks=checks,
            sensors=sensors,
            schedules=schedules,
            jobs=jobs,
            resources=resources,
        )
