"""Every Airbyte stream as a Dagster software-defined asset.

Layers, each importable alone: the client (``AirbyteClient`` and its models; no Dagster), the
resource (``AirbyteWorkspace``), the translator (``DagsterAirbyteTranslator``) and the
loader/executor (``build_airbyte_assets_definitions``). The local Airbyte server is a separate
distribution (``local-airbyte``) that this package never imports.
"""

from dagster_airbyte_assets._sync import AirbyteSyncFailure, sync_and_wait
from dagster_airbyte_assets._version import __version__
from dagster_airbyte_assets.assets import (
    airbyte_assets,
    build_airbyte_assets_definitions,
    connection_selector_by_tag,
    load_airbyte_asset_specs,
    sync_and_materialize,
    sync_connections_and_materialize,
)
from dagster_airbyte_assets.checks import (
    SchemaDrift,
    build_airbyte_schema_drift_checks,
    compare_column_schemas,
)
from dagster_airbyte_assets.client import (
    AirbyteAttempt,
    AirbyteClient,
    AirbyteConnection,
    AirbyteDestination,
    AirbyteJob,
    AirbyteSchedule,
    AirbyteSource,
    AirbyteStream,
    AirbyteStreamStats,
    AirbyteWorkspaceInfo,
    JobStatus,
    RetryPolicy,
)
from dagster_airbyte_assets.component import AirbyteAssetsComponent
from dagster_airbyte_assets.errors import (
    AirbyteAuthenticationError,
    AirbyteBadRequestError,
    AirbyteConfigurationError,
    AirbyteConflictError,
    AirbyteConnectError,
    AirbyteError,
    AirbyteHTTPError,
    AirbyteJobCancelledError,
    AirbyteJobError,
    AirbyteJobFailedError,
    AirbyteJobTimeoutError,
    AirbyteNotAirbyteError,
    AirbyteNotFoundError,
    AirbyteRequestError,
    AirbyteScheduleError,
    AirbyteServerError,
    AirbyteTimeoutError,
    SyncAlreadyRunningError,
)
from dagster_airbyte_assets.freshness import (
    build_airbyte_freshness_checks,
    build_airbyte_freshness_sensor,
)
from dagster_airbyte_assets.maintenance import build_airbyte_maintenance_jobs
from dagster_airbyte_assets.resource import AirbyteCloudWorkspace, AirbyteWorkspace
from dagster_airbyte_assets.schedules import (
    airbyte_schedule_to_cron,
    build_airbyte_schedules,
    build_airbyte_take_over_job,
    hand_over_schedules_to_dagster,
    quartz_to_cron,
)
from dagster_airbyte_assets.sensor import SyncSensorCursor, build_airbyte_sync_sensor
from dagster_airbyte_assets.translator import (
    AirbyteStreamProps,
    DagsterAirbyteTranslator,
    MetadataKeys,
)

__all__ = [
    "AirbyteAssetsComponent",
    "AirbyteAttempt",
    "AirbyteAuthenticationError",
    "AirbyteBadRequestError",
    "AirbyteClient",
    "AirbyteCloudWorkspace",
    "AirbyteConfigurationError",
    "AirbyteConflictError",
    "AirbyteConnectError",
    "AirbyteConnection",
    "AirbyteDestination",
    "AirbyteError",
    "AirbyteHTTPError",
    "AirbyteJob",
    "AirbyteJobCancelledError",
    "AirbyteJobError",
    "AirbyteJobFailedError",
    "AirbyteJobTimeoutError",
    "AirbyteNotAirbyteError",
    "AirbyteNotFoundError",
    "AirbyteRequestError",
    "AirbyteSchedule",
    "AirbyteScheduleError",
    "AirbyteServerError",
    "AirbyteSource",
    "AirbyteStream",
    "AirbyteStreamProps",
    "AirbyteStreamStats",
    "AirbyteSyncFailure",
    "AirbyteTimeoutError",
    "AirbyteWorkspace",
    "AirbyteWorkspaceInfo",
    "DagsterAirbyteTranslator",
    "JobStatus",
    "MetadataKeys",
    "RetryPolicy",
    "SchemaDrift",
    "SyncAlreadyRunningError",
    "SyncSensorCursor",
    "__version__",
    "airbyte_assets",
    "airbyte_schedule_to_cron",
    "build_airbyte_assets_definitions",
    "build_airbyte_freshness_checks",
    "build_airbyte_freshness_sensor",
    "build_airbyte_maintenance_jobs",
    "build_airbyte_schedules",
    "build_airbyte_schema_drift_checks",
    "build_airbyte_sync_sensor",
    "build_airbyte_take_over_job",
    "compare_column_schemas",
    "connection_selector_by_tag",
    "hand_over_schedules_to_dagster",
    "load_airbyte_asset_specs",
    "quartz_to_cron",
    "sync_and_materialize",
    "sync_and_wait",
    "sync_connections_and_materialize",
]
