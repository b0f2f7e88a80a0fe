"""The Config API dialect: RPC over ``POST {base}/<resource>/<verb>`` with JSON bodies.

Payload shapes follow ``config-api.yaml`` (``ConnectionRead``, ``JobInfoRead``,
``JobWithAttemptsRead``, ``SourceRead``...) and what the server does where the file is silent
(``/work/shared/airbyte-api/REAL-BEHAVIOUR.md``). Timestamps are epoch seconds. Read calls
(``*/get``, ``*/list``) are idempotent and retried; writes are not.

Jobs are read from ``jobs/get_without_logs``, never ``jobs/get``: the latter reads every
attempt's log from the log store (up to a million lines each) and carries no job-level stats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dagster_airbyte_assets.client._dialect import ConnectionDraft, JobQuery, StartConflict
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
    AirbyteSyncProgress,
    AirbyteWorkspaceInfo,
    ApiDialect,
    normalise_namespace_definition,
)
from dagster_airbyte_assets.client._wire import (
    destination_fields,
    expect_list,
    expect_mapping,
    iso_utc,
    parse_datetime,
    reading,
    tag_names,
)
from dagster_airbyte_assets.errors import (
    AirbyteConflictError,
    AirbyteDiscoverError,
    AirbyteNotFoundError,
    AirbyteServerError,
)

__all__ = [
    "ConfigApi",
    "parse_config_connection",
    "parse_config_job",
    "parse_config_schedule",
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
# Public API job type -> Config API ``JobConfigType``.
_CONFIG_TYPES = {
    "sync": "sync",
    "reset": "reset_connection",
    "refresh": "refresh",
    "clear": "clear",
}
_JOB_TYPES = {config: public for public, config in _CONFIG_TYPES.items()}
# Job types every Config API knows: ``refresh`` arrived in v0.58.0 and ``clear`` in v0.60.0, and
# an older server fails to deserialise a jobs/list naming them (REAL-BEHAVIOUR §1.6).
_SAFE_CONFIG_TYPES = ("sync", "reset_connection")
_PAGE_SIZE = 100


def _slug(name: str) -> str:
    text = name.strip().lower()
    text = text.removeprefix("destination-").removeprefix("airbyte/destination-")
    return "-".join(text.split())


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


def _selected_fields(config: Mapping[str, Any]) -> list[str] | None:
    if not config.get("fieldSelectionEnabled"):
        return None
    names = []
    for item in config.get("selectedFields") or []:
        path = item.get("fieldPath") if isinstance(item, Mapping) else None
        if isinstance(path, list) and path and isinstance(path[0], str):
            names.append(path[0])
    return list(dict.fromkeys(names))


def parse_config_stream(item: Mapping[str, Any]) -> AirbyteStream:
    stream = expect_mapping(item.get("stream"), "AirbyteStream")
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
        selected_fields=_selected_fields(config),
    )


def stream_to_config(stream: AirbyteStream) -> dict[str, Any]:
    """An ``AirbyteStreamAndConfiguration`` for connections/create and update."""
    body: dict[str, Any] = {"name": stream.name}
    if stream.namespace is not None:
        body["namespace"] = stream.namespace
    if stream.json_schema is not None:
        body["jsonSchema"] = stream.json_schema
    config: dict[str, Any] = {
        "syncMode": stream.sync_mode or "full_refresh",
        "destinationSyncMode": stream.destination_sync_mode or "overwrite",
        "cursorField": stream.cursor_field,
        "primaryKey": stream.primary_key,
        "selected": stream.selected,
    }
    if stream.selected_fields is not None:
        config["fieldSelectionEnabled"] = True
        config["selectedFields"] = [{"fieldPath": [name]} for name in stream.selected_fields]
    return {"stream": body, "config": config}


def parse_config_connection(payload: Mapping[str, Any]) -> AirbyteConnection:
    payload = expect_mapping(payload, "ConnectionRead")
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
        tags=tag_names(payload.get("tags")),
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


def _int_or_none(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) else int(value)


def _stream_stats(item: Mapping[str, Any], stats: Mapping[str, Any]) -> AirbyteStreamStats:
    return AirbyteStreamStats(
        stream_name=item["streamName"],
        stream_namespace=item.get("streamNamespace") or None,
        records_emitted=_int_or_none(stats.get("recordsEmitted")),
        records_committed=_int_or_none(stats.get("recordsCommitted")),
        bytes_emitted=_int_or_none(stats.get("bytesEmitted")),
        bytes_committed=_int_or_none(stats.get("bytesCommitted")),
    )


def _parse_attempt(raw: Mapping[str, Any]) -> AirbyteAttempt:
    # JobInfoRead wraps each attempt ({attempt, logs}); JobWithAttemptsRead does not.
    attempt = expect_mapping(raw.get("attempt", raw), "AttemptRead")
    totals = attempt.get("totalStats") or {}
    summary = attempt.get("failureSummary")
    partial = summary.get("partialSuccess") if isinstance(summary, Mapping) else None
    return AirbyteAttempt(
        attempt_number=int(attempt.get("id", 0)),
        status=str(attempt.get("status", "")),
        created_at=parse_datetime(attempt.get("createdAt")),
        ended_at=parse_datetime(attempt.get("endedAt")),
        records_synced=_int_or_none(attempt.get("recordsSynced", totals.get("recordsCommitted"))),
        bytes_synced=_int_or_none(attempt.get("bytesSynced", totals.get("bytesCommitted"))),
        records_emitted=_int_or_none(totals.get("recordsEmitted")),
        failure_reason=_failure_reason(summary),
        partial_success=bool(partial) if partial is not None else None,
        # AttemptRead.streamStats: [{streamName, streamNamespace?, stats: AttemptStats}]
        stream_stats=[
            _stream_stats(s, s.get("stats") or {})
            for s in attempt.get("streamStats") or []
            if isinstance(s, Mapping)
        ],
    )


def parse_config_job(payload: Mapping[str, Any]) -> AirbyteJob:
    """``JobInfoRead`` / ``JobWithAttemptsRead`` / ``JobInfoLightRead`` / ``JobRead``."""
    payload = expect_mapping(payload, "JobInfoRead")
    job = expect_mapping(payload.get("job", payload), "JobRead")
    attempts = [_parse_attempt(a) for a in payload.get("attempts") or []]
    stats = job.get("aggregatedStats") or {}
    # Job-level stream numbers exist only where the server hydrated them (jobs/list,
    # jobs/get_without_logs on most versions); never on jobs/get (REAL-BEHAVIOUR §1.1).
    stream_stats = [_stream_stats(s, s) for s in job.get("streamAggregatedStats") or []]
    enabled = job.get("enabledStreams")
    failure = next((a.failure_reason for a in reversed(attempts) if a.failure_reason), None)
    created = parse_datetime(job.get("createdAt")) or datetime.now(UTC)
    rows = _int_or_none(stats.get("recordsCommitted"))
    byts = _int_or_none(stats.get("bytesCommitted"))
    emitted = _int_or_none(stats.get("recordsEmitted"))
    if rows is None and attempts:
        rows = attempts[-1].records_synced
    if byts is None and attempts:
        byts = attempts[-1].bytes_synced
    if emitted is None and attempts:
        emitted = attempts[-1].records_emitted
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
        records_emitted=emitted,
        stream_stats=stream_stats,
        stats_source="job" if stream_stats else None,
        failure_reason=failure,
        enabled_streams=(
            [(str(s["name"]), s.get("namespace") or None) for s in enabled]
            if isinstance(enabled, list)
            else None
        ),
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


def _parse_definition(payload: Mapping[str, Any], kind: str) -> AirbyteConnectorDefinition:
    return AirbyteConnectorDefinition(
        definition_id=payload[f"{kind}DefinitionId"],
        name=payload.get("name", ""),
        docker_repository=payload.get("dockerRepository"),
        docker_image_tag=payload.get("dockerImageTag"),
    )


def _parse_progress(connection_id: str, payload: Any) -> AirbyteSyncProgress:
    if isinstance(payload, list):
        # v0.58-v0.60: a list of per-stream items (recordsExtracted/recordsLoaded).
        items = [expect_mapping(i, "StreamSyncProgressReadItem") for i in payload]
        job_ids = {_int_or_none(i.get("jobId")) for i in items} - {None}
        return AirbyteSyncProgress(
            connection_id=connection_id,
            job_id=job_ids.pop() if len(job_ids) == 1 else None,
            records_emitted=sum(int(i.get("recordsExtracted") or 0) for i in items) or None,
            records_committed=sum(int(i.get("recordsLoaded") or 0) for i in items) or None,
        )
    payload = expect_mapping(payload, "ConnectionSyncProgressRead")
    expect_list(payload, "streams", "ConnectionSyncProgressRead")
    return AirbyteSyncProgress(
        connection_id=str(payload.get("connectionId") or connection_id),
        job_id=_int_or_none(payload.get("jobId")),
        config_type=payload.get("configType"),
        records_emitted=_int_or_none(payload.get("recordsEmitted")),
        records_committed=_int_or_none(payload.get("recordsCommitted")),
        bytes_emitted=_int_or_none(payload.get("bytesEmitted")),
        bytes_committed=_int_or_none(payload.get("bytesCommitted")),
    )


class ConfigApi:
    """Every operation the client needs, in the Config API's words (``AirbyteDialect``)."""

    name: ApiDialect = "config"

    def __init__(self, http: HttpCore, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def _call(self, path: str, body: Any, *, idempotent: bool, **kw: Any) -> Any:
        url = f"{self.base_url}/{path}"
        return self.http.call("POST", url, json=body, idempotent=idempotent, **kw)

    def _read(self, path: str, body: Any, **kw: Any) -> Any:
        return self._call(path, body, idempotent=True, **kw)

    def _parse(self, path: str, what: str) -> Any:
        return reading(what, "POST", f"{self.base_url}/{path}")

    # -- workspaces -------------------------------------------------------------------------
    def list_workspaces(self) -> list[AirbyteWorkspaceInfo]:
        body = self._read("workspaces/list", {})
        with self._parse("workspaces/list", "WorkspaceReadList"):
            return [
                AirbyteWorkspaceInfo(workspace_id=w["workspaceId"], name=w.get("name", ""))
                for w in expect_list(body, "workspaces", "WorkspaceReadList")
            ]

    def get_workspace(self, workspace_id: str) -> AirbyteWorkspaceInfo:
        w = self._read(
            "workspaces/get",
            {"workspaceId": workspace_id},
            resource_id=workspace_id,
            resource_kind="workspace",
        )
        with self._parse("workspaces/get", "WorkspaceRead"):
            return AirbyteWorkspaceInfo(workspace_id=w["workspaceId"], name=w.get("name", ""))

    # -- sources / destinations -------------------------------------------------------------
    def _actor_pages(self, kind: str, workspace_id: str, id_key: str) -> list[Mapping[str, Any]]:
        """Every source or destination: from v1.8.0 these lists come in cursor pages of 20
        (REAL-BEHAVIOUR §3.13); the answer's ``num_connections`` is the total, and the next
        page starts after the last id. Older servers answer everything at once."""
        path, what = f"{kind}/list", f"{kind[:-1].title()}ReadList"
        items: list[Mapping[str, Any]] = []
        body: dict[str, Any] = {"workspaceId": workspace_id}
        while True:
            page = self._read(path, body, resource_id=workspace_id, resource_kind="workspace")
            with self._parse(path, what):
                chunk = expect_list(page, kind, what)
                items.extend(chunk)
                total = page.get("num_connections")
                if not chunk or not isinstance(total, int) or len(items) >= total:
                    return items
                body = {
                    "workspaceId": workspace_id,
                    "cursor": str(chunk[-1][id_key]),
                    "pageSize": page.get("page_size") or len(chunk),
                }

    def list_sources(self, workspace_id: str) -> list[AirbyteSource]:
        items = self._actor_pages("sources", workspace_id, "sourceId")
        with self._parse("sources/list", "SourceReadList"):
            return [parse_config_source(s) for s in items]

    def get_source(self, source_id: str) -> AirbyteSource:
        body = self._read(
            "sources/get",
            {"sourceId": source_id},
            resource_id=source_id,
            resource_kind="source",
        )
        with self._parse("sources/get", "SourceRead"):
            return parse_config_source(body)

    def list_destinations(self, workspace_id: str) -> list[AirbyteDestination]:
        items = self._actor_pages("destinations", workspace_id, "destinationId")
        with self._parse("destinations/list", "DestinationReadList"):
            return [parse_config_destination(d) for d in items]

    def get_destination(self, destination_id: str) -> AirbyteDestination:
        body = self._read(
            "destinations/get",
            {"destinationId": destination_id},
            resource_id=destination_id,
            resource_kind="destination",
        )
        with self._parse("destinations/get", "DestinationRead"):
            return parse_config_destination(body)

    # -- connections ------------------------------------------------------------------------
    def list_connections(self, workspace_id: str) -> list[AirbyteConnection]:
        body = self._read(
            "connections/list",
            {"workspaceId": workspace_id},
            resource_id=workspace_id,
            resource_kind="workspace",
        )
        with self._parse("connections/list", "ConnectionReadList"):
            items = expect_list(body, "connections", "ConnectionReadList")
            return [parse_config_connection(c) for c in items]

    def get_connection(self, connection_id: str) -> AirbyteConnection:
        body = self._read(
            "connections/get",
            {"connectionId": connection_id},
            resource_id=connection_id,
            resource_kind="connection",
        )
        with self._parse("connections/get", "ConnectionRead"):
            return parse_config_connection(body)

    def create_connection(self, draft: ConnectionDraft) -> AirbyteConnection:
        body: dict[str, Any] = {
            "sourceId": draft.source_id,
            "destinationId": draft.destination_id,
            "status": draft.status,
            "namespaceDefinition": draft.namespace_definition,
            "prefix": draft.prefix,
            "syncCatalog": {"streams": [stream_to_config(s) for s in draft.streams]},
            **schedule_to_config(draft.schedule),
        }
        if draft.name:
            body["name"] = draft.name
        if draft.namespace_format is not None:
            body["namespaceFormat"] = draft.namespace_format
        result = self._call("connections/create", body, idempotent=False)
        with self._parse("connections/create", "ConnectionRead"):
            return parse_config_connection(result)

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
            "connections/update",
            body,
            resource_id=connection_id,
            resource_kind="connection",
        )
        with self._parse("connections/update", "ConnectionRead"):
            return parse_config_connection(result)

    # -- jobs -------------------------------------------------------------------------------
    def start_job(self, connection_id: str, job_type: str) -> AirbyteJob:
        path = {"sync": "connections/sync", "reset": "connections/reset"}.get(
            job_type, f"connections/{job_type}"
        )
        # Never replayed after sending: the caller resolves ambiguity by looking for the job.
        body = self._call(
            path,
            {"connectionId": connection_id},
            idempotent=False,
            resource_id=connection_id,
            resource_kind="connection",
        )
        with self._parse(path, "JobInfoRead"):
            return parse_config_job(body)

    def start_refresh(
        self, connection_id: str, refresh_mode: str, streams: Sequence[str] | None = None
    ) -> AirbyteJob | None:
        """``connections/refresh`` (v0.58+; ``refreshMode`` required from v0.60): the job, or
        ``None`` where the answer is ``BooleanRead`` (before v1.2) and the job must be looked up.

        Also ``None`` when Airbyte decided not to refresh: ``StreamRefreshesHandler.kt@v1.6.0``
        ~51-54 returns no job when the destination does not support refreshes.
        """
        body: dict[str, Any] = {"connectionId": connection_id, "refreshMode": refresh_mode}
        if streams:
            body["streams"] = [{"streamName": name} for name in streams]
        answer = self._call(
            "connections/refresh",
            body,
            idempotent=False,
            resource_id=connection_id,
            resource_kind="connection",
        )
        if not isinstance(answer, Mapping) or not isinstance(answer.get("job"), Mapping):
            return None
        with self._parse("connections/refresh", "JobReadResponse"):
            return parse_config_job(answer)

    def start_conflict(self, error: AirbyteConflictError) -> StartConflict:
        # The Config API answers 409 only for "a job is already running" (ValueConflict-
        # KnownException, REAL-BEHAVIOUR §2.8); an inactive connection is a 500 (§2.9).
        return StartConflict.RUNNING

    def get_job(self, job_id: int) -> AirbyteJob:
        """The job without its logs; job-level stats hydrated where the server does it."""
        try:
            body = self._read(
                "jobs/get_without_logs",
                {"id": job_id},
                resource_id=str(job_id),
                resource_kind="job",
            )
        except AirbyteServerError as exc:
            # An unknown job id is a 500 (DefaultJobPersistence.getJob throws a bare
            # RuntimeException); releases before 2.0 still say so in the message.
            if "Could not find job with id" in (exc.message or ""):
                raise AirbyteNotFoundError(
                    f"Airbyte has no job {job_id}",
                    resource_id=str(job_id),
                    status_code=exc.status_code,
                    message=exc.message,
                    method=exc.method,
                    url=exc.url,
                ) from exc
            raise
        with self._parse("jobs/get_without_logs", "JobInfoRead"):
            return parse_config_job(body)

    def get_job_from_list(self, connection_id: str, job_id: int) -> AirbyteJob | None:
        """The job as ``jobs/list`` hydrates it (attempt stats on every version since 0.50).

        ``includingJobId`` lists the connection's newest jobs down to this one.
        """
        body = self._read(
            "jobs/list",
            {
                "configTypes": ["sync"],
                "configId": connection_id,
                "includingJobId": job_id,
                "pagination": {"pageSize": 1, "rowOffset": 0},
            },
        )
        with self._parse("jobs/list", "JobReadList"):
            jobs = [parse_config_job(j) for j in expect_list(body, "jobs", "JobReadList")]
        return next((job for job in jobs if job.job_id == job_id), None)

    def cancel_job(self, job_id: int) -> AirbyteJob:
        body = self._call(
            "jobs/cancel",
            {"id": job_id},
            idempotent=False,
            resource_id=str(job_id),
            resource_kind="job",
        )
        with self._parse("jobs/cancel", "JobInfoRead"):
            return parse_config_job(body)

    def list_jobs(self, query: JobQuery) -> list[AirbyteJob]:
        if query.job_types is None:
            config_types: Sequence[str] = _SAFE_CONFIG_TYPES
        else:
            config_types = [_CONFIG_TYPES.get(t, t) for t in query.job_types]
        body: dict[str, Any] = {"configTypes": list(config_types)}
        if query.connection_id:
            body["configId"] = query.connection_id
        if query.status:
            body["statuses"] = [query.status]
        if query.created_at_start:
            body["createdAtStart"] = iso_utc(query.created_at_start)
        if query.updated_at_start:
            body["updatedAtStart"] = iso_utc(query.updated_at_start)
        field, _, method = query.order_by.partition("|")
        if field:
            body["orderByField"] = field
            body["orderByMethod"] = (method or "ASC").upper()
        jobs: list[AirbyteJob] = []
        offset = 0
        limit = query.limit
        while True:
            size = _PAGE_SIZE if limit is None else min(_PAGE_SIZE, limit - len(jobs))
            page_body = {**body, "pagination": {"pageSize": size, "rowOffset": offset}}
            page = self._read("jobs/list", page_body)
            with self._parse("jobs/list", "JobReadList"):
                items = expect_list(page, "jobs", "JobReadList")
                jobs.extend(parse_config_job(j) for j in items)
            offset += len(items)
            if len(items) < size or (limit is not None and len(jobs) >= limit):
                return jobs

    def sync_progress(self, connection_id: str) -> AirbyteSyncProgress:
        """``connections/sync_progress`` (from v0.50.33): the running job's numbers so far."""
        body = self._read(
            "connections/sync_progress",
            {"connectionId": connection_id},
            resource_id=connection_id,
            resource_kind="connection",
        )
        with self._parse("connections/sync_progress", "ConnectionSyncProgressRead"):
            return _parse_progress(connection_id, body)

    # -- management -------------------------------------------------------------------------
    def create_source(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteSource:
        body = self._call(
            "sources/create",
            {
                "workspaceId": workspace_id,
                "name": name,
                "sourceDefinitionId": definition_id,
                "connectionConfiguration": configuration,
            },
            idempotent=False,
        )
        with self._parse("sources/create", "SourceRead"):
            return parse_config_source(body)

    def create_destination(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteDestination:
        body = self._call(
            "destinations/create",
            {
                "workspaceId": workspace_id,
                "name": name,
                "destinationDefinitionId": definition_id,
                "connectionConfiguration": configuration,
            },
            idempotent=False,
        )
        with self._parse("destinations/create", "DestinationRead"):
            return parse_config_destination(body)

    def check_source(self, source_id: str) -> AirbyteCheckResult:
        body = self._read(
            "sources/check_connection",
            {"sourceId": source_id},
            resource_id=source_id,
            resource_kind="source",
        )
        with self._parse("sources/check_connection", "CheckConnectionRead"):
            return _parse_check(body)

    def check_destination(self, destination_id: str) -> AirbyteCheckResult:
        body = self._read(
            "destinations/check_connection",
            {"destinationId": destination_id},
            resource_id=destination_id,
            resource_kind="destination",
        )
        with self._parse("destinations/check_connection", "CheckConnectionRead"):
            return _parse_check(body)

    def discover_source_schema(self, source_id: str) -> list[AirbyteStream]:
        """The source's schema now; a failed discovery is an error, never an empty catalog.

        Airbyte answers a failed discovery with HTTP 200, no ``catalog`` and
        ``jobInfo.succeeded = false`` plus a failure reason (REAL-BEHAVIOUR §4.18).
        """
        body = self._read(
            "sources/discover_schema",
            {"sourceId": source_id, "disable_cache": True},
            resource_id=source_id,
            resource_kind="source",
        )
        with self._parse("sources/discover_schema", "SourceDiscoverSchemaRead"):
            body = expect_mapping(body, "SourceDiscoverSchemaRead")
            catalog = body.get("catalog")
            if not isinstance(catalog, Mapping):
                job_info = body.get("jobInfo") or {}
                reason = job_info.get("failureReason") if isinstance(job_info, Mapping) else None
                text = None
                if isinstance(reason, Mapping):
                    text = reason.get("externalMessage") or reason.get("internalMessage")
                raise AirbyteDiscoverError(
                    f"Airbyte could not discover the schema of source {source_id}: "
                    f"{text or 'it answered without a catalog'}",
                    resource_id=source_id,
                    message=str(text) if text else None,
                )
            return [parse_config_stream(item) for item in catalog.get("streams") or []]

    def list_source_definitions(self) -> list[AirbyteConnectorDefinition]:
        body = self._read("source_definitions/list", {})
        with self._parse("source_definitions/list", "SourceDefinitionReadList"):
            items = expect_list(body, "sourceDefinitions", "SourceDefinitionReadList")
            return [_parse_definition(d, "source") for d in items]

    def list_destination_definitions(self) -> list[AirbyteConnectorDefinition]:
        body = self._read("destination_definitions/list", {})
        with self._parse("destination_definitions/list", "DestinationDefinitionReadList"):
            items = expect_list(body, "destinationDefinitions", "DestinationDefinitionReadList")
            return [_parse_definition(d, "destination") for d in items]
