"""The Public API dialect: REST under ``/api/public/v1`` with RFC 9457 problem bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from .api_errors import InvalidInput
from .auth import TokenIssuer
from .service import Service, destination_slug, get_field, require_object, source_slug
from .store import TERMINAL_STATUSES

__all__ = ["PREFIX", "build_router", "iso_duration", "iso_utc", "job_response"]

PREFIX = "/api/public/v1"

_JOB_TYPES = {"sync": "sync", "reset_connection": "reset", "refresh": "refresh", "clear": "clear"}
_CONFIG_TYPES = {v: k for k, v in _JOB_TYPES.items()}
_JOB_STATUSES = ("pending", "queued", "running", "incomplete", "failed", "succeeded", "cancelled")
_SYNC_MODES = {
    ("full_refresh", "overwrite"): "full_refresh_overwrite",
    ("full_refresh", "overwrite_dedup"): "full_refresh_overwrite_deduped",
    ("full_refresh", "append"): "full_refresh_append",
    ("incremental", "append"): "incremental_append",
    ("incremental", "append_dedup"): "incremental_deduped_history",
}
_SPLIT_MODES = {v: k for k, v in _SYNC_MODES.items()}


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_duration(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or text == "PT" else "")


def job_response(job: dict[str, Any]) -> dict[str, Any]:
    """Config job -> ``JobResponse`` as Airbyte's mapper does it (see DIGEST §2.3)."""
    stats = job.get("aggregatedStats") or {}
    body: dict[str, Any] = {
        "jobId": job["id"],
        "status": job["status"],
        "jobType": _JOB_TYPES.get(job["configType"], "sync"),
        "startTime": iso_utc(job["createdAt"]),
        "connectionId": job["connectionId"],
        "bytesSynced": int(stats.get("bytesCommitted", 0)),
        "rowsSynced": int(stats.get("recordsCommitted", 0)),
    }
    if job["status"] in TERMINAL_STATUSES:
        body["lastUpdatedAt"] = iso_utc(job["updatedAt"])
    if job["status"] != "pending":
        body["duration"] = iso_duration(job["updatedAt"] - job["createdAt"])
    return body


def _workspace_response(ws: dict[str, Any]) -> dict[str, Any]:
    return {
        "workspaceId": ws["workspaceId"],
        "name": ws["name"],
        "dataResidency": "auto",
        "notifications": {},
    }


def _source_response(service: Service, source: dict[str, Any]) -> dict[str, Any]:
    try:
        slug = source_slug(service.connector_of("sources", source))
    except Exception:
        slug = ""
    return {
        "sourceId": source["sourceId"],
        "name": source["name"],
        "sourceType": slug,
        "definitionId": source["sourceDefinitionId"],
        "workspaceId": source["workspaceId"],
        "configuration": service.masked_config("sources", source),
        "createdAt": source["createdAt"],
    }


def _destination_response(service: Service, dest: dict[str, Any]) -> dict[str, Any]:
    try:
        slug = destination_slug(service.connector_of("destinations", dest))
    except Exception:
        slug = ""
    return {
        "destinationId": dest["destinationId"],
        "name": dest["name"],
        "destinationType": slug,
        "definitionId": dest["destinationDefinitionId"],
        "workspaceId": dest["workspaceId"],
        "configuration": service.masked_config("destinations", dest),
        "createdAt": dest["createdAt"],
    }


def _schedule_response(connection: dict[str, Any]) -> dict[str, Any]:
    kind = connection.get("scheduleType") or "manual"
    body: dict[str, Any] = {"scheduleType": kind}
    data = connection.get("scheduleData") or {}
    if kind == "cron" and data.get("cron"):
        cron = data["cron"]
        body["cronExpression"] = f"{cron['cronExpression']} {cron.get('cronTimeZone') or 'UTC'}"
    if kind == "basic":
        basic = data.get("basicSchedule") or connection.get("schedule") or {}
        body["basicTiming"] = f"Every {basic.get('units')} {str(basic.get('timeUnit')).upper()}"
    return body


