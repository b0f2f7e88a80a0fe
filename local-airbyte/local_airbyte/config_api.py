"""The Config API dialect: ``POST /api/v1/<resource>/<action>`` with JSON bodies.

Handlers are plain functions ``(service, body) -> response``; one FastAPI route dispatches to
them, so the table below is the whole list of supported endpoints.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse, Response

from .api_errors import ApiError, Conflict, InvalidInput, NotFound
from .service import Service, get_field, require_object

__all__ = ["HANDLERS", "attempt_read", "build_router", "job_info_read", "job_read"]

Handler = Callable[[Service, dict[str, Any]], dict[str, Any]]


# -- rendering ----------------------------------------------------------------------------------


def _secs(value: float | None) -> int | None:
    return None if value is None else int(value)


def job_read(job: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job["id"],
        "configType": job["configType"],
        "configId": job["connectionId"],
        "createdAt": int(job["createdAt"]),
        "updatedAt": int(job["updatedAt"]),
        "status": job["status"],
        "enabledStreams": job.get("enabledStreams", []),
        "aggregatedStats": job.get(
            "aggregatedStats",
            {
                "recordsEmitted": 0,
                "bytesEmitted": 0,
                "recordsCommitted": 0,
                "bytesCommitted": 0,
                "recordsRejected": 0,
            },
        ),
        "streamAggregatedStats": job.get("streamAggregatedStats", []),
    }
    if job.get("startedAt") is not None:
        body["startedAt"] = int(job["startedAt"])
    if job["configType"] in ("reset_connection", "clear"):
        body["resetConfig"] = {"streamsToReset": body["enabledStreams"]}
    if job["configType"] == "refresh":
        body["refreshConfig"] = {"streamsToRefresh": body["enabledStreams"]}
    return body


def attempt_read(attempt: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": attempt["id"],
        "status": attempt["status"],
        "createdAt": int(attempt["createdAt"]),
        "updatedAt": int(attempt["updatedAt"]),
        "bytesSynced": attempt["totalStats"]["bytesCommitted"],
        "recordsSynced": attempt["totalStats"]["recordsCommitted"],
        "totalStats": attempt["totalStats"],
        "streamStats": attempt["streamStats"],
    }
    if attempt.get("endedAt") is not None:
        body["endedAt"] = int(attempt["endedAt"])
    if attempt.get("failureSummary"):
        body["failureSummary"] = attempt["failureSummary"]
    return body


def job_info_read(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "job": job_read(job),
        "attempts": [
            {
                "attempt": attempt_read(a),
                "logType": "formatted",
                "logs": {"logLines": list(a.get("logLines", []))},
            }
            for a in job["attempts"]
        ],
    }


def _actor_read(service: Service, kind: str, actor: dict[str, Any]) -> dict[str, Any]:
    return {**actor, "connectionConfiguration": service.masked_config(kind, actor)}


def _synchronous_job(config_type: str, config_id: str, ok: bool, started: float, message: str):  # type: ignore[no-untyped-def]
    return {
        "id": str(uuid.uuid4()),
        "configType": config_type,
        "configId": config_id,
        "createdAt": int(started),
        "endedAt": int(time.time()),
        "succeeded": ok,
        "logs": {"logLines": [message]},
    }


# -- handlers -----------------------------------------------------------------------------------


def _workspaces_list(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return {"workspaces": service.store.list("workspaces")}


def _workspaces_get(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return service.workspace(get_field(body, "workspaceId", "uuid"))


def _source_definitions_list(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return {"sourceDefinitions": service.source_definitions()}


def _destination_definitions_list(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return {"destinationDefinitions": service.destination_definitions()}


def _actor_handlers(kind: str) -> dict[str, Handler]:
    singular = kind[:-1]
    id_key = f"{singular}Id"
    def_key = f"{singular}DefinitionId"

    def create(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        actor = service.create_actor(
            kind,
            get_field(body, "workspaceId", "uuid"),
            get_field(body, def_key, "uuid"),
            get_field(body, "name"),
            get_field(body, "connectionConfiguration", "object"),
        )
        return _actor_read(service, kind, actor)

    def get(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        return _actor_read(service, kind, service.actor(kind, get_field(body, id_key, "uuid")))

    def list_(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        workspace_id = get_field(body, "workspaceId", "uuid")
        service.workspace(workspace_id)
        actors = service.store.list(kind, [workspace_id])
        return {kind: [_actor_read(service, kind, a) for a in actors]}

    def update(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        actor = service.update_actor(
            kind,
            get_field(body, id_key, "uuid"),
            get_field(body, "name", required=False),
            get_field(body, "connectionConfiguration", "object"),
        )
        return _actor_read(service, kind, actor)

    def delete(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        service.delete_actor(kind, get_field(body, id_key, "uuid"))
        return {}

    def check(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        actor = service.actor(kind, get_field(body, id_key, "uuid"))
        started = time.time()
        ok, message = service.check(kind, actor)
        return {
            "status": "succeeded" if ok else "failed",
            "message": message,
            "jobInfo": _synchronous_job(
                f"check_connection_{singular}", actor[id_key], ok, started, message
            ),
        }

    handlers: dict[str, Handler] = {
        f"{kind}/create": create,
        f"{kind}/get": get,
        f"{kind}/list": list_,
        f"{kind}/update": update,
        f"{kind}/delete": delete,
        f"{kind}/check_connection": check,
    }
    return handlers


def _discover_schema(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    source = service.actor("sources", get_field(body, "sourceId", "uuid"))
    started = time.time()
    from .connectors.base import ConnectorError

    try:
        streams = service.discover(source)
    except ConnectorError as exc:
        return {
            "jobInfo": {
                **_synchronous_job("discover_schema", source["sourceId"], False, started, str(exc)),
                "failureReason": {
                    "failureOrigin": "source",
                    "failureType": "config_error",
                    "externalMessage": str(exc),
                    "timestamp": int(time.time() * 1000),
                },
            }
        }
    return {
        "catalog": service.default_catalog(streams),
        "catalogId": str(uuid.uuid4()),
        "jobInfo": _synchronous_job(
            "discover_schema", source["sourceId"], True, started, "Discovered the schema"
        ),
    }


def connection_read(connection: dict[str, Any]) -> dict[str, Any]:
    """``ConnectionRead``: the stored document without null fields (the spec has none)."""
    return {k: v for k, v in connection.items() if v is not None}


def _connections_create(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("status") is None:
        raise InvalidInput("status", "is required")
    return connection_read(service.create_connection(body))


def _connections_update(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return connection_read(service.update_connection(body))


def _connections_get(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return connection_read(service.connection(get_field(body, "connectionId", "uuid")))


def _connections_list(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    workspace_id = get_field(body, "workspaceId", "uuid")
    service.workspace(workspace_id)
    connections = service.store.list("connections", [workspace_id])
    return {"connections": [connection_read(c) for c in connections]}


def _connections_delete(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    service.delete_connection(get_field(body, "connectionId", "uuid"))
    return {}


def _connections_job(config_type: str) -> Handler:
    def start(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        job = service.engine.start(get_field(body, "connectionId", "uuid"), config_type)
        return job_info_read(service.job(job["id"]))

    return start


def _job_id(body: dict[str, Any]) -> int:
    return int(get_field(body, "id", "int"))


def _jobs_get(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return job_info_read(service.job(_job_id(body)))


def _jobs_cancel(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    job_id = _job_id(body)
    service.job(job_id)
    try:
        service.engine.cancel(job_id)
    except Conflict as exc:
        # Airbyte's Config API lets IllegalStateException surface as a 500 (DIGEST §1.6).
        err = ApiError(exc.message)
        err.exception_class = "java.lang.IllegalStateException"
        raise err from None
    return job_info_read(service.job(job_id))


def _parse_time(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidInput(name, "must be an ISO-8601 date-time", value) from None


def _jobs_list(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    config_types = get_field(body, "configTypes", "list")
    config_id = get_field(body, "configId", required=False)
    statuses = get_field(body, "statuses", "list", required=False)
    pagination = require_object(body.get("pagination"), "pagination")
    page_size = pagination.get("pageSize")
    offset = int(pagination.get("rowOffset") or 0)
    jobs, total = service.store.list_jobs(
        connection_ids=[config_id] if config_id else None,
        config_types=config_types,
        statuses=statuses,
        created_after=_parse_time(body, "createdAtStart"),
        created_before=_parse_time(body, "createdAtEnd"),
        updated_after=_parse_time(body, "updatedAtStart"),
        updated_before=_parse_time(body, "updatedAtEnd"),
        order_by="updated_at" if body.get("orderByField") == "updatedAt" else "created_at",
        descending=body.get("orderByMethod", "DESC") != "ASC",
        limit=int(page_size) if page_size else None,
        offset=offset,
    )
    rendered = []
    for job in jobs:
        job = service.with_forced_status(job)
        rendered.append(
            {"job": job_read(job), "attempts": [attempt_read(a) for a in job["attempts"]]}
        )
    return {"jobs": rendered, "totalJobCount": total}


HANDLERS: dict[str, Handler] = {
    "workspaces/list": _workspaces_list,
    "workspaces/get": _workspaces_get,
    "source_definitions/list": _source_definitions_list,
    "source_definitions/list_for_workspace": _source_definitions_list,
    "destination_definitions/list": _destination_definitions_list,
    "destination_definitions/list_for_workspace": _destination_definitions_list,
    **_actor_handlers("sources"),
    **_actor_handlers("destinations"),
    "sources/discover_schema": _discover_schema,
    "connections/create": _connections_create,
    "connections/update": _connections_update,
    "connections/get": _connections_get,
    "connections/list": _connections_list,
    "connections/delete": _connections_delete,
    "connections/sync": _connections_job("sync"),
    "connections/reset": _connections_job("reset_connection"),
    "jobs/get": _jobs_get,
    "jobs/cancel": _jobs_cancel,
    "jobs/list": _jobs_list,
}

_EMPTY_RESPONSES = frozenset({"sources/delete", "destinations/delete", "connections/delete"})


def build_router(service: Service) -> APIRouter:
    """The Config API routes, bound to one server's service."""
    router = APIRouter()

    @router.get("/api/v1/health")
    def health() -> dict[str, Any]:
        return {"available": True}

    @router.post("/api/v1/{action:path}")
    def dispatch(action: str, body: Any = Body(None)) -> Response:
        action = action.strip("/")
        handler = HANDLERS.get(action)
        if handler is None:
            raise NotFound("endpoint", f"/api/v1/{action}")
        result = handler(service, require_object(body))
        if action in _EMPTY_RESPONSES:
            return Response(status_code=204)
        return JSONResponse(result)

    return router
