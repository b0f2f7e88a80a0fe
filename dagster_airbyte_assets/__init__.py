"""Every Airbyte stream as a Dagster software-defined asset.

The front door holds what a Definitions file uses. Layers, each importable alone: the client
(``dagster_airbyte_assets.client``: ``AirbyteClient`` and its models; no Dagster), the resource
(``AirbyteWorkspace``), the translator (``DagsterAirbyteTranslator``) and the loader/executor
(``build_airbyte_assets_definitions``). Every exception lives in ``dagster_airbyte_assets.errors``
(``AirbyteError`` is their root). The local Airbyte server is a separate distribution
(``local-airbyte``) that this package never imports.
"""

from dagster_airbyte_assets._sync import AirbyteSyncFailure, sync_and_wait
from dagster_airbyte_assets._version import __version__
from dagster_airbyte_assets.assets import (
    airbyte_assets,
    build_airbyte_assets_definitions,
    connection_selector_by_tag,
    load_airbyte_asset_specs,
    load_airbyte_cloud_asset_specs,
    sync_and_materialize,
)
from dagster_airbyte_assets.checks import build_airbyte_schema_drift_checks
from dagster_airbyte_assets.client import AirbyteClient
from dagster_airbyte_assets.compat import (
    AirbyteConnectionTableProps,
    AirbyteJobStatusType,
    LegacyKeysTranslator,
)
from dagster_airbyte_assets.component import AirbyteAssetsComponent
from dagster_airbyte_assets.errors import AirbyteError
from dagster_airbyte_assets.freshness import (
    build_airbyte_freshness_checks,
    build_airbyte_freshness_sensor,
)
from dagster_airbyte_assets.maintenance import build_airbyte_maintenance_jobs
from dagster_airbyte_assets.resource import AirbyteCloudWorkspace, AirbyteWorkspace
from dagster_airbyte_assets.schedules import build_airbyte_schedules, build_airbyte_take_over_job
from dagster_airbyte_assets.sensor import build_airbyte_sync_sensor
from dagster_airbyte_assets.translator import (
    AirbyteStreamProps,
    DagsterAirbyteTranslator,
    MetadataKeys,
)

__all__ = [
    "AirbyteAssetsComponent",
    "AirbyteClient",
    "AirbyteCloudWorkspace",
    "AirbyteConnectionTableProps",
    "AirbyteError",
    "AirbyteJobStatusType",
    "AirbyteStreamProps",
    "AirbyteSyncFailure",
    "AirbyteWorkspace",
    "DagsterAirbyteTranslator",
    "LegacyKeysTranslator",
    "MetadataKeys",
    "__version__",
    "airbyte_assets",
    "build_airbyte_assets_definitions",
    "build_airbyte_freshness_checks",
    "build_airbyte_freshness_sensor",
    "build_airbyte_maintenance_jobs",
    "build_airbyte_schedules",
    "build_airbyte_schema_drift_checks",
    "build_airbyte_sync_sensor",
    "build_airbyte_take_over_job",
    "connection_selector_by_tag",
    "load_airbyte_asset_specs",
    "load_airbyte_cloud_asset_specs",
    "sync_and_materialize",
    "sync_and_wait",
]
