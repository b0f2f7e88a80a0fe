"""The Public API dialect: REST under ``/api/public/v1`` (Cloud: ``/v1``) with RFC 9457 problems.

Controllers upstream: ``airbyte-server/src/main/kotlin/io/airbyte/server/apis/publicapi/``
(``controllers/*``, ``services/*``, ``mappers/*``); the mapping of handler exceptions to problems
is ``errorHandlers/ConfigClientErrorHandler.kt``. List pages are read with LIMIT/OFFSET and no
ORDER BY upstream, so their order is not stable (:func:`_unstable_page`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from . import requests as rq
from .api_errors import BindingError, ConstraintViolation, InvalidInput, UnprocessableEntity
from .connectors.base import ConnectorError
from .job_views import job_read
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
    select_streams,
    source_response,
    workspace_response,
)
from .service import Service, get_field, require_object
from .store import TERMINAL_STATUSES

_T = TypeVar("_T")

__all__ = ["PREFIX", "build_router", "iso_duration", "iso_utc", "job_response"]

PREFIX = "/api/public/v1"  # OSS; the Cloud profile serves the same routes under /v1

_CONFIG_TYPES = {v: k for k, v in JOB_TYPES.items()}
_ORDER_BY = re.compile(r"([a-zA-Z0-9]+)\|(ASC|DESC)")


# -- query parameters ----------------------------------------------------------------------------


def _ids(request: Request, name: str) -> list[str] | None:
    values = [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v]
    return [rq.convert_query(rq.UUID_, name, v) for v in values] or None


def _uuid(name: str, raw: str) -> str:
    return str(rq.convert_query(rq.UUID_, name, raw))


async def _body(request: Request, java_name: str) -> dict[str, Any]:
    """A JSON object body bound like Micronaut does (invalid JSON, an array: 400)."""
    return rq.bind(rq.Model(java_name, {}), await request.body())


async def _blocking(fn: Callable[..., _T], *args: Any) -> _T:
    """Run a blocking service call off the event loop (SQLite and connectors block)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    """``@QueryValue`` int with ``@Min``/``@Max``: conversion 400, then bean validation 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BindingError(name, f'For input string: "{raw}"', value=raw) from None
    if value < low or (high is not None and value > high):
        bound = (
            f"greater than or equal to {low}" if value < low else f"less than or equal to {high}"
        )
        raise ConstraintViolation(f"list.{name}", f"must be {bound}")
    return value


def _time_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BindingError(name, f"Text '{raw}' could not be parsed", value=raw) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _bool_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise BindingError(name, f"Invalid boolean value: {raw}", value=raw)
    return raw.lower() == "true"


def _links(request: Request, page: list[Any], limit: int, offset: int) -> dict[str, Any]:
    """``next``/``previous`` as ``PaginationMapper`` builds them; ``next`` is empty only when
    this page is empty (DIGEST §2.2)."""
    base = f"{str(request.base_url).rstrip('/')}{request.url.path}"
    params = [(k, v) for k, v in parse_qsl(request.url.query) if k not in ("limit", "offset")]

    def link(new_offset: int) -> str:
        return f"{base}?{urlencode([*params, ('limit', limit), ('offset', new_offset)])}"

    return {
        "data": page,
        "next": link(offset + limit) if page else "",
        "previous": link(max(offset - limit, 0)) if offset > 0 else "",
    }


def _unstable_page(
    service: Service, kind: str, items: list[dict[str, Any]], limit: int, offset: int
) -> list[dict[str, Any]]:
    """One LIMIT/OFFSET page of a query with no ORDER BY.

    ``ConnectionServiceJooqImpl.listWorkspaceStandardSyncsLimitOffsetPaginated`` (main
    ~959-1036; the Source and Destination services alike) groups by connection id and pages
    with LIMIT/OFFSET, no ORDER BY. PostgreSQL then returns rows in whatever order the plan
    produces, and the plan depends on LIMIT and OFFSET (a hash aggregate for some pages, a
    scan in insertion order for others). So two pages of one listing can overlap and skip rows,
    as seen with Airbyte 1.8.3 (dagster issue 32443). Imitated deterministically: ``items`` come
    in insertion order; each (limit, offset) picks that order or a hashed one from the server's
    ``list_seed``, so the same data pages the same way on every run.
    """
    seed = service.settings.list_seed

    def digest(*parts: object) -> int:
        text = "/".join(str(p) for p in (seed, kind, *parts))
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")

    ordered = list(items)
    if digest(limit, offset) % 2:  # a hash aggregate's order
        positions = sorted(range(len(items)), key=lambda index: digest("row", index))
        ordered = [items[index] for index in positions]
    return ordered[offset : offset + limit]


def _workspace_filter(service: Service, request: Request) -> list[str] | None:
    ids = _ids(request, "workspaceIds")
    for workspace_id in ids or []:
        service.workspace(workspace_id)
    return ids


# -- jobs ----------------------------------------------------------------------------------------


def job_response(job: dict[str, Any], profile: Any) -> dict[str, Any]:
    """``JobResponseMapper.from`` (``publicapi/mappers/JobResponseMapper.kt``) over the job as
    ``getJobInfoWithoutLogs`` hydrates it: bytes/rows are the committed totals."""
    stats = job_read(job, profile, hydrated=True).get("aggregatedStats") or {}
    body: dict[str, Any] = {
        "jobId": job["id"],
        "status": job["status"],
        "jobType": JOB_TYPES.get(job["configType"], "sync"),
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


def _job_id(raw: str) -> int:
    return rq.convert_path_int64("jobId", raw)


# -- routes --------------------------------------------------------------------------------------


def build_router(service: Service) -> APIRouter:
    profile = service.settings.profile
    router = APIRouter(prefix=profile.public_prefix)
    tokens = service.tokens

    @router.get("/health")
    def health() -> Response:
        return Response("Successful operation", media_type="text/plain")

    if profile.public_token:

        @router.post("/applications/token")
        async def token(request: Request) -> JSONResponse:
            content_type = request.headers.get("content-type", "")
            raw = await request.body()
            if "application/x-www-form-urlencoded" in content_type:
                # Parsed by hand: Starlette's form parser needs python-multipart.
                data: dict[str, Any] = dict(parse_qsl(raw.decode("utf-8", errors="replace")))
            else:
                data = rq.bind(
                    rq.Model(
                        "ApplicationTokenRequestWithGrant",
                        {"client_id": rq.STR, "client_secret": rq.STR},
                        ("client_id", "client_secret"),
                        "applicationTokenRequest",
                    ),
                    raw,
                )
            client_id = get_field(data, "client_id")
            client_secret = get_field(data, "client_secret")
            access_token = tokens.issue(client_id, client_secret)
            return JSONResponse(
                {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": tokens.expires_in,
                }
            )

    @router.get("/workspaces")
    def workspaces(request: Request) -> dict[str, Any]:
        limit = _int_param(request, "limit", 20, 1, 100)
        offset = _int_param(request, "offset", 0, 0, None)
        ids = _ids(request, "workspaceIds")
        items = [workspace_response(w) for w in service.store.list("workspaces", ids)]
        page = _unstable_page(service, "workspaces", items, limit, offset)
        return _links(request, page, limit, offset)

    @router.post("/workspaces")
    async def create_workspace(request: Request) -> dict[str, Any]:
        name = get_field(await _body(request, "WorkspaceCreateRequest"), "name")
        if not name.strip():
            raise InvalidInput("name", "must not be blank", name)
        return workspace_response(await _blocking(service.create_workspace, name))

    @router.get("/workspaces/{workspace_id}")
    def workspace(workspace_id: str) -> dict[str, Any]:
        return workspace_response(service.workspace(_uuid("workspaceId", workspace_id)))

    _actor_routes(router, service, "sources", source_response)
    _actor_routes(router, service, "destinations", destination_response)

    @router.get("/connections")
    def connections(request: Request) -> dict[str, Any]:
        limit = _int_param(request, "limit", 20, 1, 100)
        offset = _int_param(request, "offset", 0, 0, None)
        include_deleted = _bool_param(request, "includeDeleted")
        ids = _workspace_filter(service, request)
        items = [
            connection_response(c, profile)
            for c in service.store.list("connections", ids)
            if include_deleted or c.get("status") != "deprecated"
        ]
        page = _unstable_page(service, "connections", items, limit, offset)
        return _links(request, page, limit, offset)

    @router.post("/connections")
    async def create_connection(request: Request) -> dict[str, Any]:
        body = await _body(request, "ConnectionCreateRequest")
        return await _blocking(_create_connection, service, body)

    @router.get("/connections/{connection_id}")
    def connection(connection_id: str) -> dict[str, Any]:
        connection_id = _uuid("connectionId", connection_id)
        return connection_response(service.connection(connection_id), profile)

    @router.patch("/connections/{connection_id}")
    async def patch_connection(connection_id: str, request: Request) -> dict[str, Any]:
        connection_id = _uuid("connectionId", connection_id)
        body = await _body(request, "ConnectionPatchRequest")
        return await _blocking(_patch_connection, service, connection_id, body)

    @router.delete("/connections/{connection_id}")
    def delete_connection(connection_id: str) -> Response:
        service.delete_connection(_uuid("connectionId", connection_id))
        return Response(status_code=204)

    if profile.connection_tags:  # TagsController.kt@v1.6.0

        @router.get("/tags")
        def tags(request: Request) -> dict[str, Any]:
            return {"data": service.tags(_ids(request, "workspaceIds"))}

        @router.post("/tags")
        async def create_tag(request: Request) -> dict[str, Any]:
            body = await _body(request, "TagCreateRequest")
            return await _blocking(
                service.create_tag,
                get_field(body, "workspaceId", "uuid"),
                get_field(body, "name"),
                get_field(body, "color"),
            )

    @router.get("/streams")
    def streams(request: Request) -> list[dict[str, Any]]:
        source_id = request.query_params.get("sourceId")
        if not source_id:
            raise ConstraintViolation("getStreamProperties.sourceId")
        source = service.actor("sources", _uuid("sourceId", source_id))
        if request.query_params.get("destinationId"):
            destination_id = _uuid("destinationId", request.query_params["destinationId"])
            service.actor("destinations", destination_id)
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
        """``JobsController.listJobs``: createdAt ASC unless ``orderBy`` says otherwise
        (``helpers/JobsHelper.kt`` ~15-31); without ``jobType``, the profile's default types
        (sync and reset up to v2.0.0, ``services/JobService.kt@v2.0.0:223``)."""
        limit = _int_param(request, "limit", 20, 1, 100)
        offset = _int_param(request, "offset", 0, 0, None)
        connection_id = request.query_params.get("connectionId")
        workspace_ids = _workspace_filter(service, request)
        connection_ids: list[str] | None = None
        if connection_id:
            service.connection(_uuid("connectionId", connection_id))
            connection_ids = [connection_id]
        elif workspace_ids is not None:
            connection_ids = [
                c["connectionId"] for c in service.store.list("connections", workspace_ids)
            ]
        job_type = request.query_params.get("jobType")
        if job_type is not None:
            rq.convert_query(rq.enum("JobTypeEnum", profile.public_job_types), "jobType", job_type)
            config_types = [_CONFIG_TYPES[job_type]]
        else:
            config_types = list(profile.public_default_job_types)
        status = request.query_params.get("status")
        if status is not None:
            rq.convert_query(rq.enum("JobStatusEnum", profile.job_statuses), "status", status)
        order_by = request.query_params.get("orderBy")
        field, direction = "createdAt", "ASC"
        if order_by is not None:
            match = _ORDER_BY.search(order_by)
            if match is None or match.group(1) not in ("createdAt", "updatedAt"):
                raise InvalidInput("", f"Invalid order by clause provided: {order_by}")
            field, direction = match.group(1), match.group(2)
        found, _total = service.store.list_jobs(
            connection_ids=connection_ids,
            config_types=config_types,
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
        items = [job_response(service.with_forced_status(j), profile) for j in found]
        return _links(request, items, limit, offset)

    @router.get("/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        return job_response(service.job(_job_id(job_id)), profile)

    @router.post("/jobs")
    async def create_job(request: Request) -> dict[str, Any]:
        """``JobsController.publicCreateJob`` (``.kt@v1.6.0:90-200``): the connection first;
        ``refresh`` is a 422; ``clear`` runs a reset (``jobService.reset``)."""
        body = rq.bind(
            rq.Model(
                "JobCreateRequest",
                {
                    "connectionId": rq.UUID_,
                    "jobType": rq.enum("JobTypeEnum", profile.public_job_types),
                },
                ("connectionId", "jobType"),
                "publicCreateJob",
            ),
            await request.body(),
        )
        return await _blocking(_create_job, service, body)

    @router.delete("/jobs/{job_id}")
    def cancel_job(job_id: str) -> dict[str, Any]:
        found = service.job(_job_id(job_id))
        service.engine.cancel(found["id"])
        return job_response(service.job(found["id"]), profile)

    return router


def _create_connection(service: Service, request_body: dict[str, Any]) -> dict[str, Any]:
    profile = service.settings.profile
    create: dict[str, Any] = {
        "sourceId": get_field(request_body, "sourceId", "uuid"),
        "destinationId": get_field(request_body, "destinationId", "uuid"),
        # The Public model's namespaceDefinition defaults to "destination".
        "namespaceDefinition": "destination",
        **connection_fields(request_body),
    }
    configurations = require_object(request_body.get("configurations"), "configurations")
    source = service.actor("sources", create["sourceId"])
    service.actor("destinations", create["destinationId"])
    create["syncCatalog"] = select_streams(
        service.discovered_catalog(source), configurations, allow_empty=True
    )
    return connection_response(service.create_connection(create), profile)


def _patch_connection(
    service: Service, connection_id: str, patch: dict[str, Any]
) -> dict[str, Any]:
    current = service.connection(connection_id)
    update: dict[str, Any] = {"connectionId": current["connectionId"], **connection_fields(patch)}
    if patch.get("configurations") is not None:
        configurations = require_object(patch["configurations"], "configurations")
        update["syncCatalog"] = select_streams(
            current["syncCatalog"], configurations, allow_empty=False
        )
    return connection_response(service.update_connection(update), service.settings.profile)


def _create_job(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    profile = service.settings.profile
    service.connection(body["connectionId"])
    job_type = body["jobType"]
    if job_type == "refresh":
        raise UnprocessableEntity("Refreshes are not supported in the public API")
    config_type = "sync" if job_type == "sync" else "reset_connection"
    created = service.engine.start(body["connectionId"], config_type)
    return job_response(service.job(created["id"]), profile)


def _update(
    service: Service, kind: str, actor_id: str, data: dict[str, Any], replace: bool
) -> dict[str, Any]:
    return actor_update(service, kind, actor_id, data, replace=replace)


def _actor_routes(
    router: APIRouter,
    service: Service,
    kind: str,
    render: Callable[[Service, dict[str, Any]], dict[str, Any]],
) -> None:
    """``GET`` (list, one), ``POST``, ``PATCH``, ``PUT`` and ``DELETE`` for sources or destinations."""
    path = f"/{kind}/{{actor_id}}"
    id_key = f"{kind[:-1]}Id"

    def list_actors(request: Request) -> dict[str, Any]:
        limit = _int_param(request, "limit", 20, 1, 100)
        offset = _int_param(request, "offset", 0, 0, None)
        ids = _workspace_filter(service, request)
        items = [render(service, a) for a in service.store.list(kind, ids)]
        page = _unstable_page(service, kind, items, limit, offset)
        return _links(request, page, limit, offset)

    java = "Source" if kind == "sources" else "Destination"

    def get_actor(actor_id: str) -> dict[str, Any]:
        return render(service, service.actor(kind, _uuid(id_key, actor_id)))

    async def create_actor(request: Request) -> dict[str, Any]:
        data = await _body(request, f"{java}CreateRequest")
        return render(service, await _blocking(actor_create, service, kind, data))

    async def patch_actor(actor_id: str, request: Request) -> dict[str, Any]:
        actor_id = _uuid(id_key, actor_id)
        data = await _body(request, f"{java}PatchRequest")
        updated = await _blocking(_update, service, kind, actor_id, data, False)
        return render(service, updated)

    async def put_actor(actor_id: str, request: Request) -> dict[str, Any]:
        actor_id = _uuid(id_key, actor_id)
        data = await _body(request, f"{java}PutRequest")
        updated = await _blocking(_update, service, kind, actor_id, data, True)
        return render(service, updated)

    def delete_actor(actor_id: str) -> Response:
        service.delete_actor(kind, _uuid(id_key, actor_id))
        return Response(status_code=204)

    router.add_api_route(f"/{kind}", list_actors, methods=["GET"])
    router.add_api_route(f"/{kind}", create_actor, methods=["POST"])
    router.add_api_route(path, get_actor, methods=["GET"])
    router.add_api_route(path, patch_actor, methods=["PATCH"])
    router.add_api_route(path, put_actor, methods=["PUT"])
    router.add_api_route(path, delete_actor, methods=["DELETE"])
