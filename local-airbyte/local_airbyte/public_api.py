"""The Public API dialect: REST under ``/api/public/v1`` with RFC 9457 problem bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from .api_errors import InvalidInput
from .auth import TokenIssuer
from .public_shapes import (
    JOB_TYPES,
    SYNC_MODES,
    actor_create,
    actor_update,
    connection_fields,
    connection_response,
    destination_response,
    iso_duration,
    iso_utc,
    job_response,
    select_streams,
    source_response,
    workspace_response,
)
from .service import Service, get_field, require_object

__all__ = ["PREFIX", "build_router", "iso_duration", "iso_utc", "job_response"]

PREFIX = "/api/public/v1"

_CONFIG_TYPES = {v: k for k, v in JOB_TYPES.items()}
_JOB_STATUSES = ("pending", "queued", "running", "incomplete", "failed", "succeeded", "cancelled")


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
            request, [workspace_response(w) for w in service.store.list("workspaces", ids)]
        )

    @router.post("/workspaces")
    def create_workspace(body: Any = Body(None)) -> dict[str, Any]:
        name = get_field(require_object(body), "name")
        if not name.strip():
            raise InvalidInput("name", "must not be blank", name)
        return workspace_response(service.create_workspace(name))

    @router.get("/workspaces/{workspace_id}")
    def workspace(workspace_id: str) -> dict[str, Any]:
        return workspace_response(service.workspace(workspace_id))

    _actor_routes(router, service, "sources", source_response)
    _actor_routes(router, service, "destinations", destination_response)

    @router.get("/connections")
    def connections(request: Request) -> dict[str, Any]:
        ids = _workspace_filter(service, request)
        items = [connection_response(c) for c in service.store.list("connections", ids)]
        return _page(request, items)

    @router.post("/connections")
    def create_connection(body: Any = Body(None)) -> dict[str, Any]:
        request_body = require_object(body)
        create: dict[str, Any] = {
            "sourceId": get_field(request_body, "sourceId", "uuid"),
            "destinationId": get_field(request_body, "destinationId", "uuid"),
            **connection_fields(request_body),
        }
        configurations = require_object(request_body.get("configurations"), "configurations")
        source = service.actor("sources", create["sourceId"])
        service.actor("destinations", create["destinationId"])
        create["syncCatalog"] = select_streams(
            service.discovered_catalog(source), configurations, allow_empty=True
        )
        return connection_response(service.create_connection(create))

    @router.get("/connections/{connection_id}")
    def connection(connection_id: str) -> dict[str, Any]:
        return connection_response(service.connection(connection_id))

    @router.patch("/connections/{connection_id}")
    def patch_connection(connection_id: str, body: Any = Body(None)) -> dict[str, Any]:
        patch = require_object(body)
        current = service.connection(connection_id)
        update: dict[str, Any] = {
            "connectionId": current["connectionId"],
            **connection_fields(patch),
        }
        if patch.get("configurations") is not None:
            configurations = require_object(patch["configurations"], "configurations")
            update["syncCatalog"] = select_streams(
                current["syncCatalog"], configurations, allow_empty=False
            )
        return connection_response(service.update_connection(update))

    @router.delete("/connections/{connection_id}")
    def delete_connection(connection_id: str) -> Response:
        service.delete_connection(connection_id)
        return Response(status_code=204)

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
                mode for (sync, _dest), mode in SYNC_MODES.items() if sync in s.supported_sync_modes
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


def _actor_routes(router: APIRouter, service: Service, kind: str, render: Any) -> None:
    """``GET`` (list, one), ``POST``, ``PATCH``, ``PUT`` and ``DELETE`` for sources or destinations."""
    path = f"/{kind}/{{actor_id}}"

    def list_actors(request: Request) -> dict[str, Any]:
        ids = _workspace_filter(service, request)
        return _page(request, [render(service, a) for a in service.store.list(kind, ids)])

    def get_actor(actor_id: str) -> dict[str, Any]:
        return render(service, service.actor(kind, actor_id))

    def create_actor(body: Any = Body(None)) -> dict[str, Any]:
        return render(service, actor_create(service, kind, require_object(body)))

    def patch_actor(actor_id: str, body: Any = Body(None)) -> dict[str, Any]:
        data = require_object(body)
        return render(service, actor_update(service, kind, actor_id, data, replace=False))

    def put_actor(actor_id: str, body: Any = Body(None)) -> dict[str, Any]:
        data = require_object(body)
        return render(service, actor_update(service, kind, actor_id, data, replace=True))

    def delete_actor(actor_id: str) -> Response:
        service.delete_actor(kind, actor_id)
        return Response(status_code=204)

    router.add_api_route(f"/{kind}", list_actors, methods=["GET"])
    router.add_api_route(f"/{kind}", create_actor, methods=["POST"])
    router.add_api_route(path, get_actor, methods=["GET"])
    router.add_api_route(path, patch_actor, methods=["PATCH"])
    router.add_api_route(path, put_actor, methods=["PUT"])
    router.add_api_route(path, delete_actor, methods=["DELETE"])
