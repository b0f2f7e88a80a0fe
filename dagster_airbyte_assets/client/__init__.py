"""Layer 1: the Airbyte HTTP client and its typed models (no Dagster import)."""

from dagster_airbyte_assets.client._auth import BasicAuth, BearerTokenAuth, ClientCredentialsAuth
from dagster_airbyte_assets.client._client import AirbyteClient
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
    AirbyteWorkspaceInfo,
    ApiDialect,
    JobStatus,
)
from dagster_airbyte_assets.client._retry import RetryPolicy
from dagster_airbyte_assets.client._urls import ResolvedUrls, resolve_urls

__all__ = [
    "AirbyteAttempt",
    "AirbyteCheckResult",
    "AirbyteClient",
    "AirbyteConnection",
    "AirbyteConnectorDefinition",
    "AirbyteDestination",
    "AirbyteJob",
    "AirbyteSchedule",
    "AirbyteSource",
    "AirbyteStream",
    "AirbyteStreamStats",
    "AirbyteWorkspaceInfo",
    "ApiDialect",
    "BasicAuth",
    "BearerTokenAuth",
    "ClientCredentialsAuth",
    "JobStatus",
    "ResolvedUrls",
    "RetryPolicy",
    "resolve_urls",
]
