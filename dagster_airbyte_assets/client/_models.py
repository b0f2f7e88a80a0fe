"""Typed, dialect-independent records for what Airbyte returns.

Both API dialects are parsed into these once, at the boundary (see ``_config_api`` and
``_public_api``). They are frozen, ignore unknown fields, and round-trip through
``model_dump(mode="json")`` / ``model_validate`` because the loader saves them as state.
Configurations are never kept: they hold connector secrets.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = [
    "TERMINAL_JOB_STATUSES",
    "AirbyteAttempt",
    "AirbyteCheckResult",
    "AirbyteConnection",
    "AirbyteConnectorDefinition",
    "AirbyteDestination",
    "AirbyteJob",
    "AirbyteSchedule",
    "AirbyteSource",
    "AirbyteStream",
    "AirbyteStreamStats",
    "AirbyteSyncProgress",
    "AirbyteWorkspaceInfo",
    "ApiDialect",
    "JobStatus",
    "NamespaceDefinition",
    "normalise_namespace_definition",
]

ApiDialect = Literal["config", "public"]


class JobStatus(enum.StrEnum):
    """The job statuses Airbyte documents. Jobs keep the raw string: new values appear."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"


TERMINAL_JOB_STATUSES = frozenset({JobStatus.FAILED, JobStatus.SUCCEEDED, JobStatus.CANCELLED})
_KNOWN_STATUSES = frozenset(s.value for s in JobStatus)


NamespaceDefinition = Literal["source", "destination", "customformat"]


def normalise_namespace_definition(value: Any) -> NamespaceDefinition:
    """Config ``customformat`` and Public ``custom_format`` are one thing; None = destination."""
    text = str(value or "destination").replace("_", "").lower()
    if text not in ("source", "destination", "customformat"):
        return "destination"
    return cast(NamespaceDefinition, text)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class AirbyteWorkspaceInfo(_Model):
    workspace_id: str
    name: str


class AirbyteSource(_Model):
    source_id: str
    name: str
    source_type: str
    """The connector's name or slug (``sourceName`` / ``sourceType``)."""
    workspace_id: str


class AirbyteDestination(_Model):
    """A destination, with only the non-secret parts of its configuration the loader needs."""

    destination_id: str
    name: str
    destination_type: str
    """Public API slug: ``postgres``, ``duckdb``, ``s3``, ``snowflake``, ``bigquery``..."""
    workspace_id: str
    database: str | None = None
    schema_name: str | None = None
    """``configuration.schema`` (Postgres, Snowflake, DuckDB) or ``dataset_id`` (BigQuery)."""
    bucket_name: str | None = None
    bucket_path: str | None = None
    destination_path: str | None = None
    """DuckDB file path (not a secret; where the data lands)."""


class AirbyteSchedule(_Model):
    schedule_type: Literal["manual", "basic", "cron"] = "manual"
    basic_units: int | None = None
    basic_time_unit: str | None = None
    """``minutes``, ``hours``, ``days``, ``weeks`` or ``months``."""
    cron_expression: str | None = None
    """Quartz syntax, as Airbyte stores it."""
    cron_time_zone: str | None = None


class AirbyteStream(_Model):
    name: str
    namespace: str | None = None
    json_schema: dict[str, Any] | None = None
    """``None`` when the dialect could not give it (Public API without the Config API)."""
    selected: bool = True
    sync_mode: str | None = None
    destination_sync_mode: str | None = None
    cursor_field: list[str] = []
    primary_key: list[list[str]] = []
    selected_fields: list[str] | None = None
    """Top-level fields synced when the connection uses field selection; ``None``: all."""


