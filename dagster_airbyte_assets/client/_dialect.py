"""The one interface both API dialects implement, and the small records they exchange.

``AirbyteClient`` talks to a dialect only through ``AirbyteDialect``: each dialect builds its
own requests and reads its own answers (error bodies included), so nothing above the client
needs to know which one is in use.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from dagster_airbyte_assets.client._models import (
    AirbyteConnection,
    AirbyteDestination,
    AirbyteJob,
    AirbyteSchedule,
    AirbyteSource,
    AirbyteStream,
    AirbyteWorkspaceInfo,
    ApiDialect,
)
from dagster_airbyte_assets.errors import AirbyteConflictError

__all__ = ["AirbyteDialect", "ConnectionDraft", "JobQuery", "StartConflict"]


class StartConflict(enum.Enum):
    """What a 409 on "start a job" means, as the dialect reads its error body."""

    RUNNING = "running"
    """A job is already running for the connection (Public ``try-again-later``, Config 409)."""
    NOT_ACTIVE = "not_active"
    """The connection's state refuses syncs (Public ``state-conflict``): inactive or deleted."""


@dataclass(frozen=True)
class JobQuery:
    """Filters for listing jobs.

    ``job_types`` in the Public API's words (``sync``, ``reset``, ``refresh``, ``clear``);
    ``None`` lists every type the server surely knows.
    """

    connection_id: str | None = None
    workspace_id: str | None = None
    job_types: Sequence[str] | None = ("sync",)
    status: str | None = None
    created_at_start: datetime | None = None
    updated_at_start: datetime | None = None
    order_by: str = "createdAt|DESC"
    limit: int | None = None


@dataclass(frozen=True)
class ConnectionDraft:
    """A connection to create, dialect-neutral."""

    source_id: str
    destination_id: str
    streams: Sequence[AirbyteStream]
    name: str | None = None
    schedule: AirbyteSchedule = field(default_factory=AirbyteSchedule)
    status: str = "active"
    namespace_definition: Literal["source", "destination", "customformat"] = "destination"
    namespace_format: str | None = None
    prefix: str = ""


class AirbyteDialect(Protocol):
    """Every operation both dialects offer, in dialect-neutral terms."""

    name: ApiDialect
    base_url: str

    def list_workspaces(self) -> list[AirbyteWorkspaceInfo]: ...
    def get_workspace(self, workspace_id: str) -> AirbyteWorkspaceInfo: ...
    def list_sources(self, workspace_id: str) -> list[AirbyteSource]: ...
    def get_source(self, source_id: str) -> AirbyteSource: ...
    def list_destinations(self, workspace_id: str) -> list[AirbyteDestination]: ...
    def get_destination(self, destination_id: str) -> AirbyteDestination: ...
    def list_connections(self, workspace_id: str) -> list[AirbyteConnection]: ...
    def get_connection(self, connection_id: str) -> AirbyteConnection: ...
    def create_connection(self, draft: ConnectionDraft) -> AirbyteConnection: ...
    def update_connection(
        self, connection_id: str, *, schedule: AirbyteSchedule | None, status: str | None
    ) -> AirbyteConnection: ...
    def start_job(self, connection_id: str, job_type: str) -> AirbyteJob:
        """Send one start request; never replayed once it may have reached Airbyte."""
        ...

    def start_conflict(self, error: AirbyteConflictError) -> StartConflict: ...
    def get_job(self, job_id: int) -> AirbyteJob:
        """The job's status from an endpoint that never carries logs."""
        ...

    def cancel_job(self, job_id: int) -> AirbyteJob: ...
    def list_jobs(self, query: JobQuery) -> list[AirbyteJob]: ...
    def create_source(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteSource: ...
    def create_destination(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteDestination: ...
