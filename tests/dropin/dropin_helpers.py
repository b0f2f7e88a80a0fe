"""A program written against dagster-airbyte 0.29.27's API, and the server-side facts to check.

``PROGRAM`` is what a dagster-airbyte user has today: a resource with its settings, a custom
translator reading the props' fields, ``connection_selector_fn``, and an ``@airbyte_assets``
body calling ``airbyte.sync_and_poll(context=context)``. :func:`load_program` runs it with the
import line pointing at either library; nothing else changes.
"""

from __future__ import annotations

import types
from typing import Any

import dagster as dg
import httpx

PROGRAM = '''
import dagster as dg
from {library} import (
    AirbyteConnectionTableProps,
    AirbyteWorkspace,
    DagsterAirbyteTranslator,
    airbyte_assets,
    build_airbyte_assets_definitions,
)


class WarehouseTranslator(DagsterAirbyteTranslator):
    """Keys from the prefix and table name; group and metadata from the other props."""

    def get_asset_spec(self, props: AirbyteConnectionTableProps) -> dg.AssetSpec:
        spec = super().get_asset_spec(props)
        area = (props.stream_prefix or "").strip("_") or "main"
        return spec.replace_attributes(
            key=dg.AssetKey(["warehouse", area, props.table_name]),
            group_name="airbyte_" + (props.destination_type or "unknown"),
        ).merge_attributes(
            metadata={{
                "source_stream": props.stream_name,
                "connection": props.connection_name + " (" + props.connection_id + ")",
                "columns": ",".join(sorted(props.json_schema.get("properties", {{}}))),
                "fully_qualified": str(props.fully_qualified_table_name),
                "schema": str(props.schema),
            }}
        )


def build(settings, main_connection_id):
    airbyte = AirbyteWorkspace(**settings)
    translator = WarehouseTranslator()

    @airbyte_assets(
        connection_id=main_connection_id,
        workspace=airbyte,
        name="main_connection",
        dagster_airbyte_translator=translator,
    )
    def main_connection(context: dg.AssetExecutionContext, airbyte: AirbyteWorkspace):
        yield from airbyte.sync_and_poll(context=context)

    others = build_airbyte_assets_definitions(
        workspace=airbyte,
        dagster_airbyte_translator=translator,
        connection_selector_fn=lambda connection: connection.id != main_connection_id,
    )
    return dg.Definitions(assets=[main_connection, *others], resources={{"airbyte": airbyte}})
'''


def load_program(library: str, settings: dict[str, Any], main_connection_id: str) -> dg.Definitions:
    """Run ``PROGRAM`` with ``from <library> import ...`` and return its definitions."""
    module = types.ModuleType(f"user_program_{library}")
    code = compile(PROGRAM.format(library=library), module.__name__, "exec", dont_inherit=True)
    exec(code, module.__dict__)
    definitions: dg.Definitions = module.build(settings, main_connection_id)
    return definitions


def dagster_airbyte_settings(server: Any) -> dict[str, Any]:
    """The resource settings a dagster-airbyte user writes for this server."""
    client_id, client_secret = server.client_credentials
    return {
        "rest_api_base_url": server.public_api_url,
        "configuration_api_base_url": server.config_api_url,
        "workspace_id": server.workspace_id,
        "client_id": client_id,
        "client_secret": client_secret,
        "poll_interval": 1.0,
    }


def admin(server: Any) -> httpx.Client:
    """A Config API client with a token of its own (not counted as either library's calls)."""
    client_id, client_secret = server.client_credentials
    token = httpx.post(
        f"{server.public_api_url}/applications/token",
        json={"client_id": client_id, "client_secret": client_secret},
        timeout=30,
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.config_api_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def add_prefixed_connection(server: Any, client: httpx.Client) -> str:
    """A second connection from the sample source into the same DuckDB, prefix ``copy_``."""
    sample = post(client, "/connections/get", {"connectionId": server.sample_connection_id})
    streams = [
        {
            "stream": {"name": name},
            "config": {
                "syncMode": "full_refresh",
                "destinationSyncMode": "overwrite",
                "selected": True,
            },
        }
        for name in ("customers", "products")
    ]
    created = post(
        client,
        "/connections/create",
        {
            "sourceId": sample["sourceId"],
            "destinationId": sample["destinationId"],
            "syncCatalog": {"streams": streams},
            "scheduleType": "manual",
            "name": "Sample copy",
            "namespaceDefinition": "destination",
            "prefix": "copy_",
            "status": "active",
        },
    )
    return str(created["connectionId"])


def jobs(client: httpx.Client, connection_id: str) -> list[dict[str, Any]]:
    """The connection's sync jobs on the server, newest first."""
    body = {"configTypes": ["sync"], "configId": connection_id}
    found: list[dict[str, Any]] = post(client, "/jobs/list", body)["jobs"]
    return found


def committed_by_stream(client: httpx.Client, job_id: int) -> dict[str, int]:
    """Records committed per stream of one job, over its attempts, as the server reports them."""
    job = post(client, "/jobs/get", {"id": job_id})
    totals: dict[str, int] = {}
    for attempt in job["attempts"]:
        for stats in attempt["attempt"].get("streamStats") or []:
            name = stats["streamName"]
            committed = (stats.get("stats") or {}).get("recordsCommitted") or 0
            totals[name] = totals.get(name, 0) + int(committed)
    return totals
