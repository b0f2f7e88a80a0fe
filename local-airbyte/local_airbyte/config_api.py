"""The Config API dialect: ``POST /api/v1/<resource>/<action>`` with JSON bodies.

One route dispatches to the :data:`ENDPOINTS` table: for each action, the request model the real
controller binds (``requests.py``) and a handler ``(service, body) -> response``. Which actions
a release has is the profile's business (``profiles.py``); a missing one is a route miss, as on
the real server. Upstream handlers are cited next to each function.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from . import requests as rq
from .api_errors import ConstraintViolation, IllegalState, NotFound, RouteMiss
from .connectors.base import ConnectorError
from .job_views import (
    job_info_light_read,
    job_info_read,
    job_info_without_logs,
    job_with_attempts_read,
    sync_progress_read,
)
from .profiles import get_profile
from .service import Service

__all__ = ["ENDPOINTS", "Endpoint", "build_router", "connection_read", "endpoints"]

Handler = Callable[[Service, dict[str, Any]], Any]


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    model: rq.Model | None  # None: the endpoint takes no body and ignores one


# -- request models (config.yaml, components.schemas) -------------------------------------------

_NAMESPACE_DEFINITION = rq.enum(
    "NamespaceDefinitionType", ("source", "destination", "customformat")
)
_CONNECTION_STATUS = rq.enum("ConnectionStatus", ("active", "inactive", "deprecated"))
_SCHEDULE_TYPE = rq.enum("ConnectionScheduleType", ("manual", "basic", "cron"))
_NON_BREAKING = rq.enum(
    "NonBreakingChangesPreference", ("ignore", "disable", "propagate_columns", "propagate_fully")
)
_ORDER_FIELD = rq.enum("JobListRequestBody.OrderByFieldEnum", ("createdAt", "updatedAt"))
_ORDER_METHOD = rq.enum("JobListRequestBody.OrderByMethodEnum", ("ASC", "DESC"))


def _ids(java: str, key: str, method: str) -> rq.Model:
    return rq.Model(java, {key: rq.UUID_}, (key,), method)


_WORKSPACE_ID = _ids("WorkspaceIdRequestBody", "workspaceId", "getWorkspace")
_CONNECTION_ID = _ids("ConnectionIdRequestBody", "connectionId", "getConnection")
_SOURCE_ID = _ids("SourceIdRequestBody", "sourceId", "getSource")
_DESTINATION_ID = _ids("DestinationIdRequestBody", "destinationId", "getDestination")
_JOB_ID = rq.Model("JobIdRequestBody", {"id": rq.INT64}, ("id",), "getJobInfo")
_CONNECTION_FIELDS = {
    "name": rq.STR,
    "namespaceDefinition": _NAMESPACE_DEFINITION,
    "namespaceFormat": rq.STR,
    "prefix": rq.STR,
    "syncCatalog": rq.OBJ,
    "schedule": rq.OBJ,
    "scheduleType": _SCHEDULE_TYPE,
    "scheduleData": rq.OBJ,
    "status": _CONNECTION_STATUS,
    "nonBreakingChangesPreference": _NON_BREAKING,
    "notifySchemaChanges": rq.BOOL,
    "notifySchemaChangesByEmail": rq.BOOL,
    "operationIds": rq.ARR,
}


def _actor_models(kind: str) -> dict[str, rq.Model]:
    singular = kind[:-1]
    cap = singular.capitalize()
    return {
        "create": rq.Model(
            f"{cap}Create",
            {
                f"{singular}DefinitionId": rq.UUID_,
                "workspaceId": rq.UUID_,
                "name": rq.STR,
                "connectionConfiguration": rq.OBJ,
            },
            (f"{singular}DefinitionId", "workspaceId", "name", "connectionConfiguration"),
            f"create{cap}",
        ),
        "update": rq.Model(
            f"{cap}Update",
            {f"{singular}Id": rq.UUID_, "name": rq.STR, "connectionConfiguration": rq.OBJ},
            (f"{singular}Id", "name", "connectionConfiguration"),
            f"update{cap}",
        ),
        "id": _ids(f"{cap}IdRequestBody", f"{singular}Id", f"get{cap}"),
        # ActorListCursorPaginatedRequestBody (v1.8.0+); WorkspaceIdRequestBody before.
        "list_cursor": rq.Model(
            "ActorListCursorPaginatedRequestBody",
            {
                "workspaceId": rq.UUID_,
                "cursor": rq.UUID_,
                "pageSize": rq.INT32,
                "filters": rq.OBJ,
                "sortKey": rq.enum(
                    "ActorListSortKey",
                    (
                        "actorName_asc",
                        "actorName_desc",
                        "actorDefinitionName_asc",
                        "actorDefinitionName_desc",
                        "lastSync_asc",
                        "lastSync_desc",
                    ),
                ),
            },
            ("workspaceId",),
            f"list{cap}sForWorkspace",
        ),
    }


# -- rendering ----------------------------------------------------------------------------------


def _profile(service: Service) -> Any:
    return service.settings.profile


def _actor_read(service: Service, kind: str, actor: dict[str, Any]) -> dict[str, Any]:
    return {**actor, "connectionConfiguration": service.masked_config(kind, actor)}


def _synchronous_job(
    config_type: str, config_id: str, ok: bool, started: float, message: str
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "configType": config_type,
        "configId": config_id,
        "createdAt": int(started),
        "endedAt": int(time.time()),
        "succeeded": ok,
        "connectorConfigurationUpdated": False,
        "logType": "formatted",
        "logs": {"logLines": [message]},
    }


def _alias(name: str) -> str:
    """``Names.toAlphanumericAndUnderscore``: anything else becomes ``_``."""
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)


def connection_read(connection: dict[str, Any]) -> dict[str, Any]:
    """``ConnectionRead`` from the stored connection, as ``ConnectionsHandler`` builds it.

    The stored catalog is the *configured* one (``CatalogConverter.toConfiguredInternal``
    keeps only selected streams, ~283-288), so only selected streams come back, each with
    ``selected: true``, ``suggested: false`` and ``aliasName`` made alphanumeric
    (``CatalogConverter.toApi(ConfiguredAirbyteCatalog)``, ~77-134).
    """
    body = {
        k: v for k, v in connection.items() if v is not None and k not in ("syncCatalog", "tags")
    }
    streams = []
    for item in (connection.get("syncCatalog") or {}).get("streams", []):
        config = dict(item.get("config") or {})
        if not config.get("selected", True):
            continue
        stream = item["stream"]
        selection = bool(config.get("fieldSelectionEnabled"))
        config.update(
            selected=True,
            suggested=False,
            aliasName=_alias(stream["name"]),
            fieldSelectionEnabled=selection,
            selectedFields=[
                {"fieldPath": [name]}
                for name in (stream.get("jsonSchema") or {}).get("properties", {})
            ]
            if selection
            else [],
        )
        streams.append({"stream": stream, "config": config})
    body["syncCatalog"] = {"streams": streams}
    return body


# -- workspaces ---------------------------------------------------------------------------------


def _workspaces_list(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return {"workspaces": service.store.list("workspaces")}


def _workspaces_get(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return service.workspace(body["workspaceId"])


def _workspaces_get_by_slug(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """``WorkspacesHandler.getWorkspaceBySlug``: unknown -> 404 (ConfigNotFoundException)."""
    for workspace in service.store.list("workspaces"):
        if workspace.get("slug") == body["slug"]:
            return workspace
    raise NotFound("workspace", body["slug"])


def _workspaces_create(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """``WorkspacesHandler.createWorkspace`` (``.java@v1.6.0:170-205``)."""
    if body.get("organizationId") is not None:
        service.organization(body["organizationId"])
    return service.create_workspace(
        body["name"],
        email=body.get("email"),
        flags={
            k: bool(body[k])
            for k in ("anonymousDataCollection", "news", "securityUpdates", "displaySetupWizard")
            if body.get(k) is not None
        },
        initial_setup_complete=False,
    )


# -- definitions --------------------------------------------------------------------------------


def _source_definitions_list(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return {"sourceDefinitions": service.source_definitions()}


def _destination_definitions_list(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return {"destinationDefinitions": service.destination_definitions()}


def _for_workspace(handler: Handler) -> Handler:
    def wrapped(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        service.workspace(body["workspaceId"])
        result: dict[str, Any] = handler(service, body)
        return result

    return wrapped


# -- sources and destinations -------------------------------------------------------------------


def _actor_endpoints(kind: str, profile: Any) -> dict[str, Endpoint]:
    singular = kind[:-1]
    id_key = f"{singular}Id"
    def_key = f"{singular}DefinitionId"
    models = _actor_models(kind)

    def create(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        actor = service.create_actor(
            kind, body["workspaceId"], body[def_key], body["name"], body["connectionConfiguration"]
        )
        return _actor_read(service, kind, actor)

    def get(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        return _actor_read(service, kind, service.actor(kind, body[id_key]))

    def list_all(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        service.workspace(body["workspaceId"])
        actors = service.store.list(kind, [body["workspaceId"]])
        return {kind: [_actor_read(service, kind, a) for a in actors]}

    def list_cursor(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        """v1.8.0+: cursor-paginated, page size 20 by default.

        ``SourceHandler.kt@v1.8.0:340-405``; sort by name (default ascending) then id in the
        same direction (``ActorServicePaginationHelper.kt@v1.8.0:434``); ``cursor`` is the id
        of the previous page's last item; ``num_connections`` counts the matching actors.
        """
        service.workspace(body["workspaceId"])
        page_size = body.get("pageSize") or 20
        if page_size < 1:
            raise ConstraintViolation(f"{models['list_cursor'].method}.pageSize", "must be >= 1")
        sort = body.get("sortKey") or "actorName_asc"
        descending = sort.endswith("_desc")
        by_definition = sort.startswith("actorDefinitionName")
        name_key = f"{singular}Name" if by_definition else "name"
        actors = service.store.list(kind, [body["workspaceId"]])
        search = ((body.get("filters") or {}).get("searchTerm") or "").lower()
        if search:
            actors = [a for a in actors if search in a["name"].lower()]
        actors.sort(key=lambda a: (a.get(name_key) or "", a[id_key]), reverse=descending)
        cursor = body.get("cursor")
        if cursor is not None:
            ids = [a[id_key] for a in actors]
            # An unknown cursor finds no anchor row: nothing after it.
            actors = actors[ids.index(cursor) + 1 :] if cursor in ids else []
        total = len(service.store.list(kind, [body["workspaceId"]]))
        page = actors[:page_size]
        return {
            kind: [_actor_read(service, kind, a) for a in page],
            "page_size": page_size,
            "num_connections": total,
        }

    def update(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        actor = service.update_actor(
            kind, body[id_key], body["name"], body["connectionConfiguration"]
        )
        return _actor_read(service, kind, actor)

    def delete(service: Service, body: dict[str, Any]) -> None:
        service.delete_actor(kind, body[id_key])

    def check(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        actor = service.actor(kind, body[id_key])
        started = time.time()
        ok, message = service.check(kind, actor)
        return {
            "status": "succeeded" if ok else "failed",
            "message": message,
            "jobInfo": _synchronous_job(
                f"check_connection_{singular}", actor[id_key], ok, started, message
            ),
        }

    list_models = (
        Endpoint(list_cursor, models["list_cursor"])
        if profile.actor_list_cursor
        else Endpoint(list_all, _WORKSPACE_ID)
    )
    return {
        f"{kind}/create": Endpoint(create, models["create"]),
        f"{kind}/get": Endpoint(get, models["id"]),
        f"{kind}/list": list_models,
        f"{kind}/update": Endpoint(update, models["update"]),
        f"{kind}/delete": Endpoint(delete, models["id"]),
        f"{kind}/check_connection": Endpoint(check, models["id"]),
    }


def _discover_schema(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """``SchedulerHandler.retrieveDiscoveredSchema`` (~458-478).

    A failed discover is still HTTP 200: ``jobInfo.succeeded = false`` with a failure reason,
    and no ``catalog``/``catalogId`` at all.
    """
    source = service.actor("sources", body["sourceId"])
    started = time.time()
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


# -- connections --------------------------------------------------------------------------------


def _tagged_read(service: Service, connection: dict[str, Any]) -> dict[str, Any]:
    """``connection_read`` plus ``tags`` where the release has them (ConnectionRead@v1.6.0;
    ``ApiPojoConverters.java@v1.6.0`` ~173)."""
    read = connection_read(connection)
    if _profile(service).connection_tags:
        read["tags"] = list(connection.get("tags") or [])
    return read


def _connections_create(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    # ConnectionsHandler.kt ~520: no namespaceDefinition means "source".
    created = service.create_connection({"namespaceDefinition": "source", **body})
    return _tagged_read(service, created)


def _connections_update(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return _tagged_read(service, service.update_connection(body))


def _connections_get(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return _tagged_read(service, service.connection(body["connectionId"]))


def _tags_list(service: Service, body: dict[str, Any]) -> list[dict[str, Any]]:
    """``tags/list`` (TagController.kt@v1.6.0): the workspace's tags, a bare array."""
    service.workspace(body["workspaceId"])
    return service.tags([body["workspaceId"]])


