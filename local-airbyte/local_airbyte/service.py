"""Domain operations shared by both API dialects: actors, connections, catalogs, secrets.

Resources are stored in the Config API's shapes (``SourceRead``, ``ConnectionRead``...) with
secrets in clear; every response goes through :func:`mask` first, so no configuration leaves
the server unmasked. Updates that send the mask back keep the stored secret, as Airbyte does.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .api_errors import Conflict, CronProblem, IllegalState, InvalidInput, JobNotFound, NotFound
from .auth import TokenIssuer
from .connectors.base import ConnectorError, DiscoveredStream, Registry
from .cron import CronError, QuartzCron, check_frequency
from .engine import JobEngine
from .profiles import Profile, get_profile
from .store import Store

__all__ = [
    "MASK",
    "TIME_UNITS",
    "Service",
    "Settings",
    "destination_slug",
    "get_field",
    "merge_config",
    "require_object",
    "source_slug",
]

MASK = "**********"
ORGANIZATION_ID = "00000000-0000-0000-0000-000000000000"
SYNC_MODES = ("full_refresh", "incremental")
DESTINATION_SYNC_MODES = ("append", "overwrite", "append_dedup", "overwrite_dedup")
TIME_UNITS = ("minutes", "hours", "days", "weeks", "months")
NAMESPACE_DEFINITIONS = ("source", "destination", "customformat")
CONNECTION_STATUSES = ("active", "inactive", "deprecated")


@dataclass
class Settings:
    """Start-up choices of one server instance (see ``LocalAirbyte``)."""

    auth: str = "none"
    test_controls: bool = False
    token_expires_in: int = 900
    basic_credentials: tuple[str, str] = ("airbyte", "password")
    client_credentials: tuple[str, str] = ("local-client", "local-secret")
    profile: Profile = field(default_factory=lambda: get_profile(None))
    # Lines per attempt log on jobs/get (real logs run to thousands; Airbyte reads up to 1e6).
    log_lines: int = 0
    # Seeds the unstable order of Public API list pages (see public_api._unstable_page).
    list_seed: int = 0


def require_object(body: Any, path: str = "body") -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidInput(path, "must be a JSON object")
    return body


def get_field(
    body: dict[str, Any],
    name: str,
    kind: str = "str",
    *,
    required: bool = True,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """One validated field of a request body (``kind``: str, uuid, int, bool, object, list)."""
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidInput(name, "is required")
        return None
    ok = {
        "str": isinstance(value, str),
        "uuid": isinstance(value, str) and _is_uuid(value),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "object": isinstance(value, dict),
        "list": isinstance(value, list),
    }[kind]
    if not ok:
        expected = "a uuid string" if kind == "uuid" else f"of type {kind}"
        raise InvalidInput(name, f"must be {expected}", value if kind != "object" else None)
    if choices is not None and value not in choices:
        raise InvalidInput(name, f"must be one of {', '.join(choices)}", value)
    return value


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def mask(config: Any, secret_fields: frozenset[str]) -> Any:
    """A copy of ``config`` with every secret field (at any depth) replaced by the mask."""
    if isinstance(config, dict):
        return {
            k: (MASK if k in secret_fields and v not in (None, "") else mask(v, secret_fields))
            for k, v in config.items()
        }
    if isinstance(config, list):
        return [mask(v, secret_fields) for v in config]
    return config


def unmask(new: Any, old: Any) -> Any:
    """``new`` with masked values replaced by the stored secret they stand for."""
    if isinstance(new, dict):
        old_d = old if isinstance(old, dict) else {}
        return {k: (old_d.get(k) if v == MASK else unmask(v, old_d.get(k))) for k, v in new.items()}
    if isinstance(new, list):
        return [unmask(v, None) for v in new]
    return new


def merge_config(old: Any, new: Any) -> Any:
    """``new`` laid over ``old``: nested objects merge key by key, anything else is replaced."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **{k: merge_config(old.get(k), v) for k, v in new.items()}}
    return new


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "workspace"


def source_slug(connector: Any) -> str:
    repo: str = connector.docker_repository
    return repo.rsplit("/", 1)[-1].removeprefix("source-")


