"""The Config API dialect: RPC over ``POST {base}/<resource>/<verb>`` with JSON bodies.

Payload shapes follow ``config-api.yaml`` (``ConnectionRead``, ``JobInfoRead``,
``JobWithAttemptsRead``, ``SourceRead``...). Timestamps are epoch seconds. Read calls
(``*/get``, ``*/list``) are idempotent and retried; writes are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dagster_airbyte_assets.client._http import HttpCore
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
    normalise_namespace_definition,
)

__all__ = [
    "ConfigApi",
    "destination_fields",
    "iso_utc",
    "parse_config_connection",
    "parse_config_job",
    "parse_datetime",
    "schedule_to_config",
    "stream_to_config",
]

# Definition ids the Public API maps to slugs (airbyte-platform's fixed table).
KNOWN_DESTINATION_DEFINITIONS = {
    "25c5221d-dce2-4163-ade9-739ef790f503": "postgres",
    "424892c4-daac-4491-b35d-c6688ba547ba": "snowflake",
    "22f6c74f-5699-40ff-833c-4a879ea40133": "bigquery",
    "94bd199c-2ff0-4aa2-b98e-17f0acb72610": "duckdb",
}
_JOB_TYPES = {"reset_connection": "reset"}
_PAGE_SIZE = 100


def parse_datetime(value: Any) -> datetime | None:
    """Epoch seconds (Config API) or ISO 8601 (Public API) to an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds, seen from some proxies and old servers
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, tz=UTC)
    text = str(value).strip()
    if text.isdigit():
        return parse_datetime(int(text))
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _slug(name: str) -> str:
    text = name.strip().lower()
    text = text.removeprefix("destination-").removeprefix("airbyte/destination-")
    return "-".join(text.split())