def _tags_create(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return service.create_tag(body["workspaceId"], body["name"], body["color"])


def _connections_list(include_deleted: bool) -> Handler:
    """``connections/list`` leaves deleted (deprecated) connections out; ``list_all`` keeps them
    (``ConnectionsHandler.kt@main`` ~1190-1213). Both unpaginated, with full catalogs."""

    def handler(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        service.workspace(body["workspaceId"])
        connections = service.store.list("connections", [body["workspaceId"]])
        return {
            "connections": [
                _tagged_read(service, c)
                for c in connections
                if include_deleted or c.get("status") != "deprecated"
            ]
        }

    return handler


def _connections_delete(service: Service, body: dict[str, Any]) -> None:
    service.delete_connection(body["connectionId"])


def _connections_job(config_type: str) -> Handler:
    """``connections/sync``, ``reset`` and ``clear``: ``JobInfoRead`` via ``getJobInfoRead``.

    ``clear`` runs as a reset: it is stored as ``reset_connection``
    (``airbyte-data/.../mappers/JobMapper.kt`` ~111: CLEAR -> reset_connection).
    """

    def start(service: Service, body: dict[str, Any]) -> dict[str, Any]:
        job = service.engine.start(body["connectionId"], config_type)
        return job_info_read(service.job(job["id"]), _profile(service), service.settings.log_lines)

    return start


def _connections_refresh(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """``connections/refresh``: ``BooleanRead`` until v1.1, ``JobReadResponse{job}`` from v1.2."""
    streams = [
        {
            "name": rq.STR(s.get("streamName"), "streamName"),
            **({"namespace": s["streamNamespace"]} if s.get("streamNamespace") else {}),
        }
        for s in (body.get("streams") or [])
        if isinstance(s, dict) and s.get("streamName") is not None
    ] or None
    job = service.engine.start(
        body["connectionId"], "refresh", streams=streams, refresh_mode=body.get("refreshMode")
    )
    if not _profile(service).refresh_returns_job:
        return {"value": True}
    return {"job": job_info_light_read(service.job(job["id"]), _profile(service))["job"]}


def _sync_progress(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    profile = _profile(service)
    if profile.sync_progress == "stub":
        raise RouteMiss()  # the v0.50.32-v0.57 controller returns null: Micronaut's 404
    connection_id = service.connection(body["connectionId"])["connectionId"]
    job = service.store.active_job(connection_id)
    if job is not None and profile.sync_progress == "object" and job["configType"] != "sync":
        job = None  # v0.61-v0.63: running *sync* jobs only
    return sync_progress_read(
        connection_id, service.with_forced_status(job) if job else None, profile
    )


def _web_backend_connection(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """``WebBackendConnectionsHandler.webBackendGetConnection`` (``.java@v1.6.0:262-340``).

    Unlike ``connections/get`` the catalog is the full one: unselected streams included.
    """
    profile = _profile(service)
    connection = service.connection(body["connectionId"])
    source = service.actor("sources", connection["sourceId"])
    destination = service.actor("destinations", connection["destinationId"])
    read = connection_read(connection)
    selected = {
        (s["stream"]["name"], s["stream"].get("namespace")): s
        for s in read["syncCatalog"]["streams"]
    }
    streams = []
    for item in (connection.get("syncCatalog") or {}).get("streams", []):
        key = (item["stream"]["name"], item["stream"].get("namespace"))
        if key in selected:
            streams.append(selected[key])
        else:
            config = dict(item.get("config") or {})
            config.update(selected=False, aliasName=_alias(item["stream"]["name"]))
            streams.append({"stream": item["stream"], "config": config})
    last = service.store.last_job(connection["connectionId"], config_types=("sync",))
    running = service.store.active_job(connection["connectionId"])
    result: dict[str, Any] = {
        **{
            k: v
            for k, v in read.items()
            if k not in ("breakingChange", "workspaceId", "created_at")
        },
        "syncCatalog": {"streams": streams},
        "source": _actor_read(service, "sources", source),
        "destination": _actor_read(service, "destinations", destination),
        "isSyncing": running is not None and running["configType"] == "sync",
        "schemaChange": "breaking" if connection.get("breakingChange") else "no_change",
        "notifySchemaChanges": bool(connection.get("notifySchemaChanges")),
        "notifySchemaChangesByEmail": bool(connection.get("notifySchemaChangesByEmail")),
        "nonBreakingChangesPreference": connection.get("nonBreakingChangesPreference") or "ignore",
        "operations": [],
        "createdAt": connection.get("created_at", 0),
    }
    if last is not None:
        result["latestSyncJobCreatedAt"] = int(last["createdAt"])
        result["latestSyncJobStatus"] = service.with_forced_status(last)["status"]
    if profile.web_backend_versions:
        for side, actor, kind in (
            ("source", source, "sources"),
            ("destination", destination, "destinations"),
        ):
            version: dict[str, Any] = {
                "dockerRepository": service.connector_of(kind, actor).docker_repository,
                "dockerImageTag": "local",
                "supportsRefreshes": True,
                "supportState": "supported",
                "isVersionOverrideApplied": False,
            }
            if profile.file_transfer:
                version["supportsFileTransfer"] = False
            if profile.data_activation:
                version["supportsDataActivation"] = False
            result[f"{side}ActorDefinitionVersion"] = version
    if profile.connection_tags:
        result["tags"] = list(connection.get("tags") or [])
    if profile.on_demand_field:
        result["onDemandEnabled"] = False
    return result


def _state_get(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """``StateHandler.getState`` -> ``StateConverter.toApi`` (``StateConverter.kt@v1.6.0:39-48``).

    Per-stream cursors are ``stream`` state; none yet is ``not_set``.
    """
    connection = service.connection(body["connectionId"])
    states = service.store.list_state(connection["connectionId"])
    with_cursor = [(key, value) for key, value in states if "cursor" in value]
    if not with_cursor:
        return {"stateType": "not_set", "connectionId": connection["connectionId"]}
    items = []
    for key, value in with_cursor:
        namespace, _, name = key.partition("/")
        descriptor = {"name": name, **({"namespace": namespace} if namespace else {})}
        items.append({"streamDescriptor": descriptor, "streamState": value["cursor"]})
    return {"stateType": "stream", "connectionId": connection["connectionId"], "streamState": items}


def _users_get_by_auth_id(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """``UserHandler.getUserByAuthId`` (``UserHandler.kt@main:182-188``).

    OSS has one default user whose id and auth id are all zeros (``Constants.kt@main:32``);
    any other auth id is a 404.
    """
    default = "00000000-0000-0000-0000-000000000000"
    if body["authUserId"] != default:
        raise NotFound("user", body["authUserId"])
    workspaces = service.store.list("workspaces")
    user: dict[str, Any] = {
        "userId": default,
        "name": "Default User",
        "email": "",
        "status": "registered",
        "news": False,
        "metadata": {},
    }
    if workspaces:
        user["defaultWorkspaceId"] = workspaces[0]["workspaceId"]
    if _profile(service).user_read_auth_fields:
        user.update(authUserId=default, authProvider="airbyte")
    return user


def _config_token(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """Config ``POST /v1/applications/token`` (since v0.50.38; ``ApplicationsController.kt@main:50``):
    ``AccessToken{access_token}``, the same token the Public API issues."""
    return {"access_token": service.tokens.issue(body["client_id"], body["client_secret"])}


# -- jobs ---------------------------------------------------------------------------------------


def _jobs_get(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return job_info_read(service.job(body["id"]), _profile(service), service.settings.log_lines)


def _jobs_get_without_logs(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return job_info_without_logs(service.job(body["id"]), _profile(service))


def _jobs_get_light(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    return job_info_light_read(service.job(body["id"]), _profile(service))


def _jobs_cancel(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """``SchedulerHandler.cancelJob``: see ``JobEngine.cancel`` (per connection, not per job)."""
    job = service.job(body["id"])
    service.engine.cancel(job["id"])
    return job_info_read(service.job(job["id"]), _profile(service), service.settings.log_lines)


def _iso(value: str | None) -> float | None:
    return (
        None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    )


def _jobs_list(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """``JobHistoryHandler.listJobsFor`` (``.kt@main`` ~91-160): default page size 200.

    Missing or empty ``configTypes`` fail ``requireNotNull``/``check``: uncaught, a 500.
    """
    config_types = body.get("configTypes")
    if not config_types:
        raise IllegalState("Must include at least one configType.")
    pagination = body.get("pagination") or {}
    page_size = pagination.get("pageSize") or 200
    offset = pagination.get("rowOffset") or 0
    jobs, total = service.store.list_jobs(
        connection_ids=[body["configId"]] if body.get("configId") else None,
        config_types=config_types,
        statuses=body.get("statuses"),
        created_after=_iso(body.get("createdAtStart")),
        created_before=_iso(body.get("createdAtEnd")),
        updated_after=_iso(body.get("updatedAtStart")),
        updated_before=_iso(body.get("updatedAtEnd")),
        order_by="updated_at" if body.get("orderByField") == "updatedAt" else "created_at",
        descending=body.get("orderByMethod", "DESC") != "ASC",
        limit=int(page_size),
        offset=int(offset),
    )
    profile = _profile(service)
    return {
        "jobs": [job_with_attempts_read(service.with_forced_status(j), profile) for j in jobs],
        "totalJobCount": total,
    }


def _job_list_model(profile: Any) -> rq.Model:
    config_type = rq.enum("JobConfigType", profile.job_config_types)
    status = rq.enum("JobStatus", profile.job_statuses)
    fields: dict[str, rq.Check] = {
        "configTypes": rq.list_of(config_type),
        "configId": rq.STR,
        "includingJobId": rq.INT64,
        "pagination": rq.nested(
            rq.Model("Pagination", {"pageSize": rq.INT32, "rowOffset": rq.INT32})
        ),
    }
    required: tuple[str, ...] = ("configTypes",)
    if profile.job_level_stats:  # the v0.50.18+ filters (configId optional from v0.50.46)
        fields.update(
            statuses=rq.list_of(status),
            createdAtStart=rq.DATETIME,
            createdAtEnd=rq.DATETIME,
            updatedAtStart=rq.DATETIME,
            updatedAtEnd=rq.DATETIME,
            orderByField=_ORDER_FIELD,
            orderByMethod=_ORDER_METHOD,
        )
    else:
        required = ("configTypes", "configId")
    return rq.Model("JobListRequestBody", fields, required, "listJobsFor")


# -- the table ----------------------------------------------------------------------------------


def endpoints(profile: Any) -> dict[str, Endpoint]:
    """Every action this server implements, bound for ``profile`` (absent ones filtered later)."""
    connection_create = rq.Model(
        "ConnectionCreate",
        {"sourceId": rq.UUID_, "destinationId": rq.UUID_, **_CONNECTION_FIELDS},
        ("sourceId", "destinationId", "status"),
        "createConnection",
    )
    connection_update = rq.Model(
        "ConnectionUpdate",
        {"connectionId": rq.UUID_, **_CONNECTION_FIELDS},
        ("connectionId",),
        "updateConnection",
    )
    workspace_create = rq.Model(
        "WorkspaceCreate",
        {
            "name": rq.STR,
            "organizationId": rq.UUID_,
            "email": rq.STR,
            "anonymousDataCollection": rq.BOOL,
            "news": rq.BOOL,
            "securityUpdates": rq.BOOL,
            "displaySetupWizard": rq.BOOL,
            "notifications": rq.ARR,
        },
        # organizationId required from v0.58.0 (WorkspaceCreate@v0.58.0)
        ("name",) if profile.name == "0.50" else ("name", "organizationId"),
        "createWorkspace",
    )
    refresh_fields: dict[str, rq.Check] = {
        "connectionId": rq.UUID_,
        "refreshMode": rq.enum("RefreshMode", ("Truncate", "Merge")),
        "streams": rq.ARR,
    }
    table: dict[str, Endpoint] = {
        "workspaces/list": Endpoint(_workspaces_list, None),
        "workspaces/get": Endpoint(_workspaces_get, _WORKSPACE_ID),
        "workspaces/get_by_slug": Endpoint(
            _workspaces_get_by_slug,
            rq.Model("SlugRequestBody", {"slug": rq.STR}, ("slug",), "getBySlug"),
        ),
        "workspaces/create": Endpoint(_workspaces_create, workspace_create),
        "source_definitions/list": Endpoint(_source_definitions_list, None),
        "source_definitions/list_for_workspace": Endpoint(
            _for_workspace(_source_definitions_list), _WORKSPACE_ID
        ),
        "destination_definitions/list": Endpoint(_destination_definitions_list, None),
        "destination_definitions/list_for_workspace": Endpoint(
            _for_workspace(_destination_definitions_list), _WORKSPACE_ID
        ),
        **_actor_endpoints("sources", profile),
        **_actor_endpoints("destinations", profile),
        "sources/discover_schema": Endpoint(
            _discover_schema,
            rq.Model(
                "SourceDiscoverSchemaRequestBody",
                {"sourceId": rq.UUID_, "connectionId": rq.UUID_, "disable_cache": rq.BOOL},
                ("sourceId",),
                "discoverSchemaForSource",
            ),
        ),
        "connections/create": Endpoint(_connections_create, connection_create),
        "connections/update": Endpoint(_connections_update, connection_update),
        "connections/get": Endpoint(_connections_get, _CONNECTION_ID),
        "connections/list": Endpoint(_connections_list(False), _WORKSPACE_ID),
        "connections/list_all": Endpoint(_connections_list(True), _WORKSPACE_ID),
        "connections/delete": Endpoint(_connections_delete, _CONNECTION_ID),
        "connections/sync": Endpoint(_connections_job("sync"), _CONNECTION_ID),
        "connections/reset": Endpoint(_connections_job("reset_connection"), _CONNECTION_ID),
        "connections/clear": Endpoint(_connections_job("reset_connection"), _CONNECTION_ID),
        "connections/refresh": Endpoint(
            _connections_refresh,
            rq.Model(
                "ConnectionStreamRefreshRequestBody",
                refresh_fields,
                # refreshMode required from v0.60.0 (ConnectionStreamRefreshRequestBody@v0.60.0:8152)
                ("connectionId", "refreshMode"),
                "refreshConnectionStream",
            ),
        ),
        "connections/sync_progress": Endpoint(_sync_progress, _CONNECTION_ID),
        "web_backend/connections/get": Endpoint(
            _web_backend_connection,
            rq.Model(
                "WebBackendConnectionRequestBody",
                {"connectionId": rq.UUID_, "withRefreshedCatalog": rq.BOOL},
                ("connectionId",),
                "webBackendGetConnection",
            ),
        ),
        "state/get": Endpoint(_state_get, _CONNECTION_ID),
        "users/get_by_auth_id": Endpoint(
            _users_get_by_auth_id,
            rq.Model(
                "UserAuthIdRequestBody", {"authUserId": rq.STR}, ("authUserId",), "getUserByAuthId"
            ),
        ),
        "applications/token": Endpoint(
            _config_token,
            rq.Model(
                "ApplicationTokenRequest",
                {"client_id": rq.STR, "client_secret": rq.STR},
                ("client_id", "client_secret"),
                "applicationTokenRequest",
            ),
        ),
        "jobs/get": Endpoint(_jobs_get, _JOB_ID),
        "jobs/get_without_logs": Endpoint(_jobs_get_without_logs, _JOB_ID),
        "jobs/get_light": Endpoint(_jobs_get_light, _JOB_ID),
        "jobs/cancel": Endpoint(_jobs_cancel, _JOB_ID),
        "jobs/list": Endpoint(_jobs_list, _job_list_model(profile)),
    }
    if profile.connection_tags:
        table["tags/list"] = Endpoint(
            _tags_list, _ids("TagListRequestBody", "workspaceId", "listTags")
        )
        table["tags/create"] = Endpoint(
            _tags_create,
            rq.Model(
                "TagCreateRequestBody",
                {"workspaceId": rq.UUID_, "name": rq.STR, "color": rq.STR},
                ("workspaceId", "name", "color"),
                "createTag",
            ),
        )
    return {k: v for k, v in table.items() if profile.has_config_action(k)}


# Every action of the default profile (tests walk it to check auth on each route).
ENDPOINTS: dict[str, Endpoint] = endpoints(get_profile(None))

_NO_CONTENT = frozenset({"sources/delete", "destinations/delete", "connections/delete"})


def build_router(service: Service) -> APIRouter:
    """The Config API routes, bound to one server's service and profile."""
    router = APIRouter()
    profile = service.settings.profile
    table = endpoints(profile)

    @router.get("/api/v1/health")
    def health() -> dict[str, Any]:
        return {"available": True}

    @router.api_route("/api/v1/{action:path}", methods=["GET", "PUT", "PATCH", "DELETE"])
    def wrong_method(action: str, request: Request) -> Response:
        """Micronaut: 405 for a path that exists under another method, 404 otherwise."""
        if action in table:
            raise RouteMiss(request.method, ("POST",))
        raise RouteMiss()

    @router.post("/api/v1/{action:path}")
    async def dispatch(action: str, request: Request) -> Response:
        endpoint = table.get(action)
        if endpoint is None:
            raise RouteMiss()
        body = rq.bind(endpoint.model, await request.body())
        result = await _run(endpoint.handler, service, body)
        if action in _NO_CONTENT:
            return Response(status_code=204)
        return JSONResponse(result)

    return router


async def _run(handler: Handler, service: Service, body: dict[str, Any]) -> Any:
    """Handlers block (SQLite, connectors): run them on the thread pool, as sync routes do."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(handler, service, body)
