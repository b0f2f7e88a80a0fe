"""Public API management endpoints: create, patch, put, delete; every answer checked on the spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from local_airbyte_helpers import config_post, wait_for_job
from openapi_validation import assert_matches_component, assert_matches_schema

PUB = "public-api"
PROBLEMS = "public-api-problems"
MASK = "**********"
MISSING = "00000000-0000-0000-0000-000000000009"
SAMPLE_DATA = "dfd88b22-b603-4c3d-aad7-3701784586b1"
DUCKDB = "94bd199c-2ff0-4aa2-b98e-17f0acb72610"


def _bad_request(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert_matches_component(PROBLEMS, "BadRequestProblemResponse", body)
    assert body["title"] == "bad-request"
    return body


def _not_found(response: httpx.Response, resource_id: str) -> None:
    assert response.status_code == 404, response.text
    body = response.json()
    assert_matches_component(PROBLEMS, "ResourceNotFoundProblemResponse", body)
    assert body["data"]["resourceId"] == resource_id


# -- sources and destinations ---------------------------------------------------------------------

# (collection, spec item path, id key, type key, connector word, a config with one secret)
ACTORS = [
    (
        "sources",
        "/sources/{sourceId}",
        "sourceId",
        "sourceType",
        "postgres",
        {"host": "db.internal", "port": 5432, "database": "app", "username": "u"},
        "password",
    ),
    (
        "destinations",
        "/destinations/{destinationId}",
        "destinationId",
        "destinationType",
        "duckdb",
        {"destination_path": "/tmp/never-written.duckdb", "schema": "raw"},
        "motherduck_api_key",
    ),
]


@pytest.mark.parametrize(
    ("kind", "item_path", "id_key", "type_key", "word", "config", "secret"),
    ACTORS,
    ids=["sources", "destinations"],
)
def test_actor_create_patch_put_delete(  # type: ignore[no-untyped-def]
    local_airbyte, kind, item_path, id_key, type_key, word, config, secret
) -> None:
    api = f"{local_airbyte.public_api_url}/{kind}"
    ws = local_airbyte.workspace_id
    # No definitionId: configuration.<type> names the connector, as Airbyte allows.
    created = httpx.post(
        api,
        json={
            "name": "made by POST",
            "workspaceId": ws,
            "configuration": {type_key: word, **config, secret: "hunter2"},
        },
    )
    assert created.status_code == 200, created.text
    assert_matches_schema(PUB, f"/{kind}", "post", 200, created.json())
    body = created.json()
    assert body[type_key] == word and body["workspaceId"] == ws
    assert body["configuration"][secret] == MASK and "hunter2" not in created.text
    actor_id = body[id_key]
    assert httpx.get(f"{api}/{actor_id}").json() == body

    # PATCH merges into the stored configuration: the secret stays, one key changes.
    patched = httpx.patch(f"{api}/{actor_id}", json={"name": "patched", "configuration": {}})
    assert patched.status_code == 200, patched.text
    assert_matches_schema(PUB, item_path, "patch", 200, patched.json())
    assert patched.json()["name"] == "patched"
    assert patched.json()["configuration"] == body["configuration"]
    patched = httpx.patch(f"{api}/{actor_id}", json={"configuration": {"schema": "other"}})
    assert patched.json()["configuration"] == {**body["configuration"], "schema": "other"}
    assert patched.json()["name"] == "patched"

    # PUT replaces: sending the mask back keeps the secret, leaving a key out drops it.
    put = httpx.put(
        f"{api}/{actor_id}",
        json={"name": "put", "configuration": {**config, secret: MASK}},
    )
    assert put.status_code == 200, put.text
    assert_matches_schema(PUB, item_path, "put", 200, put.json())
    assert put.json()["configuration"] == {**config, secret: MASK}
    put = httpx.put(f"{api}/{actor_id}", json={"name": "put", "configuration": config})
    assert put.json()["configuration"] == config

    # The Config API sees the same resource (one store, one service).
    singular = kind[:-1]
    seen = config_post(local_airbyte, f"/{kind}/get", {f"{singular}Id": actor_id}).json()
    assert seen["name"] == "put" and seen["connectionConfiguration"] == config

    deleted = httpx.delete(f"{api}/{actor_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert_matches_schema(PUB, item_path, "delete", 204, deleted.content)
    _not_found(httpx.get(f"{api}/{actor_id}"), actor_id)
    _not_found(httpx.delete(f"{api}/{actor_id}"), actor_id)
    _not_found(httpx.patch(f"{api}/{MISSING}", json={"name": "x"}), MISSING)
    _not_found(httpx.put(f"{api}/{MISSING}", json={"name": "x", "configuration": {}}), MISSING)


@pytest.mark.parametrize(
    ("kind", "item_path", "id_key", "type_key", "word", "config", "secret"),
    ACTORS,
    ids=["sources", "destinations"],
)
def test_actor_errors(  # type: ignore[no-untyped-def]
    local_airbyte, kind, item_path, id_key, type_key, word, config, secret
) -> None:
    api = f"{local_airbyte.public_api_url}/{kind}"
    ws = local_airbyte.workspace_id
    good = {"name": "n", "workspaceId": ws, "configuration": {type_key: word, **config}}
    for broken in (
        {k: v for k, v in good.items() if k != "name"},
        {**good, "configuration": "not an object"},
        {**good, "workspaceId": "not-a-uuid"},
        {**good, "configuration": {type_key: "no-such-connector"}},
        {**good, "definitionId": "nope"},
    ):
        _bad_request(httpx.post(api, json=broken))
    assert (
        httpx.post(
            api, content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    # Neither definitionId nor a type word: UnprocessableEntityProblem (DestinationsController.kt).
    neither = httpx.post(api, json={**good, "configuration": config})
    assert neither.status_code == 422 and neither.json()["title"] == "unprocessable-entity"
    _not_found(httpx.post(api, json={**good, "workspaceId": MISSING}), MISSING)
    _not_found(httpx.post(api, json={**good, "definitionId": MISSING}), MISSING)

    actor_id = httpx.post(api, json=good).json()[id_key]
    _bad_request(httpx.put(f"{api}/{actor_id}", json={"name": "only a name"}))
    _bad_request(httpx.patch(f"{api}/{actor_id}", json={"configuration": []}))
    _bad_request(httpx.patch(f"{api}/{actor_id}", json={"name": 3}))
    _bad_request(httpx.patch(f"{api}/{actor_id}", json={"workspaceId": MISSING}))


# -- connections ----------------------------------------------------------------------------------


def _pair(server: Any, tmp_path: Path) -> tuple[str, str]:
    """A Sample Data source and a DuckDB destination, made through the Public API."""
    api = server.public_api_url
    ws = server.workspace_id
    source = httpx.post(
        f"{api}/sources",
        json={"name": "faker", "workspaceId": ws, "definitionId": SAMPLE_DATA, "configuration": {}},
    ).json()
    dest = httpx.post(
        f"{api}/destinations",
        json={
            "name": "duck",
            "workspaceId": ws,
            "definitionId": DUCKDB,
            "configuration": {"destination_path": str(tmp_path / "w.duckdb"), "schema": "land"},
        },
    )
    assert_matches_schema(PUB, "/destinations", "post", 200, dest.json())
    return source["sourceId"], dest.json()["destinationId"]


def test_create_connection_with_every_field_then_sync(local_airbyte, tmp_path) -> None:  # type: ignore[no-untyped-def]
    api = local_airbyte.public_api_url
    source_id, dest_id = _pair(local_airbyte, tmp_path)
    created = httpx.post(
        f"{api}/connections",
        json={
            "sourceId": source_id,
            "destinationId": dest_id,
            "name": "faker to duck",
            "configurations": {
                "streams": [
                    {
                        "name": "customers",
                        "syncMode": "incremental_append",
                        "cursorField": ["updated_at"],
                    },
                    {"name": "orders", "syncMode": "full_refresh_overwrite"},
                ]
            },
            # A trailing UTC is the only zone the Public API takes (AirbyteCatalogHelper.kt).
            "schedule": {"scheduleType": "cron", "cronExpression": "0 30 8 ? * MON-FRI UTC"},
            "namespaceDefinition": "custom_format",
            "namespaceFormat": "ns_${SOURCE_NAMESPACE}",
            "prefix": "p_",
            "nonBreakingSchemaUpdatesBehavior": "disable_connection",
            "status": "active",
            "dataResidency": "auto",
            "tags": [],
        },
    )
    assert created.status_code == 200, created.text
    assert_matches_schema(PUB, "/connections", "post", 200, created.json())
    body = created.json()
    assert body["name"] == "faker to duck" and body["status"] == "active"
    assert body["schedule"] == {"scheduleType": "cron", "cronExpression": "0 30 8 ? * MON-FRI UTC"}
    assert body["namespaceDefinition"] == "custom_format"
    assert body["namespaceFormat"] == "ns_${SOURCE_NAMESPACE}" and body["prefix"] == "p_"
    assert body["nonBreakingSchemaUpdatesBehavior"] == "disable_connection"
    assert [(s["name"], s["syncMode"]) for s in body["configurations"]["streams"]] == [
        ("customers", "incremental_append"),
        ("orders", "full_refresh_overwrite"),
    ]
    cid = body["connectionId"]
    assert httpx.get(f"{api}/connections/{cid}").json() == body

    # In Config shapes: connections/get lists the configured (selected) streams only; the web
    # backend's full catalog keeps the unlisted one, unselected.
    read = config_post(local_airbyte, "/connections/get", {"connectionId": cid}).json()
    assert read["namespaceDefinition"] == "customformat"
    assert read["nonBreakingChangesPreference"] == "disable"
    assert read["scheduleData"] == {
        "cron": {"cronExpression": "0 30 8 ? * MON-FRI", "cronTimeZone": "UTC"}
    }
    assert [s["stream"]["name"] for s in read["syncCatalog"]["streams"]] == ["customers", "orders"]
    full = config_post(local_airbyte, "/web_backend/connections/get", {"connectionId": cid}).json()
    selected = {
        s["stream"]["name"]: s["config"]["selected"] for s in full["syncCatalog"]["streams"]
    }
    assert selected == {"customers": True, "orders": True, "products": False}

    # The engine runs exactly what was configured.
    job = httpx.post(f"{api}/jobs", json={"connectionId": cid, "jobType": "sync"}).json()
    info = wait_for_job(local_airbyte, job["jobId"])
    assert info["job"]["status"] == "succeeded"
    assert {s["streamName"] for s in info["job"]["streamAggregatedStats"]} == {
        "customers",
        "orders",
    }


def test_create_connection_defaults(local_airbyte, tmp_path) -> None:  # type: ignore[no-untyped-def]
    api = local_airbyte.public_api_url
    source_id, dest_id = _pair(local_airbyte, tmp_path)
    created = httpx.post(
        f"{api}/connections", json={"sourceId": source_id, "destinationId": dest_id}
    )
    assert created.status_code == 200, created.text
    assert_matches_schema(PUB, "/connections", "post", 200, created.json())
    body = created.json()
    assert body["schedule"] == {"scheduleType": "manual"} and body["status"] == "active"
    assert body["namespaceDefinition"] == "destination" and body["prefix"] == ""
    assert body["nonBreakingSchemaUpdatesBehavior"] == "ignore"
    # Every discovered stream, incremental where the source has a cursor.
    assert {(s["name"], s["syncMode"]) for s in body["configurations"]["streams"]} == {
        ("customers", "incremental_append"),
        ("products", "incremental_append"),
        ("orders", "incremental_append"),
    }
    listed = httpx.get(f"{api}/connections", params={"workspaceIds": local_airbyte.workspace_id})
    assert body["connectionId"] in {c["connectionId"] for c in listed.json()["data"]}


def test_patch_connection_every_field(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    api = local_airbyte.public_api_url
    cid = local_airbyte.sample_connection_id
    steps: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"name": "renamed"}, {"name": "renamed"}),
        ({"status": "inactive"}, {"status": "inactive"}),
        ({"prefix": "raw_"}, {"prefix": "raw_"}),
        (
            {"namespaceDefinition": "custom_format", "namespaceFormat": "x_${SOURCE_NAMESPACE}"},
            {"namespaceDefinition": "custom_format", "namespaceFormat": "x_${SOURCE_NAMESPACE}"},
        ),
        ({"namespaceDefinition": "source"}, {"namespaceDefinition": "source"}),
        (
            {"nonBreakingSchemaUpdatesBehavior": "propagate_columns"},
            {"nonBreakingSchemaUpdatesBehavior": "propagate_columns"},
        ),
        (
            {"schedule": {"scheduleType": "cron", "cronExpression": "0 0 6 * * ?"}},
            {"schedule": {"scheduleType": "cron", "cronExpression": "0 0 6 * * ? UTC"}},
        ),
        ({"schedule": {"scheduleType": "manual"}}, {"schedule": {"scheduleType": "manual"}}),
        (
            {
                "configurations": {
                    "streams": [
                        {
                            "name": "products",
                            "syncMode": "incremental_deduped_history",
                            "primaryKey": [["id"]],
                        },
                        {"name": "orders", "syncMode": "full_refresh_append"},
                    ]
                }
            },
            {},
        ),
        ({"dataResidency": "auto", "tags": []}, {}),
    ]
    for patch, expected in steps:
        before = httpx.get(f"{api}/connections/{cid}").json()
        response = httpx.patch(f"{api}/connections/{cid}", json=patch)
        assert response.status_code == 200, (patch, response.text)
        assert_matches_schema(PUB, "/connections/{connectionId}", "patch", 200, response.json())
        after = response.json()
        if "configurations" not in patch:
            assert after == {**before, **expected}, patch  # nothing else moved
    streams = after["configurations"]["streams"]
    assert [(s["name"], s["syncMode"], s["primaryKey"]) for s in streams] == [
        ("products", "incremental_deduped_history", [["id"]]),
        ("orders", "full_refresh_append", [["id"]]),
    ]
    read = config_post(local_airbyte, "/connections/get", {"connectionId": cid}).json()
    assert read["scheduleType"] == "manual" and "scheduleData" not in read
    assert read["nonBreakingChangesPreference"] == "propagate_columns"
    assert read["prefix"] == "raw_" and read["status"] == "inactive"


def test_connection_errors_and_delete(local_airbyte, tmp_path) -> None:  # type: ignore[no-untyped-def]
    api = local_airbyte.public_api_url
    cid = local_airbyte.sample_connection_id
    source_id, dest_id = _pair(local_airbyte, tmp_path)
    pair = {"sourceId": source_id, "destinationId": dest_id}

    def streams(*items: dict[str, Any]) -> dict[str, Any]:
        return {"configurations": {"streams": list(items)}}

    for body in (
        {},
        {"sourceId": "nope", "destinationId": dest_id},
        {**pair, **streams({"name": "nope"})},
        {**pair, **streams({"name": "orders", "syncMode": "bogus"})},
        {**pair, **streams({"name": "orders", "syncMode": "incremental_update"})},
        {**pair, **streams({"name": "orders"}, {"name": "orders"})},
        {**pair, **streams({"syncMode": "full_refresh_append"})},
        {**pair, "schedule": {"scheduleType": "cron"}},
        {**pair, "schedule": {"scheduleType": "cron", "cronExpression": "every day"}},
        {**pair, "schedule": {"scheduleType": "cron", "cronExpression": "0 0 * * * ? Mars/Base"}},
        # Any zone but a trailing UTC is refused (normalizeCronExpression strips only "UTC").
        {
            **pair,
            "schedule": {"scheduleType": "cron", "cronExpression": "0 0 6 * * ? Europe/Paris"},
        },
        # The seconds must be a number (validateCronConfiguration's Integer.valueOf).
        {**pair, "schedule": {"scheduleType": "cron", "cronExpression": "* 0 6 * * ?"}},
        {**pair, "configurations": []},
    ):
        _bad_request(httpx.post(f"{api}/connections", json=body))
    _not_found(httpx.post(f"{api}/connections", json={**pair, "sourceId": MISSING}), MISSING)
    _not_found(httpx.post(f"{api}/connections", json={**pair, "destinationId": MISSING}), MISSING)

    before = httpx.get(f"{api}/connections/{cid}").json()
    patches: list[dict[str, Any]] = [
        {"configurations": {"streams": []}},
    ]
    for patch in patches:
        _bad_request(httpx.patch(f"{api}/connections/{cid}", json=patch))
    assert httpx.get(f"{api}/connections/{cid}").json() == before  # nothing half-applied
    _not_found(httpx.patch(f"{api}/connections/{MISSING}", json={"name": "x"}), MISSING)

    # Enum values the Public models do not have fail Micronaut's binding: a plain 400.
    for body in (
        {**pair, "schedule": {"scheduleType": "hourly"}},
        {**pair, "schedule": {"scheduleType": "basic", "basicTiming": "Every 12 HOURS"}},
        {**pair, "namespaceDefinition": "customformat"},  # the Config spelling
        {**pair, "nonBreakingSchemaUpdatesBehavior": "disable"},
        {**pair, "status": "locked"},  # main only
    ):
        refused = httpx.post(f"{api}/connections", json=body)
        assert refused.status_code == 400 and refused.json()["message"] == "Bad Request", body

    deleted = httpx.delete(f"{api}/connections/{cid}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert_matches_schema(PUB, "/connections/{connectionId}", "delete", 204, deleted.content)
    # Deleting deprecates (ConnectionHelper.deleteConnection): still readable, out of lists.
    assert httpx.get(f"{api}/connections/{cid}").json()["status"] == "deprecated"
    listed = httpx.get(f"{api}/connections", params={"limit": 100}).json()["data"]
    assert cid not in {c["connectionId"] for c in listed}


# -- workspaces -----------------------------------------------------------------------------------


def test_create_workspace(local_airbyte, tmp_path) -> None:  # type: ignore[no-untyped-def]
    api = local_airbyte.public_api_url
    created = httpx.post(f"{api}/workspaces", json={"name": "Team B"})
    assert created.status_code == 200, created.text
    assert_matches_schema(PUB, "/workspaces", "post", 200, created.json())
    ws = created.json()["workspaceId"]
    assert httpx.get(f"{api}/workspaces/{ws}").json() == created.json()
    listed = httpx.get(f"{api}/workspaces").json()["data"]
    assert {w["name"] for w in listed} >= {"Team B"} and len(listed) == 2
    for body in ({}, {"name": ""}, {"name": 5}):
        _bad_request(httpx.post(f"{api}/workspaces", json=body))

    # A connection cannot join a source and a destination of different workspaces.
    source_id, _ = _pair(local_airbyte, tmp_path)
    other_dest = httpx.post(
        f"{api}/destinations",
        json={
            "name": "elsewhere",
            "workspaceId": ws,
            "definitionId": DUCKDB,
            "configuration": {"destination_path": str(tmp_path / "b.duckdb")},
        },
    ).json()
    assert other_dest["workspaceId"] == ws
    _bad_request(
        httpx.post(
            f"{api}/connections",
            json={"sourceId": source_id, "destinationId": other_dest["destinationId"]},
        )
    )