class AirbyteConnection(_Model):
    connection_id: str
    name: str
    workspace_id: str | None = None
    source_id: str
    destination_id: str
    status: str
    namespace_definition: NamespaceDefinition = "destination"
    namespace_format: str | None = None
    prefix: str = ""
    schedule: AirbyteSchedule = AirbyteSchedule()
    streams: list[AirbyteStream] = []
    has_json_schemas: bool = False
    tags: list[str] = []
    """Names of the connection's Airbyte tags (v1.6.0 and later; empty before)."""

    @field_validator("namespace_definition", mode="before")
    @classmethod
    def _normalise_namespace(cls, value: Any) -> Any:
        return normalise_namespace_definition(value)

    @property
    def selected_streams(self) -> list[AirbyteStream]:
        return [s for s in self.streams if s.selected]

    # dagster-airbyte's names, so its users' ``connection_selector_fn`` keeps working.
    @property
    def id(self) -> str:
        return self.connection_id

    @property
    def stream_prefix(self) -> str | None:
        return self.prefix or None


class AirbyteStreamStats(_Model):
    stream_name: str
    stream_namespace: str | None = None
    records_emitted: int | None = None
    records_committed: int | None = None
    bytes_emitted: int | None = None
    bytes_committed: int | None = None


class AirbyteAttempt(_Model):
    attempt_number: int
    status: str
    created_at: datetime | None = None
    ended_at: datetime | None = None
    records_synced: int | None = None
    bytes_synced: int | None = None
    records_emitted: int | None = None
    failure_reason: str | None = None
    partial_success: bool | None = None
    """``failureSummary.partialSuccess``: the attempt failed after committing some data."""
    stream_stats: list[AirbyteStreamStats] = []
    """This attempt's per-stream numbers (``attempts[].streamStats``), when the server gave them."""


class AirbyteJob(_Model):
    job_id: int
    status: str
    """Raw status: unknown values are kept (see ``is_known_status``)."""
    job_type: str
    connection_id: str
    created_at: datetime
    updated_at: datetime | None = None
    attempts: list[AirbyteAttempt] = []
    rows_synced: int | None = None
    """Records committed by the job (``rowsSynced`` on the Public API)."""
    bytes_synced: int | None = None
    records_emitted: int | None = None
    """Records read from the source, where the dialect reports it (Config API)."""
    stream_stats: list[AirbyteStreamStats] = []
    """Final per-stream numbers; see ``stats_source`` for where they came from."""
    stats_source: str | None = None
    """``"job"`` (Airbyte's own aggregation), ``"attempts"`` (aggregated here as Airbyte does)
    or ``None``: no per-stream numbers (the Public API has none)."""
    failure_reason: str | None = None
    attempts_known: bool = True
    """False where the dialect reports no attempts (the Public API): ``attempts`` is empty
    because nothing is known, not because there were none."""
    enabled_streams: list[tuple[str, str | None]] | None = None
    """The streams this job synced (``JobRead.enabledStreams``); ``None`` when not reported."""

    @property
    def failed_attempts(self) -> int:
        return sum(1 for attempt in self.attempts if attempt.status == "failed")

    @property
    def partial_success(self) -> bool:
        return any(attempt.partial_success for attempt in self.attempts)

    @property
    def is_known_status(self) -> bool:
        return self.status in _KNOWN_STATUSES

    @property
    def is_terminal(self) -> bool:
        """Only the three documented end states; an unknown status means "still running"."""
        return self.status in TERMINAL_JOB_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == JobStatus.SUCCEEDED

    @property
    def duration_seconds(self) -> float | None:
        if self.updated_at is None:
            return None
        return max(0.0, (self.updated_at - self.created_at).total_seconds())


class AirbyteSyncProgress(_Model):
    """``connections/sync_progress``: the job running for a connection, and its numbers so far."""

    connection_id: str
    job_id: int | None = None
    """``None`` when nothing runs for the connection."""
    config_type: str | None = None
    records_emitted: int | None = None
    records_committed: int | None = None
    bytes_emitted: int | None = None
    bytes_committed: int | None = None


class AirbyteConnectorDefinition(_Model):
    definition_id: str
    name: str
    docker_repository: str | None = None
    docker_image_tag: str | None = None


class AirbyteCheckResult(_Model):
    """Result of a source / destination connection check."""

    succeeded: bool
    status: str | None = None
    message: str | None = None
