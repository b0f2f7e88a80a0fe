"""The sample workspace, created through the Config API like the seeds' Python script.

Going through HTTP (not the store) keeps the seed honest: if the API cannot build this
workspace, neither could a user. Seeding a state that already holds the sample changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from . import LocalAirbyte

__all__ = ["SAMPLE_CONNECTION_NAME", "seed_sample"]

SAMPLE_CONNECTION_NAME = "Sample Data → DuckDB"
SAMPLE_STREAMS = ("customers", "products", "orders")


def _client(server: LocalAirbyte, base_url: str) -> httpx.Client:
    auth: Any = None
    headers = {"Content-Type": "application/json"}
    if server.auth == "basic":
        auth = httpx.BasicAuth(*server.basic_credentials)
    elif server.auth == "client-credentials":
        client_id, client_secret = server.client_credentials
        # The Public token endpoint from v0.64; the Config one (v0.50.38+) before it.
        token_url = (
            f"{server.public_api_url}/applications/token"
            if server.profile.public_token
            else f"{server.config_api_url}/applications/token"
        )
        response = httpx.post(
            token_url, json={"client_id": client_id, "client_secret": client_secret}, timeout=30
        )
        response.raise_for_status()
        headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return httpx.Client(base_url=base_url, auth=auth, headers=headers, timeout=60)


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    if response.status_code >= 400:
        raise RuntimeError(f"seeding failed at {path}: {response.status_code} {response.text}")
    result: dict[str, Any] = response.json()
    return result


def seed_sample(server: LocalAirbyte) -> str:
    """Create (once) Sample Data → DuckDB with incremental streams; return the connection id.

    Through the Config API, or the Public API where the profile closes the Config API.
    """
    if not server.profile.config_api:
        return _seed_public(server)
    with _client(server, server.config_api_url) as client:
        workspace_id = server.workspace_id
        existing = _post(client, "/connections/list", {"workspaceId": workspace_id})
        for connection in existing["connections"]:
            if connection["name"] == SAMPLE_CONNECTION_NAME:
                return str(connection["connectionId"])

        definitions = _post(client, "/source_definitions/list", {"workspaceId": workspace_id})
        sample = next(d for d in definitions["sourceDefinitions"] if d["name"] == "Sample Data")
        source = _post(
            client,
            "/sources/create",
            {
                "sourceDefinitionId": sample["sourceDefinitionId"],
                "connectionConfiguration": {},
                "workspaceId": workspace_id,
                "name": "Sample Data",
            },
        )
        definitions = _post(client, "/destination_definitions/list", {"workspaceId": workspace_id})
        duck = next(d for d in definitions["destinationDefinitions"] if d["name"] == "DuckDB")
        destination = _post(
            client,
            "/destinations/create",
            {
                "destinationDefinitionId": duck["destinationDefinitionId"],
                "connectionConfiguration": {
                    "destination_path": str((server.state_dir / "local.duckdb").resolve()),
                    "schema": "raw",
                },
                "workspaceId": workspace_id,
                "name": "DuckDB",
            },
        )
        streams = [
            {
                "stream": {"name": name},
                "config": {
                    "syncMode": "incremental",
                    "cursorField": ["updated_at"],
                    "destinationSyncMode": "append",
                    "selected": True,
                },
            }
            for name in SAMPLE_STREAMS
        ]
        connection = _post(
            client,
            "/connections/create",
            {
                "sourceId": source["sourceId"],
                "destinationId": destination["destinationId"],
                "syncCatalog": {"streams": streams},
                "scheduleType": "manual",
                "name": SAMPLE_CONNECTION_NAME,
                "namespaceDefinition": "destination",
                "status": "active",
            },
        )
        return str(connection["connectionId"])


def _seed_public(server: LocalAirbyte) -> str:
    """The same sample through the Public API (a deployment exposing only ``/api/public``)."""
    with _client(server, server.public_api_url) as client:

        def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
            response = client.request(method, path, json=body)
            if response.status_code >= 400:
                raise RuntimeError(
                    f"seeding failed at {path}: {response.status_code} {response.text}"
                )
            return response.json()

        workspace_id = server.workspace_id
        offset = 0
        while True:  # every page: the order of Public lists is not stable, names are
            page = call(
                "GET", f"/connections?workspaceIds={workspace_id}&limit=100&offset={offset}"
            )
            for connection in page["data"]:
                if connection["name"] == SAMPLE_CONNECTION_NAME:
                    return str(connection["connectionId"])
            if not page["data"]:
                break
            offset += 100
        source = call(
            "POST",
            "/sources",
            {
                "name": "Sample Data",
                "workspaceId": workspace_id,
                "configuration": {"sourceType": "faker"},
            },
        )
        destination = call(
            "POST",
            "/destinations",
            {
                "name": "DuckDB",
                "workspaceId": workspace_id,
                "configuration": {
                    "destinationType": "duckdb",
                    "destination_path": str((server.state_dir / "local.duckdb").resolve()),
                    "schema": "raw",
                },
            },
        )
        connection = call(
            "POST",
            "/connections",
            {
                "name": SAMPLE_CONNECTION_NAME,
                "sourceId": source["sourceId"],
                "destinationId": destination["destinationId"],
                "namespaceDefinition": "destination",
                "schedule": {"scheduleType": "manual"},
                "configurations": {
                    "streams": [
                        {
                            "name": name,
                            "syncMode": "incremental_append",
                            "cursorField": ["updated_at"],
                        }
                        for name in SAMPLE_STREAMS
                    ]
                },
            },
        )
        return str(connection["connectionId"])