def connection_response(connection: dict[str, Any]) -> dict[str, Any]:
    streams = []
    for item in connection["syncCatalog"]["streams"]:
        stream, config = item["stream"], item["config"]
        if not config.get("selected", True):
            continue
        entry: dict[str, Any] = {
            "name": stream["name"],
            "syncMode": _SYNC_MODES.get(
                (config["syncMode"], config["destinationSyncMode"]), "full_refresh_overwrite"
            ),
            "cursorField": config.get("cursorField") or [],
            "primaryKey": config.get("primaryKey") or [],
        }
        if stream.get("namespace"):
            entry["namespace"] = stream["namespace"]
        streams.append(entry)
    definition = connection.get("namespaceDefinition") or "destination"
    body: dict[str, Any] = {
        "connectionId": connection["connectionId"],
        "name": connection["name"],
        "sourceId": connection["sourceId"],
        "destinationId": connection["destinationId"],
        "workspaceId": connection["workspaceId"],
        "status": connection["status"],
        "schedule": _schedule_response(connection),
        "dataResidency": "auto",
        "nonBreakingSchemaUpdatesBehavior": {"disable": "disable_connection"}.get(
            connection.get("nonBreakingChangesPreference") or "ignore",
            connection.get("nonBreakingChangesPreference") or "ignore",
        ),
        "namespaceDefinition": "custom_format" if definition == "customformat" else definition,
        "prefix": connection.get("prefix") or "",
        "configurations": {"streams": streams},
        "createdAt": connection.get("created_at", 0),
        "tags": [],
    }
    if connection.get("namespaceFormat") is not None:
        body["namespaceFormat"] = connection["namespaceFormat"]
    return body


# -- query parameters ----------------------------------------------------------------------------


def _ids(request: Request, name: str) -> list[str] | None:
    values = [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v]
    return values or None


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(name, "must be an integer", raw) from None
    if value < low or (high is not None and value > high):
        raise InvalidInput(name, f"must be between {low} and {high}", raw)
    return value


def _time_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise InvalidInput(name, "must be an ISO-8601 date-time", raw) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _page(request: Request, items: list[Any], total: int | None = None) -> dict[str, Any]:
    """``{data, next, previous}`` with absolute links built from the request's host.

    As Airbyte does, ``next`` is empty only when this page is empty (DIGEST §2.2).
    """
    limit = _int_param(request, "limit", 20, 1, 100)
    offset = _int_param(request, "offset", 0, 0, None)
    page = items if total is not None else items[offset : offset + limit]
    base = f"{str(request.base_url).rstrip('/')}{request.url.path}"
    params = [(k, v) for k, v in parse_qsl(request.url.query) if k not in ("limit", "offset")]

    def link(new_offset: int) -> str:
        return f"{base}?{urlencode([*params, ('limit', limit), ('offset', new_offset)])}"

    return {
        "data": page,
        "next": link(offset + limit) if page else "",
        "previous": link(max(offset - limit, 0)) if offset > 0 else "",
    }


def _workspace_filter(service: Service, request: Request) -> list[str] | None:
    ids = _ids(request, "workspaceIds")
    for workspace_id in ids or []:
        service.workspace(workspace_id)
    return ids


