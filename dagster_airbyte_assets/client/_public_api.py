"""The Public API dialect: REST under ``{base}`` (``/api/public/v1`` or ``api.airbyte.com/v1``).

Payload shapes follow ``public-api.yaml`` (``ConnectionResponse``, ``JobResponse``...).
Lists are paged with ``limit``/``offset`` on the configured base URL; the ``next`` link is
never followed, because its host is whatever the server believes it is called (behind a
proxy or port-forward, that is the wrong host).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dagster_airbyte_assets.client._config_api import (
    destination_fields,
    iso_utc,
    parse_datetime,
)
from dagster_airbyte_assets.client._http import HttpCore
from dagster_airbyte_assets.client._models import (
    AirbyteConnection,
    AirbyteDestination,
    AirbyteJob,
    AirbyteSchedule,
    AirbyteSource,
    AirbyteStream,
    AirbyteWorkspaceInfo,
    normalise_namespace_definition,
)

__all__ = [
    "PublicApi",
    "parse_public_connection",
    "parse_public_job",
    "parse_public_schedule",
    "split_sync_mode",
]

PAGE_SIZE = 100

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


def schedule_to_public(schedule: AirbyteSchedule) -> dict[str, Any]:
    if schedule.schedule_type == "cron":
        expression = schedule.cron_expression or ""
        if schedule.cron_time_zone:
            expression = f"{expression} {schedule.cron_time_zone}"
        return {"scheduleType": "cron", "cronExpression": expression}
    return {"scheduleType": "manual"}


def parse_public_stream(item: Mapping[str, Any]) -> AirbyteStream:
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
    return body


def parse_public_connection(payload: Mapping[str, Any]) -> AirbyteConnection:
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
    )


def parse_public_job(payload: Mapping[str, Any]) -> AirbyteJob:
    created = parse_datetime(payload.get("startTime"))
    if created is None:
        raise ValueError("JobResponse without startTime")
    return AirbyteJob(
        job_id=int(payload["jobId"]),
        status=str(payload.get("status", "")),
        job_type=str(payload.get("jobType", "sync")),
        connection_id=str(payload.get("connectionId", "")),
        created_at=created,
        updated_at=parse_datetime(payload.get("lastUpdatedAt")),
        rows_synced=payload.get("rowsSynced"),
        bytes_synced=payload.get("bytesSynced"),
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
    """Every operation the Public API can do for the client."""

    def __init__(self, http: HttpCore, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def _get(self, path: str, params: Any = None, **kw: Any) -> Any:
        return self.http.call(
            "GET", f"{self.base_url}/{path}", params=params, idempotent=True, **kw
        )

    def _pages(
        self, path: str, params: dict[str, Any], limit: int | None = None
    ) -> list[dict[str, Any]]:
        """All items, by offset on the configured host, until a short or empty page."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            size = PAGE_SIZE if limit is None else max(1, min(PAGE_SIZE, limit - len(items)))
            body = self._get(path, {**params, "limit": size, "offset": offset})
            page = body.get("data") or [] if isinstance(body, Mapping) else []
            items.extend(page)
            offset += len(page)
            if len(page) < size or (limit is not None and len(items) >= limit):
                return items

    # -- workspaces / sources / destinations ------------------------------------------------
    def list_workspaces(self) -> list[AirbyteWorkspaceInfo]:
        return [
            AirbyteWorkspaceInfo(workspace_id=w["workspaceId"], name=w.get("name", ""))
            for w in self._pages("workspaces", {})
        ]

    def get_workspace(self, workspace_id: str) -> AirbyteWorkspaceInfo:
        w = self._get(
            f"workspaces/{workspace_id}", resource_id=workspace_id, resource_kind="workspace"
        )
        return AirbyteWorkspaceInfo(workspace_id=w["workspaceId"], name=w.get("name", ""))

    def list_sources(self, workspace_id: str) -> list[AirbyteSource]:
        return [
            parse_public_source(s) for s in self._pages("sources", {"workspaceIds": workspace_id})
        ]

    def get_source(self, source_id: str) -> AirbyteSource:
        body = self._get(f"sources/{source_id}", resource_id=source_id, resource_kind="source")
        return parse_public_source(body)

    def list_destinations(self, workspace_id: str) -> list[AirbyteDestination]:
        items = self._pages("destinations", {"workspaceIds": workspace_id})
        return [parse_public_destination(d) for d in items]

    def get_destination(self, destination_id: str) -> AirbyteDestination:
        body = self._get(
            f"destinations/{destination_id}",
            resource_id=destination_id,
            resource_kind="destination",
        )
        return parse_public_destination(body)

    # -- connections ------------------------------------------------------------------------
    def list_connections(self, workspace_id: str) -> list[AirbyteConnection]:
        items = self._pages("connections", {"workspaceIds": workspace_id})
        return [parse_public_connection(c) for c in items]

    def get_connection(self, connection_id: str) -> AirbyteConnection:
        body = self._get(
            f"connections/{connection_id}", resource_id=connection_id, resource_kind="connection"
        )
        return parse_public_connection(body)

    def create_connection(self, body: dict[str, Any]) -> AirbyteConnection:
        result = self.http.call("POST", f"{self.base_url}/connections", json=body, idempotent=False)
        return parse_public_connection(result)

    def update_connection(
        self, connection_id: str, *, schedule: AirbyteSchedule | None, status: str | None
    ) -> AirbyteConnection:
        body: dict[str, Any] = {}
        if schedule is not None:
            body["schedule"] = schedule_to_public(schedule)
        if status is not None:
            body["status"] = status
        result = self.http.call(
            "PATCH",
            f"{self.base_url}/connections/{connection_id}",
            json=body,
            idempotent=True,  # PATCH with absolute values: replaying changes nothing
            resource_id=connection_id,
            resource_kind="connection",
        )
        return parse_public_connection(result)

    # -- jobs -------------------------------------------------------------------------------
    def start_job(self, connection_id: str, job_type: str) -> AirbyteJob:
        body = self.http.call(
            "POST",
            f"{self.base_url}/jobs",
            json={"connectionId": connection_id, "jobType": job_type},
            idempotent=False,
            resource_id=connection_id,
            resource_kind="connection",
        )
        return parse_public_job(body)

    def get_job(self, job_id: int) -> AirbyteJob:
        return parse_public_job(
            self._get(f"jobs/{job_id}", resource_id=str(job_id), resource_kind="job")
        )

    def cancel_job(self, job_id: int) -> AirbyteJob:
        body = self.http.call(
            "DELETE",
            f"{self.base_url}/jobs/{job_id}",
            idempotent=False,
            resource_id=str(job_id),
            resource_kind="job",
        )
        return parse_public_job(body)

    def list_jobs(
        self,
        *,
        workspace_id: str | None,
        connection_id: str | None,
        job_type: str | None,
        status: str | None,
        created_at_start: datetime | None,
        updated_at_start: datetime | None,
        order_by: str,
        limit: int | None,
    ) -> list[AirbyteJob]:
        params: dict[str, Any] = {"orderBy": order_by}
        if workspace_id:
            params["workspaceIds"] = workspace_id
        if connection_id:
            params["connectionId"] = connection_id
        if job_type:
            params["jobType"] = job_type
        if status:
            params["status"] = status
        if created_at_start:
            params["createdAtStart"] = iso_utc(created_at_start)
        if updated_at_start:
            params["updatedAtStart"] = iso_utc(updated_at_start)
        return [parse_public_job(j) for j in self._pages("jobs", params, limit)]

    # -- management -------------------------------------------------------------------------
    def create_source(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteSource:
        body = self.http.call(
            "POST",
            f"{self.base_url}/sources",
            json={
                "workspaceId": workspace_id,
                "name": name,
                "definitionId": definition_id,
                "configuration": configuration,
            },
            idempotent=False,
        )
        return parse_public_source(body)

    def create_destination(
        self, workspace_id: str, name: str, definition_id: str, configuration: dict[str, Any]
    ) -> AirbyteDestination:
        body = self.http.call(
            "POST",
            f"{self.base_url}/destinations",
            json={
                "workspaceId": workspace_id,
                "name": name,
                "definitionId": definition_id,
                "configuration": configuration,
            },
            idempotent=False,
        )
        return parse_public_destination(body)
