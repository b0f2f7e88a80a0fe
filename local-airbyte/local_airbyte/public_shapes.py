"""Public API shapes <-> the stored (Config API) shapes, in both directions.

Resources are stored as the Config API sees them (``service.py``). The Public API renames and
folds a few things (DIGEST §2.4): ``custom_format``/``customformat``,
``disable_connection``/``disable``, one ``syncMode`` word for two Config modes, a schedule as
``{scheduleType, cronExpression: "<expr> <zone>"}``. This module is the one place that knows
those differences, so the Public routes stay thin and every rule lives in the service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .api_errors import InvalidInput, UnprocessableEntity
from .cron import CronError, QuartzCron
from .service import (
    Service,
    destination_slug,
    get_field,
    require_object,
    source_slug,
)

__all__ = [
    "JOB_TYPES",
    "SYNC_MODES",
    "actor_create",
    "actor_update",
    "connection_fields",
    "connection_response",
    "destination_response",
    "iso_duration",
    "iso_utc",
    "select_streams",
    "source_response",
    "workspace_response",
]

# Config job type -> Public ``JobTypeEnum``.
JOB_TYPES = {"sync": "sync", "reset_connection": "reset", "refresh": "refresh", "clear": "clear"}

# (syncMode, destinationSyncMode) -> ``ConnectionSyncModeEnum``, for the pairs the engine runs.
SYNC_MODES = {
    ("full_refresh", "overwrite"): "full_refresh_overwrite",
    ("full_refresh", "overwrite_dedup"): "full_refresh_overwrite_deduped",
    ("full_refresh", "append"): "full_refresh_append",
    ("incremental", "append"): "incremental_append",
    ("incremental", "append_dedup"): "incremental_deduped_history",
}
_SPLIT_MODES = {v: k for k, v in SYNC_MODES.items()}
# In the enum, but needing destination features the local connectors do not have.
_UNSUPPORTED_MODES = (
    "full_refresh_update",
    "full_refresh_soft_delete",
    "incremental_update",
    "incremental_soft_delete",
)
_NAMESPACE_DEFINITIONS = {
    "source": "source",
    "destination": "destination",
    "custom_format": "customformat",
}
_NON_BREAKING = {
    "ignore": "ignore",
    "disable_connection": "disable",
    "propagate_columns": "propagate_columns",
    "propagate_fully": "propagate_fully",
}


# -- responses ------------------------------------------------------------------------------------


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_duration(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or text == "PT" else "")


def workspace_response(ws: dict[str, Any]) -> dict[str, Any]:
    return {
        "workspaceId": ws["workspaceId"],
        "name": ws["name"],
        "dataResidency": "auto",
        "notifications": {},
    }


def _slug(service: Service, kind: str, actor: dict[str, Any]) -> str:
    try:
        connector = service.connector_of(kind, actor)
    except Exception:
        return ""  # as Airbyte does for a definition it does not know
    return source_slug(connector) if kind == "sources" else destination_slug(connector)


def source_response(service: Service, source: dict[str, Any]) -> dict[str, Any]:
    return {
        "sourceId": source["sourceId"],
        "name": source["name"],
        "sourceType": _slug(service, "sources", source),
        "definitionId": source["sourceDefinitionId"],
        "workspaceId": source["workspaceId"],
        "configuration": service.masked_config("sources", source),
        "createdAt": source["createdAt"],
    }


def destination_response(service: Service, dest: dict[str, Any]) -> dict[str, Any]:
    return {
        "destinationId": dest["destinationId"],
        "name": dest["name"],
        "destinationType": _slug(service, "destinations", dest),
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


def connection_response(connection: dict[str, Any], profile: Any = None) -> dict[str, Any]:
    """Stored connection -> ``ConnectionResponse`` (only selected streams, folded sync modes)."""
    streams = []
    for item in connection["syncCatalog"]["streams"]:
        stream, config = item["stream"], item["config"]
        if not config.get("selected", True):
            continue
        entry: dict[str, Any] = {
            "name": stream["name"],
            "syncMode": SYNC_MODES.get(
                (config["syncMode"], config["destinationSyncMode"]), "full_refresh_overwrite"
            ),
            "cursorField": config.get("cursorField") or [],
            "primaryKey": config.get("primaryKey") or [],
        }
        if stream.get("namespace"):
            entry["namespace"] = stream["namespace"]
        streams.append(entry)
    definition = connection.get("namespaceDefinition") or "destination"
    preference = connection.get("nonBreakingChangesPreference") or "ignore"
    body: dict[str, Any] = {
        "connectionId": connection["connectionId"],
        "name": connection["name"],
        "sourceId": connection["sourceId"],
        "destinationId": connection["destinationId"],
        "workspaceId": connection["workspaceId"],
        "status": connection["status"],
        "schedule": _schedule_response(connection),
        "dataResidency": "auto",
        "nonBreakingSchemaUpdatesBehavior": "disable_connection"
        if preference == "disable"
        else preference,
        "namespaceDefinition": "custom_format" if definition == "customformat" else definition,
        "prefix": connection.get("prefix") or "",
        "configurations": {"streams": streams},
        "createdAt": connection.get("created_at", 0),
    }
    if profile is None or profile.connection_tags:  # required from v1.6.0
        # ConnectionReadMapper.kt@v1.6.0 ~100, ~142: {tagId, name, color, workspaceId}
        body["tags"] = [
            {k: t[k] for k in ("tagId", "name", "color", "workspaceId")}
            for t in connection.get("tags") or []
        ]
    if connection.get("namespaceFormat") is not None:
        body["namespaceFormat"] = connection["namespaceFormat"]
    return body


# -- requests: sources and destinations -----------------------------------------------------------


def actor_create(service: Service, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """``SourceCreateRequest`` / ``DestinationCreateRequest`` -> the stored actor.

    As in Airbyte, ``definitionId`` may be left out when ``configuration.sourceType`` (or
    ``destinationType``) names the connector (``DestinationsController.kt`` ~60-78; neither:
    422). The word is then removed from the configuration, on create, patch and put
    (``publicapi/helpers/ActorConfigurationHelper.kt``): responses carry it only as the
    top-level ``sourceType``/``destinationType`` (REAL-BEHAVIOUR §22).
    """
    name = get_field(body, "name")
    workspace_id = get_field(body, "workspaceId", "uuid")
    configuration = get_field(body, "configuration", "object")
    definition_id = get_field(body, "definitionId", "uuid", required=False)
    if definition_id is None:
        definition_id = _definition_from_type(service, kind, configuration)
    configuration = _without_type(kind, configuration)
    return service.create_actor(kind, workspace_id, definition_id, name, configuration)


def _without_type(kind: str, configuration: dict[str, Any]) -> dict[str, Any]:
    key = "sourceType" if kind == "sources" else "destinationType"
    return {k: v for k, v in configuration.items() if k != key}


def _definition_from_type(service: Service, kind: str, configuration: dict[str, Any]) -> str:
    key = "sourceType" if kind == "sources" else "destinationType"
    word = configuration.get(key)
    if not isinstance(word, str) or not word:
        raise UnprocessableEntity(f"definitionId is required unless configuration.{key} is given")
    table = service.registry.sources if kind == "sources" else service.registry.destinations
    slug = source_slug if kind == "sources" else destination_slug
    for definition_id, connector in table.items():
        if slug(connector) == word:
            return definition_id
    known = ", ".join(sorted(slug(c) for c in table.values()))
    raise InvalidInput(f"configuration.{key}", f"unknown connector (known: {known})", word)


def actor_update(
    service: Service, kind: str, actor_id: str, body: dict[str, Any], *, replace: bool
) -> dict[str, Any]:
    """``PUT`` replaces name and configuration; ``PATCH`` changes what it sends.

    A PATCH configuration is merged into the stored one (Airbyte's partial update), so a client
    can change one key without sending, or even knowing, the secrets.
    """
    current = service.actor(kind, actor_id)
    name = get_field(body, "name", required=replace)
    configuration = get_field(body, "configuration", "object", required=replace)
    if configuration is not None:
        configuration = _without_type(kind, configuration)
    workspace_id = get_field(body, "workspaceId", "uuid", required=False)
    if workspace_id is not None and workspace_id != current["workspaceId"]:
        raise InvalidInput("workspaceId", "cannot move a resource to another workspace")
    return service.update_actor(kind, actor_id, name, configuration, merge=not replace)


# -- requests: connections ------------------------------------------------------------------------


def _schedule_fields(schedule: dict[str, Any]) -> dict[str, Any]:
    """``AirbyteApiConnectionSchedule`` -> ``scheduleType``/``scheduleData``.

    ``ScheduleTypeEnum`` in requests is ``manual`` | ``cron``. For cron the Public API checks
    the expression itself first (``publicapi/helpers/AirbyteCatalogHelper.kt``
    ``validateCronConfiguration`` ~210-250): a trailing ``UTC`` is stripped
    (``normalizeCronExpression``), the rest must parse as Quartz (so any other zone word is a
    400), and the seconds value must be a number (with a year, the minutes too). The mapper
    then stores the expression with ``cronTimeZone = "UTC"`` (``ConnectionCreateMapper.kt``
    ~54-58, ``ConnectionUpdateMapper.kt`` ~62-66): the Public API cannot set another zone.
    """
    from .requests import convert_query, enum

    kind = convert_query(
        enum("ScheduleTypeEnum", ("manual", "cron")), "scheduleType", schedule.get("scheduleType")
    )
    if kind == "manual":
        return {"scheduleType": "manual"}
    raw = schedule.get("cronExpression")
    if raw is None:
        raise InvalidInput("", "Missing cron expression in the schedule.")
    expression = str(raw)
    if expression.endswith("UTC"):
        expression = expression.replace("UTC", "").strip()
    try:
        QuartzCron(expression, "UTC")
    except CronError as exc:
        raise InvalidInput(
            "",
            f"The cron expression {raw} is not valid. Error: {exc}. Please check the cron expression"
            " format at https://www.quartz-scheduler.org/documentation/quartz-2.3.0/tutorials/crontrigger.html",
        ) from None
    fields = expression.split()
    if not fields[0].isdigit() or (len(fields) == 7 and not fields[1].isdigit()):
        raise InvalidInput(
            "",
            f"The cron expression {raw} is not valid or is less than the one hour minimum. The"
            " seconds and minutes values cannot be `*`.",
        )
    cron = {"cronExpression": expression, "cronTimeZone": "UTC"}
    return {"scheduleType": "cron", "scheduleData": {"cron": cron}}


def connection_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of a ``ConnectionCreateRequest``/``ConnectionPatchRequest`` in Config names.

    Only what the request sends; ``configurations`` is handled by :func:`select_streams`.
    Bound as Jackson binds the generated model: strings take any scalar (``5`` -> ``"5"``),
    an enum value the model lacks is Micronaut's 400. Everything else is the service's.
    """
    from .requests import STR, convert_query, enum

    fields: dict[str, Any] = {}
    for key in ("name", "prefix", "namespaceFormat"):
        if key in body:
            value = body[key]
            fields[key] = None if value is None else convert_query(STR, key, value)
    statuses = ("active", "inactive", "deprecated")
    if body.get("status") is not None:
        fields["status"] = convert_query(
            enum("ConnectionStatusEnum", statuses), "status", body["status"]
        )
    if body.get("namespaceDefinition") is not None:
        check = enum("NamespaceDefinitionEnum", tuple(_NAMESPACE_DEFINITIONS))
        value = convert_query(check, "namespaceDefinition", body["namespaceDefinition"])
        fields["namespaceDefinition"] = _NAMESPACE_DEFINITIONS[value]
    if body.get("nonBreakingSchemaUpdatesBehavior") is not None:
        check = enum("NonBreakingSchemaUpdatesBehaviorEnum", tuple(_NON_BREAKING))
        value = convert_query(
            check, "nonBreakingSchemaUpdatesBehavior", body["nonBreakingSchemaUpdatesBehavior"]
        )
        fields["nonBreakingChangesPreference"] = _NON_BREAKING[value]
    if body.get("schedule") is not None:
        fields.update(_schedule_fields(require_object(body["schedule"], "schedule")))
    if body.get("tags") is not None:
        # ConnectionUpdateMapper.kt@v1.6.0 ~88: the tags replace the connection's.
        fields["tags"] = get_field(body, "tags", "list")
    return fields


def select_streams(
    catalog: dict[str, Any], configurations: dict[str, Any], *, allow_empty: bool
) -> dict[str, Any]:
    """The stored catalog with exactly the listed streams selected, in their sync modes.

    ``catalog`` holds every stream the source offers (a stored or freshly discovered one).
    Streams not listed stay in the catalog, unselected, with their settings kept.
    """
    items = get_field(configurations, "streams", "list", required=False) or []
    if not items and not allow_empty:
        raise InvalidInput("configurations.streams", "must list at least one stream")
    wanted: dict[tuple[str, str | None], dict[str, Any]] = {}
    for index, raw in enumerate(items):
        path = f"configurations.streams[{index}]"
        item = require_object(raw, path)
        key = (get_field(item, "name"), get_field(item, "namespace", required=False))
        if key in wanted:
            raise InvalidInput(f"{path}.name", "is listed twice", key[0])
        mode = item.get("syncMode")
        if mode is not None and mode not in _SPLIT_MODES:
            reason = (
                "is not supported by the local Airbyte"
                if mode in _UNSUPPORTED_MODES
                else (f"must be one of {', '.join([*_SPLIT_MODES, *_UNSUPPORTED_MODES])}")
            )
            raise InvalidInput(f"{path}.syncMode", reason, mode)
        for field in ("cursorField", "primaryKey"):
            if item.get(field) is not None:
                get_field(item, field, "list")
        wanted[key] = item
    if not items:
        return catalog

    def listed(stream: dict[str, Any]) -> dict[str, Any] | None:
        return wanted.get((stream["name"], stream.get("namespace"))) or wanted.get(
            (stream["name"], None)
        )

    found = {(i["stream"]["name"], i["stream"].get("namespace")) for i in catalog["streams"]}
    found |= {(name, None) for name, _ in found}
    for name, namespace in wanted:
        if (name, namespace) not in found:
            raise InvalidInput("configurations.streams", f"the source has no stream {name!r}", name)
    streams = []
    for item in catalog["streams"]:
        config = dict(item["config"])
        want = listed(item["stream"])
        config["selected"] = want is not None
        if want is not None:
            if want.get("syncMode"):
                config["syncMode"], config["destinationSyncMode"] = _SPLIT_MODES[want["syncMode"]]
            if want.get("cursorField") is not None:
                config["cursorField"] = want["cursorField"]
            if want.get("primaryKey") is not None:
                config["primaryKey"] = want["primaryKey"]
        streams.append({"stream": item["stream"], "config": config})
    return {"streams": streams}