def build_router(service: Service, tokens: TokenIssuer) -> APIRouter:
    router = APIRouter(prefix=PREFIX)

    @router.get("/health")
    def health() -> Response:
        return Response("Successful operation", media_type="text/plain")

    @router.post("/applications/token")
    async def token(request: Request) -> JSONResponse:
        content_type = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in content_type:
            # Parsed by hand: Starlette's form parser needs python-multipart.
            raw = (await request.body()).decode("utf-8", errors="replace")
            data: dict[str, Any] = dict(parse_qsl(raw))
        else:
            try:
                data = require_object(await request.json())
            except ValueError:
                raise InvalidInput("body", "must be JSON or a form") from None
        client_id = get_field(data, "client_id")
        client_secret = get_field(data, "client_secret")
        access_token = tokens.issue(client_id, client_secret)
        return JSONResponse(
            {"access_token": access_token, "token_type": "Bearer", "expires_in": tokens.expires_in}
        )

    @router.get("/workspaces")
    def workspaces(request: Request) -> dict[str, Any]:
        ids = _ids(request, "workspaceIds")
        return _page(
            request, [_workspace_response(w) for w in service.store.list("workspaces", ids)]
        )

    @router.get("/workspaces/{workspace_id}")
    def workspace(workspace_id: str) -> dict[str, Any]:
        return _workspace_response(service.workspace(workspace_id))

    @router.get("/sources")
    def sources(request: Request) -> dict[str, Any]:
        ids = _workspace_filter(service, request)
        items = [_source_response(service, s) for s in service.store.list("sources", ids)]
        return _page(request, items)

    @router.get("/sources/{source_id}")
    def source(source_id: str) -> dict[str, Any]:
        return _source_response(service, service.actor("sources", source_id))

    @router.get("/destinations")
    def destinations(request: Request) -> dict[str, Any]:
        ids = _workspace_filter(service, request)
        items = [_destination_response(service, d) for d in service.store.list("destinations", ids)]
        return _page(request, items)

    @router.get("/destinations/{destination_id}")
    def destination(destination_id: str) -> dict[str, Any]:
        return _destination_response(service, service.actor("destinations", destination_id))

    @router.get("/connections")
    def connections(request: Request) -> dict[str, Any]:
        ids = _workspace_filter(service, request)
        items = [connection_response(c) for c in service.store.list("connections", ids)]
        return _page(request, items)

    @router.get("/connections/{connection_id}")
    def connection(connection_id: str) -> dict[str, Any]:
        return connection_response(service.connection(connection_id))

    @router.patch("/connections/{connection_id}")
    def patch_connection(connection_id: str, body: Any = Body(None)) -> dict[str, Any]:
        patch = require_object(body)
        current = service.connection(connection_id)
        update: dict[str, Any] = {"connectionId": current["connectionId"]}
        for key in ("name", "prefix", "namespaceFormat", "status"):
            if key in patch:
                update[key] = patch[key]
        if "namespaceDefinition" in patch:
            value = patch["namespaceDefinition"]
            update["namespaceDefinition"] = "customformat" if value == "custom_format" else value
        if "nonBreakingSchemaUpdatesBehavior" in patch:
            value = patch["nonBreakingSchemaUpdatesBehavior"]
            update["nonBreakingChangesPreference"] = (
                "disable" if value == "disable_connection" else value
            )
        if patch.get("schedule") is not None:
            update.update(_schedule_update(require_object(patch["schedule"], "schedule")))
        if patch.get("configurations") is not None:
            update["syncCatalog"] = _catalog_update(
                current, require_object(patch["configurations"], "configurations")
            )
        return connection_response(service.update_connection(update))

    @router.get("/streams")
    def streams(request: Request) -> list[dict[str, Any]]:
        source_id = request.query_params.get("sourceId")
        if not source_id:
            raise InvalidInput("sourceId", "is required")
        source = service.actor("sources", source_id)
        if request.query_params.get("destinationId"):
            service.actor("destinations", request.query_params["destinationId"])
        from .connectors.base import ConnectorError

        try:
            discovered = service.discover(source)
        except ConnectorError as exc:
            raise InvalidInput("sourceId", f"could not discover the source: {exc}") from exc
        result = []
        for s in discovered:
            modes = [
                mode
                for (sync, _dest), mode in _SYNC_MODES.items()
                if sync in s.supported_sync_modes
            ]
            item: dict[str, Any] = {
                "streamName": s.name,
                "syncModes": modes,
                "defaultCursorField": list(s.default_cursor_field),
                "sourceDefinedCursorField": s.source_defined_cursor,
                "sourceDefinedPrimaryKey": [list(p) for p in s.source_defined_primary_key],
                "propertyFields": [[p] for p in (s.json_schema.get("properties") or {})],
            }
            if s.namespace:
                item["streamnamespace"] = s.namespace
            result.append(item)
        return result

    @router.get("/jobs")
    def jobs(request: Request) -> dict[str, Any]:
        limit = _int_param(request, "limit", 20, 1, 100)
        offset = _int_param(request, "offset", 0, 0, None)
        connection_id = request.query_params.get("connectionId")
        workspace_ids = _workspace_filter(service, request)
        connection_ids: list[str] | None = None
        if connection_id:
            service.connection(connection_id)
            connection_ids = [connection_id]
        if workspace_ids is not None:
            in_workspaces = [
                c["connectionId"] for c in service.store.list("connections", workspace_ids)
            ]
            connection_ids = [
                c for c in (connection_ids or in_workspaces) if c in set(in_workspaces)
            ]
        job_type = request.query_params.get("jobType")
        if job_type is not None and job_type not in _CONFIG_TYPES:
            raise InvalidInput("jobType", f"must be one of {', '.join(_CONFIG_TYPES)}", job_type)
        status = request.query_params.get("status")
        if status is not None and status not in _JOB_STATUSES:
            raise InvalidInput("status", f"must be one of {', '.join(_JOB_STATUSES)}", status)
        order_by = request.query_params.get("orderBy") or "createdAt|DESC"
        field, _, direction = order_by.partition("|")
        if field not in ("createdAt", "updatedAt") or direction not in ("ASC", "DESC"):
            raise InvalidInput(
                "orderBy", "must look like createdAt|DESC or updatedAt|ASC", order_by
            )
        found, total = service.store.list_jobs(
            connection_ids=connection_ids,
            config_types=[_CONFIG_TYPES[job_type]] if job_type else list(_CONFIG_TYPES.values()),
            statuses=[status] if status else None,
            created_after=_time_param(request, "createdAtStart"),
            created_before=_time_param(request, "createdAtEnd"),
            updated_after=_time_param(request, "updatedAtStart"),
            updated_before=_time_param(request, "updatedAtEnd"),
            order_by="updated_at" if field == "updatedAt" else "created_at",
            descending=direction == "DESC",
            limit=limit,
            offset=offset,
        )
        items = [job_response(service.with_forced_status(j)) for j in found]
        return _page(request, items, total)

    @router.get("/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        return job_response(service.job(job_id))

    @router.post("/jobs")
    def create_job(body: Any = Body(None)) -> dict[str, Any]:
        request_body = require_object(body)
        connection_id = get_field(request_body, "connectionId", "uuid")
        job_type = get_field(request_body, "jobType", choices=("sync", "reset", "refresh", "clear"))
        created = service.engine.start(connection_id, _CONFIG_TYPES[job_type])
        return job_response(service.job(created["id"]))

    @router.delete("/jobs/{job_id}")
    def cancel_job(job_id: str) -> dict[str, Any]:
        found = service.job(job_id)
        service.engine.cancel(found["id"])
        return job_response(service.job(found["id"]))

    return router


def _schedule_update(schedule: dict[str, Any]) -> dict[str, Any]:
    kind = get_field(schedule, "scheduleType", choices=("manual", "cron", "basic"))
    if kind == "manual":
        return {"scheduleType": "manual"}
    if kind == "basic":
        timing = str(schedule.get("basicTiming") or "")
        parts = timing.split()
        if len(parts) != 3 or parts[0] != "Every" or not parts[1].isdigit():
            raise InvalidInput("schedule.basicTiming", "must look like 'Every 24 HOURS'", timing)
        basic = {"units": int(parts[1]), "timeUnit": parts[2].lower()}
        return {"scheduleType": "basic", "scheduleData": {"basicSchedule": basic}}
    expression = str(get_field(schedule, "cronExpression")).split()
    zone = "UTC"
    if len(expression) >= 7 and not expression[-1][0].isdigit() and expression[-1] not in "*?":
        zone = expression.pop()
    cron = {"cronExpression": " ".join(expression), "cronTimeZone": zone}
    return {"scheduleType": "cron", "scheduleData": {"cron": cron}}


def _catalog_update(current: dict[str, Any], configurations: dict[str, Any]) -> dict[str, Any]:
    """The streams listed become the selected ones, with their (folded) sync modes."""
    wanted = {}
    for index, item in enumerate(get_field(configurations, "streams", "list")):
        item = require_object(item, f"configurations.streams[{index}]")
        wanted[get_field(item, "name")] = item
    known = {i["stream"]["name"] for i in current["syncCatalog"]["streams"]}
    for name in wanted:
        if name not in known:
            raise InvalidInput("configurations.streams", f"the source has no stream {name!r}", name)
    streams = []
    for item in current["syncCatalog"]["streams"]:
        config = dict(item["config"])
        want = wanted.get(item["stream"]["name"])
        config["selected"] = want is not None
        if want is not None:
            if want.get("syncMode"):
                if want["syncMode"] not in _SPLIT_MODES:
                    raise InvalidInput(
                        "configurations.streams.syncMode", "unsupported", want["syncMode"]
                    )
                config["syncMode"], config["destinationSyncMode"] = _SPLIT_MODES[want["syncMode"]]
            if want.get("cursorField") is not None:
                config["cursorField"] = want["cursorField"]
            if want.get("primaryKey") is not None:
                config["primaryKey"] = want["primaryKey"]
        streams.append({"stream": item["stream"], "config": config})
    return {"streams": streams}