def destination_slug(connector: Any) -> str:
    return str(getattr(connector, "destination_type", "")) or connector.docker_repository.rsplit(
        "/", 1
    )[-1].removeprefix("destination-")


class Service:
    """Everything the routes do, independent of the dialect that asked."""

    def __init__(
        self,
        store: Store,
        engine: JobEngine,
        registry: Registry,
        settings: Settings,
        tokens: TokenIssuer | None = None,
    ):
        self.store = store
        self.engine = engine
        self.registry = registry
        self.settings = settings
        self.tokens = tokens or TokenIssuer(
            *settings.client_credentials, expires_in=settings.token_expires_in
        )
        self._write_lock = threading.Lock()

    # -- workspaces ------------------------------------------------------------------------------

    def create_workspace(
        self,
        name: str,
        *,
        email: str | None = None,
        flags: dict[str, bool] | None = None,
        initial_setup_complete: bool = True,
    ) -> dict[str, Any]:
        """A workspace as ``WorkspacesHandler.createWorkspace`` makes one (``.java@v1.6.0:170-205``):
        a slug from the name (with ``-<8 letters>`` on a collision), a random customer id."""
        workspace_id = str(uuid.uuid4())
        slug = _slugify(name)
        taken = {w.get("slug") for w in self.store.list("workspaces")}
        if slug in taken:
            slug = f"{slug}-{''.join(secrets.choice(string.ascii_lowercase) for _ in range(8))}"
        body: dict[str, Any] = {
            "workspaceId": workspace_id,
            "customerId": str(uuid.uuid4()),
            "organizationId": ORGANIZATION_ID,
            "name": name,
            "slug": slug,
            "initialSetupComplete": initial_setup_complete,
            "displaySetupWizard": False,
            "anonymousDataCollection": False,
            "news": False,
            "securityUpdates": False,
            "notifications": [],
            "tombstone": False,
            **(flags or {}),
        }
        if email is not None:
            body["email"] = email
        self.store.put("workspaces", workspace_id, body, workspace_id)
        return body

    def organization(self, organization_id: str) -> str:
        """OSS has one organization, all zeros (``DEFAULT_ORGANIZATION_ID``)."""
        if organization_id != ORGANIZATION_ID:
            raise NotFound("organization", organization_id)
        return organization_id

    def workspace(self, workspace_id: Any) -> dict[str, Any]:
        found = self.store.get("workspaces", str(workspace_id))
        if found is None:
            raise NotFound("workspace", workspace_id)
        return found

    # -- definitions -----------------------------------------------------------------------------

    def source_definitions(self) -> list[dict[str, Any]]:
        return [
            {
                "sourceDefinitionId": c.definition_id,
                "name": c.name,
                "dockerRepository": c.docker_repository,
                "dockerImageTag": "local",
                "documentationUrl": f"https://docs.airbyte.com/integrations/sources/{source_slug(c)}",
                "protocolVersion": "0.2.0",
                "sourceType": c.source_type,
                "releaseStage": "generally_available",
                "supportLevel": "certified",
                "custom": False,
            }
            for c in self.registry.sources.values()
        ]

    def destination_definitions(self) -> list[dict[str, Any]]:
        return [
            {
                "destinationDefinitionId": c.definition_id,
                "name": c.name,
                "dockerRepository": c.docker_repository,
                "dockerImageTag": "local",
                "documentationUrl": "https://docs.airbyte.com/integrations/destinations/"
                + destination_slug(c),
                "protocolVersion": "0.2.0",
                "releaseStage": "generally_available",
                "supportLevel": "certified",
                "custom": False,
            }
            for c in self.registry.destinations.values()
        ]

    # -- sources and destinations ----------------------------------------------------------------

    def _connector(self, kind: str, definition_id: str) -> Any:
        table = self.registry.sources if kind == "sources" else self.registry.destinations
        connector = table.get(definition_id)
        if connector is None:
            label = "sourceDefinition" if kind == "sources" else "destinationDefinition"
            raise NotFound(label, definition_id)
        return connector

    def actor(self, kind: str, actor_id: Any) -> dict[str, Any]:
        found = self.store.get(kind, str(actor_id)) if actor_id is not None else None
        if found is None:
            raise NotFound(kind[:-1], actor_id)
        return found

    def connector_of(self, kind: str, actor: dict[str, Any]) -> Any:
        return self._connector(kind, actor[_definition_key(kind)])

    def create_actor(
        self, kind: str, workspace_id: str, definition_id: str, name: str, config: dict[str, Any]
    ) -> dict[str, Any]:
        self.workspace(workspace_id)
        connector = self._connector(kind, definition_id)
        actor_id = str(uuid.uuid4())
        singular = kind[:-1]
        body = {
            f"{singular}Id": actor_id,
            _definition_key(kind): definition_id,
            "workspaceId": workspace_id,
            "name": name,
            f"{singular}Name": connector.name,
            "connectionConfiguration": config,
            "createdAt": int(time.time()),
        }
        self.store.put(kind, actor_id, body, workspace_id)
        return body

    def update_actor(
        self,
        kind: str,
        actor_id: str,
        name: str | None,
        config: dict[str, Any] | None,
        *,
        merge: bool = False,
    ) -> dict[str, Any]:
        """Replace (or, with ``merge``, deep-merge into) the stored configuration."""
        actor = self.actor(kind, actor_id)
        if name is not None:
            actor["name"] = name
        if config is not None:
            stored = actor["connectionConfiguration"]
            new = unmask(config, stored)
            actor["connectionConfiguration"] = merge_config(stored, new) if merge else new
        self.store.put(kind, actor_id, actor, actor["workspaceId"])
        return actor

    def delete_actor(self, kind: str, actor_id: str) -> None:
        self.actor(kind, actor_id)
        key = "sourceId" if kind == "sources" else "destinationId"
        for connection in self.store.list("connections"):
            if connection.get(key) == actor_id:
                self.delete_connection(connection["connectionId"])
        self.store.delete(kind, actor_id)

    def masked_config(self, kind: str, actor: dict[str, Any]) -> Any:
        try:
            secrets = self.connector_of(kind, actor).secret_fields
        except NotFound:
            secrets = frozenset({"password", "secret", "api_key", "secret_access_key"})
        return mask(actor["connectionConfiguration"], secrets)

    def check(self, kind: str, actor: dict[str, Any]) -> tuple[bool, str]:
        connector = self.connector_of(kind, actor)
        try:
            connector.check(actor["connectionConfiguration"])
        except ConnectorError as exc:
            return False, str(exc)
        except Exception as exc:  # a connector bug must not become a 500
            return False, f"{type(exc).__name__}: {exc}"
        return True, "Connection test succeeded"

    def discover(self, source: dict[str, Any]) -> list[DiscoveredStream]:
        connector = self.connector_of("sources", source)
        return list(connector.discover(source["connectionConfiguration"]))

    def discovered_catalog(self, source: dict[str, Any]) -> dict[str, Any]:
        """Every stream the source offers, configured as Airbyte suggests; 400 if it cannot."""
        try:
            return self.default_catalog(self.discover(source))
        except ConnectorError as exc:
            raise InvalidInput("sourceId", f"could not discover the source: {exc}") from exc

    # -- catalogs ---------------------------------------------------------------------------------

    @staticmethod
    def airbyte_stream(stream: DiscoveredStream) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": stream.name,
            "jsonSchema": stream.json_schema,
            "supportedSyncModes": list(stream.supported_sync_modes),
            "sourceDefinedCursor": stream.source_defined_cursor,
            "defaultCursorField": list(stream.default_cursor_field),
            "sourceDefinedPrimaryKey": [list(p) for p in stream.source_defined_primary_key],
            "isResumable": True,
        }
        if stream.namespace is not None:
            body["namespace"] = stream.namespace
        return body

    def default_catalog(self, streams: list[DiscoveredStream]) -> dict[str, Any]:
        """Discovered streams with the configuration Airbyte suggests (incremental when it can)."""
        items = []
        for stream in streams:
            incremental = "incremental" in stream.supported_sync_modes and bool(
                stream.default_cursor_field
            )
            items.append(
                {
                    "stream": self.airbyte_stream(stream),
                    "config": {
                        "syncMode": "incremental" if incremental else "full_refresh",
                        "destinationSyncMode": "append" if incremental else "overwrite",
                        "cursorField": list(stream.default_cursor_field),
                        "primaryKey": [list(p) for p in stream.source_defined_primary_key],
                        "selected": True,
                        "suggested": True,
                        "aliasName": stream.name,
                    },
                }
            )
        return {"streams": items}

    def fill_catalog(self, source: dict[str, Any], catalog: Any) -> dict[str, Any]:
        """Complete a client's catalog (streams maybe without jsonSchema) from discovery."""
        discovered = self.discover(source)
        if catalog is None:
            return self.default_catalog(discovered)
        catalog = require_object(catalog, "syncCatalog")
        items = get_field(catalog, "streams", "list")
        by_key = {(s.name, s.namespace): s for s in discovered}
        by_name = {s.name: s for s in discovered}
        result = []
        for index, item in enumerate(items):
            path = f"syncCatalog.streams[{index}]"
            item = require_object(item, path)
            stream = require_object(item.get("stream"), f"{path}.stream")
            config = require_object(item.get("config"), f"{path}.config")
            name = get_field(stream, "name")
            found = by_key.get((name, stream.get("namespace"))) or by_name.get(name)
            if found is None and not stream.get("jsonSchema"):
                raise InvalidInput(f"{path}.stream.name", f"the source has no stream {name!r}")
            full = {**(self.airbyte_stream(found) if found else {}), **stream}
            if found is not None and "namespace" not in stream and found.namespace:
                full["namespace"] = found.namespace
            full.setdefault("jsonSchema", {"type": "object", "properties": {}})
            sync_mode = config.get("syncMode") or "full_refresh"
            if sync_mode not in SYNC_MODES:
                raise InvalidInput(f"{path}.config.syncMode", "unknown sync mode", sync_mode)
            dest_mode = config.get("destinationSyncMode") or (
                "append" if sync_mode == "incremental" else "overwrite"
            )
            if dest_mode not in DESTINATION_SYNC_MODES:
                raise InvalidInput(
                    f"{path}.config.destinationSyncMode", "unknown destination sync mode", dest_mode
                )
            cursor = config.get("cursorField") or full.get("defaultCursorField") or []
            if sync_mode == "incremental" and not cursor:
                raise InvalidInput(f"{path}.config.cursorField", "incremental needs a cursor field")
            primary_key = config.get("primaryKey") or full.get("sourceDefinedPrimaryKey") or []
            if dest_mode.endswith("_dedup") and not primary_key:
                raise InvalidInput(f"{path}.config.primaryKey", "deduplication needs a primary key")
            if config.get("fieldSelectionEnabled"):
                full["jsonSchema"] = _select_fields(
                    path, full["jsonSchema"], config, sync_mode, dest_mode, cursor, primary_key
                )
            result.append(
                {
                    "stream": full,
                    "config": {
                        **config,
                        "syncMode": sync_mode,
                        "destinationSyncMode": dest_mode,
                        "cursorField": list(cursor),
                        "primaryKey": [list(p) for p in primary_key],
                        "selected": bool(config.get("selected", True)),
                        "aliasName": config.get("aliasName") or name,
                    },
                }
            )
        # Airbyte keeps the discovered source catalog beside the configured one (the
        # connection's sourceCatalogId); the web backend merges them, so streams the client
        # left out stay known, unselected.
        listed = {(i["stream"]["name"], i["stream"].get("namespace")) for i in result}
        for item in self.default_catalog(discovered)["streams"]:
            if (item["stream"]["name"], item["stream"].get("namespace")) not in listed:
                result.append({**item, "config": {**item["config"], "selected": False}})
        return {"streams": result}

    # -- connections ------------------------------------------------------------------------------

    def connection(self, connection_id: Any) -> dict[str, Any]:
        found = self.store.get("connections", str(connection_id)) if connection_id else None
        if found is None:
            raise NotFound("connection", connection_id)
        return found

    def create_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        source_id = get_field(body, "sourceId", "uuid")
        destination_id = get_field(body, "destinationId", "uuid")
        source = self.actor("sources", source_id)
        destination = self.actor("destinations", destination_id)
        if source["workspaceId"] != destination["workspaceId"]:
            raise InvalidInput(
                "destinationId", "source and destination are in different workspaces"
            )
        connection_id = str(uuid.uuid4())
        connection: dict[str, Any] = {
            "connectionId": connection_id,
            "name": body.get("name") or f"{source['name']} → {destination['name']}",
            "sourceId": source_id,
            "destinationId": destination_id,
            "workspaceId": source["workspaceId"],
            "namespaceDefinition": "destination",
            "namespaceFormat": None,
            "prefix": "",
            "status": "active",
            "scheduleType": "manual",
            "operationIds": [],
            "breakingChange": False,
            "notifySchemaChanges": False,
            "notifySchemaChangesByEmail": False,
            "nonBreakingChangesPreference": "ignore",
            "backfillPreference": "disabled",
            "created_at": int(time.time()),
        }
        try:
            connection["syncCatalog"] = self.fill_catalog(source, body.get("syncCatalog"))
        except ConnectorError as exc:
            raise InvalidInput("sourceId", f"could not discover the source: {exc}") from exc
        self._apply_connection_fields(connection, body, previous=None)
        self.store.put("connections", connection_id, connection, connection["workspaceId"])
        return connection

    def update_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        connection_id = get_field(body, "connectionId", "uuid")
        with self._write_lock:
            connection = self.connection(connection_id)
            previous = dict(connection)
            if body.get("syncCatalog") is not None:
                source = self.actor("sources", connection["sourceId"])
                try:
                    connection["syncCatalog"] = self.fill_catalog(source, body["syncCatalog"])
                except ConnectorError as exc:
                    raise InvalidInput(
                        "syncCatalog", f"could not discover the source: {exc}"
                    ) from exc
            if body.get("name") is not None:
                connection["name"] = get_field(body, "name")
            self._apply_connection_fields(connection, body, previous=previous)
            self.store.put("connections", connection_id, connection, connection["workspaceId"])
        return connection

    def _apply_connection_fields(
        self, connection: dict[str, Any], body: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        for name, choices in (
            ("namespaceDefinition", NAMESPACE_DEFINITIONS),
            ("status", CONNECTION_STATUSES),
            ("nonBreakingChangesPreference", None),
            ("backfillPreference", None),
        ):
            if body.get(name) is not None:
                connection[name] = get_field(body, name, choices=choices)
        for name in ("namespaceFormat", "prefix"):
            if name in body:
                value = body[name]
                if value is not None and not isinstance(value, str):
                    raise InvalidInput(name, "must be a string", value)
                connection[name] = value if name == "namespaceFormat" else (value or "")
        for name in ("notifySchemaChanges", "notifySchemaChangesByEmail"):
            if body.get(name) is not None:
                connection[name] = get_field(body, name, "bool")
        self._apply_schedule(connection, body, previous)
        if body.get("tags") is not None and self.settings.profile.connection_tags:
            connection["tags"] = self._connection_tags(connection["workspaceId"], body["tags"])

    # -- tags ---------------------------------------------------------------------------------------
    # Connection tags (Config ``tags/*`` from v1.4.0; ``ConnectionRead.tags``, Public
    # ``ConnectionResponse.tags`` and ``/tags`` from v1.6.0: config.yaml@v1.6.0 ConnectionRead,
    # api.yaml@v1.6.0 /tags). ``TagServiceDataImpl.kt@v1.6.0`` ~47-52: at most 100 per workspace;
    # ``V1_1_0_010__CreateTagTable.java`` ~43-58: ``color`` six hex digits, ``(name, workspace)``
    # unique. A connection keeps links to tags (``ConnectionsHandler.java@v1.6.0`` ~409:
    # ``toInternalTag`` per item), so only ``tagId`` of each sent tag matters; reads show the tag
    # as stored. Tags are never renamed here, so a connection keeps the tag documents themselves.

    def tags(self, workspace_ids: list[str] | None) -> list[dict[str, Any]]:
        return self.store.list("tags", workspace_ids or None)

    def create_tag(self, workspace_id: str, name: str, color: str) -> dict[str, Any]:
        self.workspace(workspace_id)
        if not re.fullmatch(r"[0-9A-Fa-f]{6}", color or ""):
            raise InvalidInput("color", "must be six hexadecimal digits", color)
        with self._write_lock:
            existing = self.store.list("tags", [workspace_id])
            if len(existing) >= 100:
                raise IllegalState("Maximum 100 tags can be created in a workspace")
            if any(t["name"] == name for t in existing):
                raise Conflict("Tag with same name already exists")
            tag = {"tagId": str(uuid.uuid4()), "workspaceId": workspace_id, "name": name}
            tag.update(color=color)
            self.store.put("tags", tag["tagId"], tag, workspace_id)
        return tag

    def _connection_tags(self, workspace_id: str, sent: Any) -> list[dict[str, Any]]:
        if not isinstance(sent, list):
            raise InvalidInput("tags", "must be a list of tags", sent)
        result = []
        for index, item in enumerate(sent):
            tag_id = require_object(item, f"tags[{index}]").get("tagId")
            tag = self.store.get("tags", str(tag_id)) if tag_id else None
            if tag is None or tag["workspaceId"] != workspace_id:
                raise NotFound("tag", tag_id)
            result.append(tag)
        return result

    def _apply_schedule(
        self, connection: dict[str, Any], body: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        """Accept the legacy ``schedule`` and ``scheduleType``/``scheduleData``; keep both in step.

        When an update sends both (a get-modify-post round trip), whichever differs from what is
        stored is the one the client changed.
        """
        legacy = body.get("schedule")
        kind = body.get("scheduleType")
        legacy_changed = "schedule" in body and (
            previous is None or legacy != previous.get("schedule")
        )
        if legacy_changed or (kind is None and "schedule" in body):
            if legacy is None:
                connection.update(scheduleType="manual")
                connection.pop("schedule", None)
                connection.pop("scheduleData", None)
                return
            basic = self._basic(require_object(legacy, "schedule"), "schedule")
            connection.update(
                schedule=basic, scheduleType="basic", scheduleData={"basicSchedule": basic}
            )
            return
        if kind is None:
            return
        kind = get_field(body, "scheduleType", choices=("manual", "basic", "cron"))
        data = require_object(body.get("scheduleData"), "scheduleData")
        if kind == "manual":
            connection["scheduleType"] = "manual"
            connection.pop("schedule", None)
            connection.pop("scheduleData", None)
        elif kind == "basic":
            basic = self._basic(
                require_object(data.get("basicSchedule"), "scheduleData.basicSchedule"),
                "scheduleData.basicSchedule",
            )
            connection.update(
                schedule=basic, scheduleType="basic", scheduleData={"basicSchedule": basic}
            )
        else:
            cron = data.get("cron")
            expression, zone = self._validate_cron(connection, cron)
            connection.update(
                scheduleType="cron",
                scheduleData={"cron": {"cronExpression": expression, "cronTimeZone": zone}},
            )
            connection.pop("schedule", None)

    def _validate_cron(self, connection: dict[str, Any], cron: Any) -> tuple[str, str]:
        """``ConnectionScheduleHelper`` for cron schedules, in its order (``.kt@v1.8.0`` ~100-200).

        Missing cron data or a missing component; from v1.8.0 the frequency check with
        cron-utils (at least one minute between executions, see ``cron.check_frequency``); an
        ``Etc/`` zone; Quartz's own parse. Each refusal is a ``CronValidation*Problem``.
        """
        connection_id = connection.get("connectionId")
        if not isinstance(cron, dict):
            raise CronProblem("missing-cron-data", "scheduleData.cron is missing", {})
        expression, zone = cron.get("cronExpression"), cron.get("cronTimeZone")
        if not isinstance(expression, str) or not isinstance(zone, str):
            data = {
                "connectionId": connection_id,
                "cronExpression": expression,
                "cronTimezone": zone,
            }
            raise CronProblem(
                "missing-component", "The cron must specify a cron expression and a timezone.", data
            )
        invalid = {"cronExpression": expression}
        try:
            parsed = QuartzCron(expression, "UTC")
        except CronError as exc:
            raise CronProblem("invalid-expression", str(exc), invalid) from exc
        if self.settings.profile.cron_frequency_check:
            try:
                check_frequency(parsed)
            except CronError as exc:
                raise CronProblem("invalid-expression", str(exc), invalid) from exc
        if zone.lower().startswith("etc"):
            data = {"connectionId": connection_id, "cronTimezone": zone}
            raise CronProblem("invalid-timezone", f"unsupported time zone {zone}", data)
        try:
            QuartzCron(expression, zone)
        except CronError as exc:
            data = {"connectionId": connection_id, "cronTimezone": zone}
            raise CronProblem("invalid-timezone", str(exc), data) from exc
        return expression, zone

    @staticmethod
    def _basic(value: dict[str, Any], path: str) -> dict[str, Any]:
        units = value.get("units")
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise InvalidInput(f"{path}.units", "must be a positive integer", units)
        unit = value.get("timeUnit")
        if unit not in TIME_UNITS:
            raise InvalidInput(f"{path}.timeUnit", f"must be one of {', '.join(TIME_UNITS)}", unit)
        return {"units": units, "timeUnit": unit}

    def delete_connection(self, connection_id: str) -> None:
        """Soft delete: the connection becomes ``deprecated`` (``ConnectionHelper.deleteConnection``).

        ``connections/get`` still finds it, ``connections/list`` hides it, ``list_all`` shows
        it; a running job is cancelled with the connection's workflow.
        """
        with self._write_lock:
            connection = self.connection(connection_id)
            active = self.store.active_job(connection_id)
            if active is not None:
                with contextlib.suppress(Exception):  # best effort: the connection goes anyway
                    self.engine.cancel(active["id"])
            connection["status"] = "deprecated"
            self.store.put("connections", connection_id, connection, connection["workspaceId"])

    # -- jobs -------------------------------------------------------------------------------------

    def job(self, job_id: Any) -> dict[str, Any]:
        """The job; an unknown id is ``DefaultJobPersistence.getJob``'s RuntimeException."""
        try:
            number = int(job_id)
        except (TypeError, ValueError):
            raise JobNotFound(job_id) from None
        found = self.store.get_job(number)
        if found is None:
            raise JobNotFound(job_id)
        return self.with_forced_status(found)

    def with_forced_status(self, job: dict[str, Any]) -> dict[str, Any]:
        forced = self.engine.forced_status.get(job["id"])
        if forced is not None:
            job = {**job, "status": forced}
        return job


def _select_fields(
    path: str,
    schema: dict[str, Any],
    config: dict[str, Any],
    sync_mode: str,
    dest_mode: str,
    cursor: list[str],
    primary_key: list[list[str]],
) -> dict[str, Any]:
    """The stored ``jsonSchema`` keeps only the selected top-level fields.

    ``CatalogConverter.toConfiguredProtocol`` (``.../handlers/helpers/CatalogConverter.kt``
    ~177-231): ``properties.retain(selectedFieldNames)`` after refusing an empty or nested field
    path, a de-selected cursor (incremental) or primary key (dedup) -- JsonValidationExceptions.
    """
    selected = config.get("selectedFields")
    if not isinstance(selected, list):
        raise InvalidInput(
            f"{path}.config.selectedFields",
            "Requested field selection but no selected fields provided",
        )
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        raise InvalidInput(
            f"{path}.stream.jsonSchema", "Requested field selection but no properties node found"
        )
    names = set()
    for info in selected:
        field_path = info.get("fieldPath") if isinstance(info, dict) else None
        if not isinstance(field_path, list) or not field_path:
            raise InvalidInput(
                f"{path}.config.selectedFields", "Selected field path cannot be empty"
            )
        if len(field_path) > 1:
            raise InvalidInput(
                f"{path}.config.selectedFields", "Nested field selection not supported"
            )
        names.add(str(field_path[0]))
    if sync_mode == "incremental" and cursor and cursor[0] not in names:
        raise InvalidInput(
            f"{path}.config.cursorField", "Cursor field cannot be de-selected in INCREMENTAL syncs"
        )
    if dest_mode.endswith("_dedup"):
        for component in primary_key:
            if component and component[0] not in names:
                raise InvalidInput(
                    f"{path}.config.primaryKey",
                    "Primary key field cannot be de-selected in DEDUP mode",
                )
    return {**schema, "properties": {k: v for k, v in properties.items() if k in names}}


def _definition_key(kind: str) -> str:
    return "sourceDefinitionId" if kind == "sources" else "destinationDefinitionId"