def destination_fields(configuration: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The non-secret parts of a destination configuration the loader needs (nothing else)."""
    cfg = configuration if isinstance(configuration, Mapping) else {}
    return {
        "database": _str_or_none(cfg.get("database")) or _str_or_none(cfg.get("project_id")),
        "schema_name": _str_or_none(cfg.get("schema")) or _str_or_none(cfg.get("dataset_id")),
        "bucket_name": _str_or_none(cfg.get("s3_bucket_name")),
        "bucket_path": _str_or_none(cfg.get("s3_bucket_path")),
        "destination_path": _str_or_none(cfg.get("destination_path")),
    }


def parse_config_schedule(payload: Mapping[str, Any]) -> AirbyteSchedule:
    schedule_type = payload.get("scheduleType")
    data = payload.get("scheduleData") or {}
    legacy = payload.get("schedule")
    if schedule_type == "cron" and isinstance(data.get("cron"), Mapping):
        cron = data["cron"]
        return AirbyteSchedule(
            schedule_type="cron",
            cron_expression=cron.get("cronExpression"),
            cron_time_zone=cron.get("cronTimeZone"),
        )
    basic = data.get("basicSchedule") if isinstance(data, Mapping) else None
    if schedule_type in ("basic", None) and isinstance(basic or legacy, Mapping):
        spec = basic or legacy
        assert isinstance(spec, Mapping)
        return AirbyteSchedule(
            schedule_type="basic",
            basic_units=int(spec["units"]) if spec.get("units") is not None else None,
            basic_time_unit=spec.get("timeUnit"),
        )
    return AirbyteSchedule(schedule_type="manual")


def schedule_to_config(schedule: AirbyteSchedule) -> dict[str, Any]:
    if schedule.schedule_type == "cron":
        return {
            "scheduleType": "cron",
            "scheduleData": {
                "cron": {
                    "cronExpression": schedule.cron_expression,
                    "cronTimeZone": schedule.cron_time_zone or "UTC",
                }
            },
        }
    if schedule.schedule_type == "basic":
        basic = {"units": schedule.basic_units, "timeUnit": schedule.basic_time_unit}
        return {"scheduleType": "basic", "scheduleData": {"basicSchedule": basic}}
    return {"scheduleType": "manual"}


def parse_config_stream(item: Mapping[str, Any]) -> AirbyteStream:
    stream = item.get("stream") or {}
    config = item.get("config") or {}
    schema = stream.get("jsonSchema", stream.get("json_schema"))
    return AirbyteStream(
        name=stream["name"],
        namespace=stream.get("namespace"),
        json_schema=schema if isinstance(schema, dict) else None,
        selected=bool(config.get("selected", True)),
        sync_mode=config.get("syncMode"),
        destination_sync_mode=config.get("destinationSyncMode"),
        cursor_field=list(config.get("cursorField") or []),
        primary_key=[list(p) for p in config.get("primaryKey") or []],
    )


def stream_to_config(stream: AirbyteStream) -> dict[str, Any]:
    """An ``AirbyteStreamAndConfiguration`` for connections/create and update."""
    body: dict[str, Any] = {"name": stream.name}
    if stream.namespace is not None:
        body["namespace"] = stream.namespace
    if stream.json_schema is not None:
        body["jsonSchema"] = stream.json_schema
    return {
        "stream": body,
        "config": {
            "syncMode": stream.sync_mode or "full_refresh",
            "destinationSyncMode": stream.destination_sync_mode or "overwrite",
            "cursorField": stream.cursor_field,
            "primaryKey": stream.primary_key,
            "selected": stream.selected,
        },
    }


def parse_config_connection(payload: Mapping[str, Any]) -> AirbyteConnection:
    catalog = payload.get("syncCatalog") or {}
    streams = [parse_config_stream(item) for item in catalog.get("streams") or []]
    return AirbyteConnection(
        connection_id=payload["connectionId"],
        name=payload.get("name") or payload["connectionId"],
        workspace_id=payload.get("workspaceId"),
        source_id=payload["sourceId"],
        destination_id=payload["destinationId"],
        status=payload.get("status") or "active",
        namespace_definition=normalise_namespace_definition(payload.get("namespaceDefinition")),
        namespace_format=payload.get("namespaceFormat"),
        prefix=payload.get("prefix") or "",
        schedule=parse_config_schedule(payload),
        streams=streams,
        has_json_schemas=True,
    )


def _failure_reason(summary: Any) -> str | None:
    if not isinstance(summary, Mapping):
        return None
    for failure in summary.get("failures") or []:
        if isinstance(failure, Mapping):
            text = failure.get("externalMessage") or failure.get("internalMessage")
            if text:
                return str(text)
    return None


def _parse_attempt(raw: Mapping[str, Any]) -> AirbyteAttempt:
    # JobInfoRead wraps each attempt ({attempt, logs}); JobWithAttemptsRead does not.
    attempt = raw.get("attempt", raw)
    totals = attempt.get("totalStats") or {}
    return AirbyteAttempt(
        attempt_number=int(attempt.get("id", 0)),
        status=str(attempt.get("status", "")),
        created_at=parse_datetime(attempt.get("createdAt")),
        ended_at=parse_datetime(attempt.get("endedAt")),
        records_synced=attempt.get("recordsSynced", totals.get("recordsCommitted")),
        bytes_synced=attempt.get("bytesSynced", totals.get("bytesCommitted")),
        failure_reason=_failure_reason(attempt.get("failureSummary")),
    )


def parse_config_job(payload: Mapping[str, Any]) -> AirbyteJob:
    """``JobInfoRead`` / ``JobWithAttemptsRead`` / ``{job: JobRead}`` to an ``AirbyteJob``."""
    job = payload.get("job", payload)
    attempts = [_parse_attempt(a) for a in payload.get("attempts") or []]
    stats = job.get("aggregatedStats") or {}
    stream_stats = [
        AirbyteStreamStats(
            stream_name=s["streamName"],
            stream_namespace=s.get("streamNamespace"),
            records_emitted=s.get("recordsEmitted"),
            records_committed=s.get("recordsCommitted"),
            bytes_emitted=s.get("bytesEmitted"),
            bytes_committed=s.get("bytesCommitted"),
        )
        for s in job.get("streamAggregatedStats") or []
    ]
    failure = next((a.failure_reason for a in reversed(attempts) if a.failure_reason), None)
    created = parse_datetime(job.get("createdAt")) or datetime.now(UTC)
    rows = stats.get("recordsCommitted")
    byts = stats.get("bytesCommitted")
    if rows is None and attempts:
        rows = attempts[-1].records_synced
    if byts is None and attempts:
        byts = attempts[-1].bytes_synced
    config_type = str(job.get("configType", "sync"))
    return AirbyteJob(
        job_id=int(job["id"]),
        status=str(job.get("status", "")),
        job_type=_JOB_TYPES.get(config_type, config_type),
        connection_id=str(job.get("configId", "")),
        created_at=created,
        updated_at=parse_datetime(job.get("updatedAt")),
        attempts=attempts,
        rows_synced=rows,
        bytes_synced=byts,
        stream_stats=stream_stats,
        failure_reason=failure,
    )


def parse_config_source(payload: Mapping[str, Any]) -> AirbyteSource:
    return AirbyteSource(
        source_id=payload["sourceId"],
        name=payload.get("name", ""),
        source_type=payload.get("sourceName") or payload.get("sourceDefinitionId", ""),
        workspace_id=payload.get("workspaceId", ""),
    )


def parse_config_destination(payload: Mapping[str, Any]) -> AirbyteDestination:
    definition_id = payload.get("destinationDefinitionId", "")
    destination_type = KNOWN_DESTINATION_DEFINITIONS.get(definition_id) or _slug(
        payload.get("destinationName") or definition_id
    )
    return AirbyteDestination(
        destination_id=payload["destinationId"],
        name=payload.get("name", ""),
        destination_type=destination_type,
        workspace_id=payload.get("workspaceId", ""),
        **destination_fields(payload.get("connectionConfiguration")),
    )


def _parse_check(payload: Mapping[str, Any]) -> AirbyteCheckResult:
    job_info = payload.get("jobInfo") or {}
    status = payload.get("status")
    message = payload.get("message")
    reason = job_info.get("failureReason")
    if not message and isinstance(reason, Mapping):
        message = reason.get("externalMessage")
    succeeded = status == "succeeded" if status else bool(job_info.get("succeeded"))
    return AirbyteCheckResult(succeeded=succeeded, status=status, message=message)


class ConfigApi:
    """Every operation the client needs, in the Config API's words."""

    def __init__(self, http: HttpCore, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def _read(self, path: str, body: Any, **kw: Any) -> Any:
        return self.http.call("POST", f"{self.base_url}/{path}", json=body, idempotent=True, **kw)

    def _write(self, path: str, body: Any, **kw: Any) -> Any:
        return self.http.call("POST", f"{self.base_url}/{path}", json=body, idempotent=False, **kw)

    # -- workspaces -------------------------------------------------------------------------
    def list_workspaces(self) -> list[AirbyteWorkspaceInfo]:
        body = self._read("workspaces/list", {})
        return [
            AirbyteWorkspaceInfo(workspace_id=w["workspaceId"], name=w.get("name", ""))
            for w in body.get("workspaces") or []
        ]

    def get_workspace(self, workspace_id: str) -> AirbyteWorkspaceInfo:
        w = self._read(
            "workspaces/get",
            {"workspaceId": workspace_id},
            resource_id=workspace_id,
            resource_kind="workspace",
        )
        return AirbyteWorkspaceInfo(workspace_id=w["workspaceId"], name=w.get("name", ""))

    # -- sources / destinations -------------------------------------------------------------
    def list_sources(self, workspace_id: str) -> list[AirbyteSource]:
        body = self._read(
            "sources/list",
            {"workspaceId": workspace_id},
            resource_id=workspace_id,
            resource_kind="workspace",
        )
        return [parse_config_source(s) for s in body.get("sources") or []]

    def get_source(self, source_id: str) -> AirbyteSource:
        body = self._read(
            "sources/get", {"sourceId": source_id}, resource_id=source_id, resource_kind="source"
        )
        return parse_config_source(body)

    def list_destinations(self, workspace_id: str) -> list[AirbyteDestination]:
        body = self._read(
            "destinations/list",
            {"workspaceId": workspace_id},
            resource_id=workspace_id,
            resource_kind="workspace",
        )
        return [parse_config_destination(d) for d in body.get("destinations") or []]

    def get_destination(self, destination_id: str) -> AirbyteDestination:
        body = self._read(
            "destinations/get",
            {"destinationId": destination_id},
            resource_id=destination_id,
            resource_kind="destination",
        )
        return parse_config_destination(body)

    # -- connections ------------------------------------------------------------------------
    def list_connections(self, workspace_id: str) -> list[AirbyteConnection]:
        body = self._read(
            "connections/list",
            {"workspaceId": workspace_id},
            resource_id=workspace_id,
            resource_kind="workspace",
        )
        return [parse_config_connection(c) for c in body.get("connections") or []]

    def get_connection(self, connection_id: str) -> AirbyteConnection:
        body = self._read(
            "connections/get",
            {"connectionId": connection_id},
            resource_id=connection_id,
            resource_kind="connection",
        )
        return parse_config_connection(body)

    def create_connection(self, body: dict[str, Any]) -> AirbyteConnection:
        return parse_config_connection(self._write("connections/create", body))

    def update_connection(
        self, connection_id: str, *, schedule: AirbyteSchedule | None, status: str | None
    ) -> AirbyteConnection:
        body: dict[str, Any] = {"connectionId": connection_id}
        if schedule is not None:
            body.update(schedule_to_config(schedule))
        if status is not None:
            body["status"] = status
        # An update with the same values is harmless, so it may be retried.
        result = self._read(
            "connections/update", body, resource_id=connection_id, resource_kind="connection"
        )
        return parse_config_connection(result)

    # -- jobs -------------------------------------------------------------------------------
    def start_job(self, connection_id: str, job_type: str) -> AirbyteJob:
        path = {"sync": "connections/sync", "reset": "connections/reset"}.get(
            job_type, f"connections/{job_type}"
        )
        # Never retried after sending: the client resolves ambiguity by looking for the job.
        body = self.http.call(
            "POST",
            f"{self.base_url}/{path}",
            json={"connectionId": connection_id},
            idempotent=False,
            resource_id=connection_id,
            resource_kind="connection",
        )
        return parse_config_job(body)

    def get_job(self, job_id: int) -> AirbyteJob:
        body = self._read("jobs/get", {"id": job_id}, resource_id=str(job_id), resource_kind="job")
        return parse_config_job(body)

    def cancel_job(self, job_id: int) -> AirbyteJob:
        body = self._write(
            "jobs/cancel", {"id": job_id}, resource_id=str(job_id), resource_kind="job"
        )
        return parse_config_job(body)

    def list_jobs(
        self,
        *,
        connection_id: str | None,
        job_type: str | None,
        status: str | None,
        created_at_start: datetime | None,
        updated_at_start: datetime | None,
        order_by: str,
        limit: int | None,
    ) -> list[AirbyteJob]:
        types = [job_type] if job_type else ["sync", "reset", "refresh", "clear"]
        config_types = [{"reset": "reset_connection"}.get(t, t) for t in types]
        body: dict[str, Any] = {"configTypes": config_types}
        if connection_id:
            body["configId"] = connection_id
        if status:
            body["statuses"] = [status]
        if created_at_start:
            body["createdAtStart"] = iso_utc(created_at_start)
        if updated_at_start:
            body["updatedAtStart"] = iso_utc(updated_at_start)
        field, _, method = order_by.partition("|")
        if field:
            body["orderByField"] = field
            body["orderByMethod"] = (method or "ASC").upper()
        jobs: list[AirbyteJob] = []
        offset = 0
        while True:
            size = _PAGE_SIZE if limit is None else min(_PAGE_SIZE, limit - len(jobs))
            page_body = {**body, "pagination": {"pageSize": size, "rowOffset": offset}}
            page = self._read("jobs/list", page_body).get("jobs") or []
            jobs.extend(parse_config_job(j) for j in page)
            offset += len(page)
            if len(page) < size or (limit is not None and len(jobs) >= limit):
                return jobs

    # -- management -------------------------------------------------------------------------
    def create_source(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteSource:
        body = self._write(
            "sources/create",
            {
                "workspaceId": workspace_id,
                "name": name,
                "sourceDefinitionId": definition_id,
                "connectionConfiguration": configuration,
            },
        )
        return parse_config_source(body)

    def create_destination(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteDestination:
        body = self._write(
            "destinations/create",
            {
                "workspaceId": workspace_id,
                "name": name,
                "destinationDefinitionId": definition_id,
                "connectionConfiguration": configuration,
            },
        )
        return parse_config_destination(body)

    def check_source(self, source_id: str) -> AirbyteCheckResult:
        body = self._read(
            "sources/check_connection",
            {"sourceId": source_id},
            resource_id=source_id,
            resource_kind="source",
        )
        return _parse_check(body)

    def check_destination(self, destination_id: str) -> AirbyteCheckResult:
        body = self._read(
            "destinations/check_connection",
            {"destinationId": destination_id},
            resource_id=destination_id,
            resource_kind="destination",
        )
        return _parse_check(body)

    def discover_source_schema(self, source_id: str) -> list[AirbyteStream]:
        body = self._read(
            "sources/discover_schema",
            {"sourceId": source_id, "disable_cache": True},
            resource_id=source_id,
            resource_kind="source",
        )
        catalog = body.get("catalog") or {}
        return [parse_config_stream(item) for item in catalog.get("streams") or []]

    def list_source_definitions(self) -> list[AirbyteConnectorDefinition]:
        body = self._read("source_definitions/list", {})
        return [_parse_definition(d, "source") for d in body.get("sourceDefinitions") or []]

    def list_destination_definitions(self) -> list[AirbyteConnectorDefinition]:
        body = self._read("destination_definitions/list", {})
        return [
            _parse_definition(d, "destination") for d in body.get("destinationDefinitions") or []
        ]


def _parse_definition(payload: Mapping[str, Any], kind: str) -> AirbyteConnectorDefinition:
    return AirbyteConnectorDefinition(
        definition_id=payload[f"{kind}DefinitionId"],
        name=payload.get("name", ""),
        docker_repository=payload.get("dockerRepository"),
        docker_image_tag=payload.get("dockerImageTag"),
    )


def iso_utc(value: datetime) -> str:
    """UTC with a real ``Z``: a naive datetime is taken as UTC, an aware one converted."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
