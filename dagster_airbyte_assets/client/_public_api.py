"""The Public API dialect: REST under ``{base}`` (``/api/public/v1`` or ``api.airbyte.com/v1``).

Payload shapes follow ``public-api.yaml`` (``ConnectionResponse``, ``JobResponse``...).
Lists are paged with ``limit``/``offset`` on the configured base URL; the ``next`` link is
never followed, because its host is whatever the server believes it is called (behind a
proxy or port-forward, that is the wrong host). Ids in paths are path-encoded.

A ``JobResponse`` has no attempts, no failure reason and no per-stream numbers
(REAL-BEHAVIOUR §1.4): jobs read here say so (``attempts_known=False``, no stream stats).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dagster_airbyte_assets.client._dialect import ConnectionDraft, JobQuery, StartConflict
from dagster_airbyte_assets.client._http import HttpCore
from dagster_airbyte_assets.client._models import (
    AirbyteConnection,
    AirbyteDestination,
    AirbyteJob,
    AirbyteSchedule,
    AirbyteSource,
    AirbyteStream,
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
    path_segment,
    reading,
    tag_names,
)
from dagster_airbyte_assets.errors import AirbyteConflictError, AirbyteNotFoundError

__all__ = [
    "PublicApi",
    "parse_public_connection",
    "parse_public_job",
    "parse_public_schedule",
    "public_can_schedule",
    "split_sync_mode",
]

PAGE_SIZE = 100
# Page sizes of successive passes over an unordered listing (see PublicApi._unordered).
_PASS_PAGE_SIZES = (100, 97, 89, 83, 79)

# ConnectionSyncModeEnum folds (syncMode, destinationSyncMode) into one word.
_SYNC_MODES: dict[str, tuple[str, str]] = {
    "full_refresh_overwrite": ("full_refresh", "overwrite"),
    "full_refresh_overwrite_deduped": ("full_refresh", "overwrite_dedup"),
    "full_refresh_append": ("full_refresh", "append"),
    "full_refresh_update": ("full_refresh", "update"),
    "full_refresh_soft_delete": ("full_refresh", "soft_delete"),
    "incremental_append": ("incremental", "append"),
    "incremental_deduped_history": ("incremental", "append_dedup"),
    "incremental_update": ("incremental", "update"),
    "incremental_soft_delete": ("incremental", "soft_delete"),
}
_SYNC_MODE_WORDS = {pair: word for word, pair in _SYNC_MODES.items()}
_BASIC_TIMING = re.compile(r"^\s*every\s+(\d+)\s+([a-z]+)\s*$", re.IGNORECASE)


def split_sync_mode(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    if value in _SYNC_MODES:
        return _SYNC_MODES[value]
    if value.startswith("incremental"):
        return "incremental", None
    if value.startswith("full_refresh"):
        return "full_refresh", None
    return None, None


def join_sync_mode(stream: AirbyteStream) -> str | None:
    if stream.sync_mode is None:
        return None
    pair = (stream.sync_mode, stream.destination_sync_mode or "overwrite")
    return _SYNC_MODE_WORDS.get(pair)


def parse_public_schedule(payload: Mapping[str, Any] | None) -> AirbyteSchedule:
    """``{scheduleType, cronExpression: "expr TZ", basicTiming: "Every 24 HOURS"}``."""
    if not isinstance(payload, Mapping):
        return AirbyteSchedule()
    kind = payload.get("scheduleType") or "manual"
    if kind == "cron" and payload.get("cronExpression"):
        tokens = str(payload["cronExpression"]).split()
        zone = None
        # Quartz has 6 or 7 fields, none with letters in the year; a trailing word is the zone.
        if len(tokens) >= 7 and re.search(r"[A-Za-z]", tokens[-1]):
            zone = tokens.pop()
        return AirbyteSchedule(
            schedule_type="cron", cron_expression=" ".join(tokens), cron_time_zone=zone
        )
    if kind == "basic":
        match = _BASIC_TIMING.match(str(payload.get("basicTiming") or ""))
        if match:
            return AirbyteSchedule(
                schedule_type="basic",
                basic_units=int(match.group(1)),
                basic_time_unit=match.group(2).lower(),
            )
        return AirbyteSchedule(schedule_type="basic")
    if kind == "cron":
        return AirbyteSchedule(schedule_type="cron")
    return AirbyteSchedule()


def public_can_schedule(schedule: AirbyteSchedule) -> bool:
    """The Public API sets manual schedules and Quartz crons in UTC only.

    Its mappers store every cron with ``cronTimeZone = "UTC"`` and strip a trailing ``UTC``
    from the expression; any other zone word fails Quartz validation (400), and there is no
    ``basic`` schedule (``ConnectionCreateMapper.kt`` ~52-58, ``AirbyteCatalogHelper.kt``
    ``normalizeCronExpression``).
    """
    if schedule.schedule_type == "basic":
        return False
    return schedule.schedule_type != "cron" or schedule.cron_time_zone in (None, "", "UTC")


def schedule_to_public(schedule: AirbyteSchedule) -> dict[str, Any]:
    if schedule.schedule_type == "cron":
        return {"scheduleType": "cron", "cronExpression": schedule.cron_expression or ""}
    return {"scheduleType": "manual"}


def _selected_fields(item: Mapping[str, Any]) -> list[str] | None:
    fields = item.get("selectedFields")
    if not isinstance(fields, list) or not fields:
        return None
    names = []
    for field in fields:
        path = field.get("fieldPath") if isinstance(field, Mapping) else None
        if isinstance(path, list) and path and isinstance(path[0], str):
            names.append(path[0])
    return list(dict.fromkeys(names)) or None


def parse_public_stream(item: Mapping[str, Any]) -> AirbyteStream:
    item = expect_mapping(item, "StreamConfiguration")
    sync_mode, destination_sync_mode = split_sync_mode(item.get("syncMode"))
    return AirbyteStream(
        name=item["name"],
        namespace=item.get("namespace"),
        json_schema=None,
        selected=True,  # the Public API lists only the streams that are synced
        sync_mode=sync_mode,
        destination_sync_mode=destination_sync_mode,
        cursor_field=list(item.get("cursorField") or []),
        primary_key=[list(p) for p in item.get("primaryKey") or []],
        selected_fields=_selected_fields(item),
    )


def stream_to_public(stream: AirbyteStream) -> dict[str, Any]:
    body: dict[str, Any] = {"name": stream.name}
    if stream.namespace is not None:
        body["namespace"] = stream.namespace
    mode = join_sync_mode(stream)
    if mode:
        body["syncMode"] = mode
    if stream.cursor_field:
        body["cursorField"] = stream.cursor_field
    if stream.primary_key:
        body["primaryKey"] = stream.primary_key
    if stream.selected_fields is not None:
        body["selectedFields"] = [{"fieldPath": [name]} for name in stream.selected_fields]
    return body


def parse_public_connection(payload: Mapping[str, Any]) -> AirbyteConnection:
    payload = expect_mapping(payload, "ConnectionResponse")
    configurations = payload.get("configurations") or {}
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
        schedule=parse_public_schedule(payload.get("schedule")),
        streams=[parse_public_stream(s) for s in configurations.get("streams") or []],
        has_json_schemas=False,
        tags=tag_names(payload.get("tags")),
    )


def parse_public_job(payload: Mapping[str, Any]) -> AirbyteJob:
    payload = expect_mapping(payload, "JobResponse")
    created = parse_datetime(payload.get("startTime"))
    if created is None:
        raise ValueError("JobResponse without startTime")
    rows, byts = payload.get("rowsSynced"), payload.get("bytesSynced")
    return AirbyteJob(
        job_id=int(payload["jobId"]),
        status=str(payload["status"]),
        job_type=str(payload.get("jobType", "sync")),
        connection_id=str(payload.get("connectionId", "")),
        created_at=created,
        updated_at=parse_datetime(payload.get("lastUpdatedAt")),
        rows_synced=int(rows) if rows is not None else None,
        bytes_synced=int(byts) if byts is not None else None,
        attempts_known=False,
    )


def parse_public_source(payload: Mapping[str, Any]) -> AirbyteSource:
    return AirbyteSource(
        source_id=payload["sourceId"],
        name=payload.get("name", ""),
        source_type=payload.get("sourceType") or payload.get("definitionId", ""),
        workspace_id=payload.get("workspaceId", ""),
    )


def parse_public_destination(payload: Mapping[str, Any]) -> AirbyteDestination:
    return AirbyteDestination(
        destination_id=payload["destinationId"],
        name=payload.get("name", ""),
        destination_type=payload.get("destinationType") or "",
        workspace_id=payload.get("workspaceId", ""),
        **destination_fields(payload.get("configuration")),
    )


class PublicApi:
    """Every operation the Public API can do for the client (``AirbyteDialect``)."""

    name: ApiDialect = "public"

    def __init__(self, http: HttpCore, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def _url(self, *parts: str | int) -> str:
        return "/".join([self.base_url, str(parts[0]), *(path_segment(p) for p in parts[1:])])

    def _get(self, url: str, params: Any = None, **kw: Any) -> Any:
        return self.http.call("GET", url, params=params, idempotent=True, **kw)

    def _pages(
        self, path: str, params: dict[str, Any], what: str, limit: int | None = None
    ) -> list[Mapping[str, Any]]:
        """All items, by offset on the configured host, until a short or empty page."""
        items: list[Mapping[str, Any]] = []
        offset = 0
        url = self._url(path)
        while True:
            size = PAGE_SIZE if limit is None else max(1, min(PAGE_SIZE, limit - len(items)))
            body = self._get(url, {**params, "limit": size, "offset": offset})
            with reading(what, "GET", url):
                page = expect_list(body, "data", what)
                items.extend(expect_mapping(item, what) for item in page)
            offset += len(page)
            if len(page) < size or (limit is not None and len(items) >= limit):
                return items

    def _unordered(
        self, path: str, params: dict[str, Any], what: str, id_key: str
    ) -> list[Mapping[str, Any]]:
        """Every item of a listing whose pages have no stable order.

        Airbyte reads these with LIMIT/OFFSET and no ORDER BY, and the database's plan (so the
        order) depends on LIMIT and OFFSET: pages of one pass can overlap and skip rows
        (REAL-BEHAVIOUR §3.12, dagster issue 32443). One short page is complete; otherwise
        passes with other page sizes are read until one adds nothing new.
        """
        found: dict[str, Mapping[str, Any]] = {}
        for size in _PASS_PAGE_SIZES:
            before = len(found)
            pages = 0
            offset = 0
            url = self._url(path)
            while True:
                body = self._get(url, {**params, "limit": size, "offset": offset})
                pages += 1
                with reading(what, "GET", url):
                    page = [expect_mapping(i, what) for i in expect_list(body, "data", what)]
                    for item in page:
                        found.setdefault(str(item[id_key]), item)
                offset += len(page)
                if len(page) < size:
                    break
            if pages == 1 or (size != _PASS_PAGE_SIZES[0] and len(found) == before):
                break
        return list(found.values())

    # -- workspaces / sources / destinations ------------------------------------------------
    def list_workspaces(self) -> list[AirbyteWorkspaceInfo]:
        items = self._unordered("workspaces", {}, "WorkspacesResponse", "workspaceId")
        with reading("WorkspacesResponse", "GET", self._url("workspaces")):
            return [
                AirbyteWorkspaceInfo(workspace_id=w["workspaceId"], name=w.get("name", ""))
                for w in items
            ]

    def get_workspace(self, workspace_id: str) -> AirbyteWorkspaceInfo:
        url = self._url("workspaces", workspace_id)
        w = self._get(url, resource_id=workspace_id, resource_kind="workspace")
        with reading("WorkspaceResponse", "GET", url):
            return AirbyteWorkspaceInfo(workspace_id=w["workspaceId"], name=w.get("name", ""))

    def list_sources(self, workspace_id: str) -> list[AirbyteSource]:
        items = self._unordered(
            "sources", {"workspaceIds": workspace_id}, "SourcesResponse", "sourceId"
        )
        with reading("SourcesResponse", "GET", self._url("sources")):
            return [parse_public_source(s) for s in items]

    def get_source(self, source_id: str) -> AirbyteSource:
        url = self._url("sources", source_id)
        body = self._get(url, resource_id=source_id, resource_kind="source")
        with reading("SourceResponse", "GET", url):
            return parse_public_source(body)

    def list_destinations(self, workspace_id: str) -> list[AirbyteDestination]:
        items = self._unordered(
            "destinations", {"workspaceIds": workspace_id}, "DestinationsResponse", "destinationId"
        )
        with reading("DestinationsResponse", "GET", self._url("destinations")):
            return [parse_public_destination(d) for d in items]

    def get_destination(self, destination_id: str) -> AirbyteDestination:
        url = self._url("destinations", destination_id)
        body = self._get(url, resource_id=destination_id, resource_kind="destination")
        with reading("DestinationResponse", "GET", url):
            return parse_public_destination(body)

    # -- connections ------------------------------------------------------------------------
    def list_connections(self, workspace_id: str) -> list[AirbyteConnection]:
        items = self._unordered(
            "connections", {"workspaceIds": workspace_id}, "ConnectionsResponse", "connectionId"
        )
        with reading("ConnectionsResponse", "GET", self._url("connections")):
            return [parse_public_connection(c) for c in items]

    def get_connection(self, connection_id: str) -> AirbyteConnection:
        url = self._url("connections", connection_id)
        body = self._get(url, resource_id=connection_id, resource_kind="connection")
        with reading("ConnectionResponse", "GET", url):
            return parse_public_connection(body)

    def create_connection(self, draft: ConnectionDraft) -> AirbyteConnection:
        body: dict[str, Any] = {
            "sourceId": draft.source_id,
            "destinationId": draft.destination_id,
            "status": draft.status,
            "namespaceDefinition": (
                "custom_format"
                if draft.namespace_definition == "customformat"
                else draft.namespace_definition
            ),
            "prefix": draft.prefix,
            "configurations": {
                "streams": [stream_to_public(s) for s in draft.streams if s.selected]
            },
            "schedule": schedule_to_public(draft.schedule),
        }
        if draft.name:
            body["name"] = draft.name
        if draft.namespace_format is not None:
            body["namespaceFormat"] = draft.namespace_format
        url = self._url("connections")
        result = self.http.call("POST", url, json=body, idempotent=False)
        with reading("ConnectionResponse", "POST", url):
            return parse_public_connection(result)

    def update_connection(
        self, connection_id: str, *, schedule: AirbyteSchedule | None, status: str | None
    ) -> AirbyteConnection:
        body: dict[str, Any] = {}
        if schedule is not None:
            body["schedule"] = schedule_to_public(schedule)
        if status is not None:
            body["status"] = status
        url = self._url("connections", connection_id)
        result = self.http.call(
            "PATCH",
            url,
            json=body,
            idempotent=True,  # PATCH with absolute values: replaying changes nothing
            resource_id=connection_id,
            resource_kind="connection",
        )
        with reading("ConnectionResponse", "PATCH", url):
            return parse_public_connection(result)

    # -- jobs -------------------------------------------------------------------------------
    def start_job(self, connection_id: str, job_type: str) -> AirbyteJob:
        url = self._url("jobs")
        body = self.http.call(
            "POST",
            url,
            json={"connectionId": connection_id, "jobType": job_type},
            idempotent=False,
            resource_id=connection_id,
            resource_kind="connection",
        )
        with reading("JobResponse", "POST", url):
            return parse_public_job(body)

    def start_conflict(self, error: AirbyteConflictError) -> StartConflict:
        # ConfigClientErrorHandler: ValueConflictKnownException (a job is running) becomes
        # ``try-again-later``; "Can only sync an active connection" (an IllegalStateException)
        # becomes ``state-conflict`` (REAL-BEHAVIOUR §2.8-2.9).
        if error.problem == "state-conflict":
            return StartConflict.NOT_ACTIVE
        return StartConflict.RUNNING

    def get_job(self, job_id: int) -> AirbyteJob:
        url = self._url("jobs", job_id)
        try:
            body = self._get(url, resource_id=str(job_id), resource_kind="job")
        except AirbyteConflictError as exc:
            # An unknown job id is a 409 ``state-conflict`` "Job is not currently running"
            # here (ConfigClientErrorHandler), not a 404; a read has no other conflict.
            raise AirbyteNotFoundError(
                f"Airbyte has no job {job_id}",
                resource_id=str(job_id),
                status_code=exc.status_code,
                message=exc.message,
                method=exc.method,
                url=exc.url,
            ) from exc
        with reading("JobResponse", "GET", url):
            return parse_public_job(body)

    def cancel_job(self, job_id: int) -> AirbyteJob:
        url = self._url("jobs", job_id)
        body = self.http.call(
            "DELETE", url, idempotent=False, resource_id=str(job_id), resource_kind="job"
        )
        with reading("JobResponse", "DELETE", url):
            return parse_public_job(body)

    def list_jobs(self, query: JobQuery) -> list[AirbyteJob]:
        params: dict[str, Any] = {"orderBy": query.order_by}
        if query.workspace_id:
            params["workspaceIds"] = query.workspace_id
        if query.connection_id:
            params["connectionId"] = query.connection_id
        types = list(query.job_types) if query.job_types is not None else None
        if types is not None and len(types) == 1:
            params["jobType"] = types[0]
        # Without ``jobType`` the server lists every type (JobService.getJobConfigTypes).
        if query.status:
            params["status"] = query.status
        if query.created_at_start:
            params["createdAtStart"] = iso_utc(query.created_at_start)
        if query.updated_at_start:
            params["updatedAtStart"] = iso_utc(query.updated_at_start)
        items = self._pages("jobs", params, "JobsResponse", query.limit)
        with reading("JobsResponse", "GET", self._url("jobs")):
            jobs = [parse_public_job(j) for j in items]
        if types is not None and len(types) > 1:
            jobs = [job for job in jobs if job.job_type in types]
        return jobs

    # -- management -------------------------------------------------------------------------
    def create_source(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteSource:
        url = self._url("sources")
        body = self.http.call(
            "POST",
            url,
            json={
                "workspaceId": workspace_id,
                "name": name,
                "definitionId": definition_id,
                "configuration": configuration,
            },
            idempotent=False,
        )
        with reading("SourceResponse", "POST", url):
            return parse_public_source(body)

    def create_destination(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteDestination:
        url = self._url("destinations")
        body = self.http.call(
            "POST",
            url,
            json={
                "workspaceId": workspace_id,
                "name": name,
                "definitionId": definition_id,
                "configuration": configuration,
            },
            idempotent=False,
        )
        with reading("DestinationResponse", "POST", url):
            return parse_public_destination(body)
