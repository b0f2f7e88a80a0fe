"""Layer 1: the Airbyte HTTP client and its typed models (no Dagster import)."""

from dagster_airbyte_assets.client._auth import BasicAuth, BearerTokenAuth, ClientCredentialsAuth
from dagster_airbyte_assets.client._client import AirbyteClient
from dagster_airbyte_assets.client._dialect import AirbyteDialect, JobQuery, StartConflict
from dagster_airbyte_assets.client._models import (
    AirbyteAttempt,
    AirbyteCheckResult,
    AirbyteConnection,
    AirbyteConnectorDefinition,
    AirbyteDestination,
    AirbyteJob,
    AirbyteSchedule,
    AirbyteSource,
    AirbyteStream,
    AirbyteStreamStats,
    AirbyteSyncProgress,
    AirbyteWorkspaceInfo,
    ApiDialect,
    JobStatus,
)
from dagster_airbyte_assets.client._retry import RetryPolicy
from dagster_airbyte_assets.client._stats import aggregate_attempt_stats
from dagster_airbyte_assets.client._trigger import StartState, SyncHistory, SyncStart
from dagster_airbyte_assets.client._urls import ResolvedUrls, resolve_urls

__all__ = [
    "AirbyteAttempt",
    "AirbyteCheckResult",
    "AirbyteClient",
    "AirbyteConnection",
    "AirbyteConnectorDefinition",
    "AirbyteDestination",
    "AirbyteDialect",
    "AirbyteJob",
    "AirbyteSchedule",
    "AirbyteSource",
    "AirbyteStream",
    "AirbyteStreamStats",
    "AirbyteSyncProgress",
    "AirbyteWorkspaceInfo",
    "ApiDialect",
    "BasicAuth",
    "BearerTokenAuth",
    "ClientCredentialsAuth",
    "JobQuery",
    "JobStatus",
    "ResolvedUrls",
    "RetryPolicy",
    "StartConflict",
    "StartState",
    "SyncHistory",
    "SyncStart",
    "aggregate_attempt_stats",
    "resolve_urls",
]
