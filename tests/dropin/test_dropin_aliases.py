"""dagster-airbyte's spellings are aliases of ours: same settings, same behaviour, typed errors.

No server needed: these check how each alias lands on our setting (the end-to-end runs are in
``test_dropin_program.py``, ``test_dropin_legacy_keys.py`` and ``test_dropin_component.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

import dagster_airbyte_assets as ours
from dagster_airbyte_assets import AirbyteJobStatusType, AirbyteWorkspace
from dagster_airbyte_assets.client import (
    AirbyteConnection,
    AirbyteDestination,
    AirbyteStream,
    JobStatus,
)
from dagster_airbyte_assets.errors import AirbyteConfigurationError

BASE = "http://airbyte.example:8000"
WORKSPACE_ID = "6a1f5b3e-4b7a-4c47-9a39-2f0d3f1e8c11"


def _theirs(**overrides: Any) -> AirbyteWorkspace:
    settings: dict[str, Any] = {
        "rest_api_base_url": f"{BASE}/api/public/v1",
        "configuration_api_base_url": f"{BASE}/api/v1",
        "workspace_id": WORKSPACE_ID,
        "username": "airbyte",
        "password": "password",
        **overrides,
    }
    return AirbyteWorkspace(**settings)


def test_their_urls_are_our_urls() -> None:
    workspace = _theirs()
    assert workspace.airbyte_url == f"{BASE}/api/public/v1"
    client = workspace.get_client()
    assert client.api == "public"
    assert client.describe() == f"{BASE}/api/public/v1 (public API)"
    assert client.config_api_url == f"{BASE}/api/v1"


def test_only_their_config_api_url_means_the_config_dialect() -> None:
    workspace = AirbyteWorkspace(configuration_api_base_url=f"{BASE}/api/v1")
    assert workspace.get_client().api == "config"


def test_their_settings_map_to_ours() -> None:
    workspace = _theirs(
        request_max_retries=2,
        request_retry_delay=0.5,
        request_timeout=7,
        max_items_per_page=50,
        poll_interval=3,
        poll_timeout=60,
        cancel_on_termination=False,
        poll_previous_running_sync=True,
    )
    client = workspace.get_client()
    assert client.retry.attempts == 3 and client.retry.wait_initial == 0.5
    assert workspace.request_timeout == 7 and workspace.poll_interval == 3
    assert workspace.poll_timeout == 60 and workspace.cancel_on_termination is False


def test_their_url_from_an_env_var_resolves_when_the_resource_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DROPIN_TEST_URL", f"{BASE}/api/public/v1")
    workspace = AirbyteWorkspace(rest_api_base_url=dg.EnvVar("DROPIN_TEST_URL"))
    with dg.build_resources({"airbyte": workspace}) as resources:
        client = resources.airbyte.get_client()
        assert client.api == "public"
        assert client.describe() == f"{BASE}/api/public/v1 (public API)"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"public_api_url": f"{BASE}/api/public/v1", "rest_api_base_url": "http://o:1/v1"}, "rest"),
        (
            {"config_api_url": f"{BASE}/api/v1", "configuration_api_base_url": "http://o:1/v1"},
            "conf",
        ),
        ({"workspace_id": WORKSPACE_ID}, "`url`"),
        ({"rest_api_base_url": "localhost:8000"}, "rest_api_base_url"),
        ({"url": BASE, "request_retry_delay": -1}, "request_retry_delay"),
        ({"url": BASE, "max_items_per_page": 0}, "max_items_per_page"),
        ({"url": BASE, "poll_previous_running_sync": "yes"}, "poll_previous_running_sync"),
    ],
)
def test_bad_or_conflicting_settings_are_typed_errors(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(AirbyteConfigurationError, match=named):
        AirbyteWorkspace(**settings)


def test_ours_and_theirs_for_one_keyword_is_an_error(tmp_path: Path) -> None:
    workspace = AirbyteWorkspace(url=BASE, workspace_id=WORKSPACE_ID)
    with pytest.raises(AirbyteConfigurationError, match="dagster_airbyte_translator"):
        ours.build_airbyte_assets_definitions(
            workspace=workspace,
            translator=ours.DagsterAirbyteTranslator(),
            dagster_airbyte_translator=ours.LegacyKeysTranslator(),
            state_path=tmp_path / "never-read.json",
        )
    with pytest.raises(AirbyteConfigurationError, match="connection_selector_fn"):
        ours.load_airbyte_asset_specs(
            workspace,
            connection_selector=lambda c: True,
            connection_selector_fn=lambda c: False,
            state_path=tmp_path / "never-read.json",
        )


def test_job_status_enum_has_theirs_and_queued() -> None:
    names = {"RUNNING", "SUCCEEDED", "CANCELLED", "PENDING", "FAILED", "ERROR", "INCOMPLETE"}
    assert names <= set(AirbyteJobStatusType.__members__)
    assert AirbyteJobStatusType.QUEUED == JobStatus.QUEUED == "queued"
    assert AirbyteJobStatusType("succeeded") == JobStatus.SUCCEEDED
    dagster_airbyte = pytest.importorskip("dagster_airbyte")
    for member in dagster_airbyte.AirbyteJobStatusType:
        assert AirbyteJobStatusType[member.name] == member.value


def test_props_carry_their_fields_with_their_values() -> None:
    connection = AirbyteConnection(
        connection_id="c-1",
        name="Shop → Warehouse",
        source_id="s",
        destination_id="d",
        status="active",
        prefix="shop_",
        namespace_definition="source",
        streams=[
            AirbyteStream(
                name="Orders",
                namespace="sales",
                json_schema={"type": "object", "properties": {"id": {"type": "integer"}}},
            )
        ],
    )
    destination = AirbyteDestination(
        destination_id="d",
        name="Warehouse",
        destination_type="postgres",
        workspace_id=WORKSPACE_ID,
        database="analytics",
        schema_name="public",
    )
    props = ours.AirbyteConnectionTableProps(connection, connection.streams[0], destination)
    assert props.table_name == "shop_Orders"  # prefix + stream, as given
    assert props.stream_prefix == "shop_" and props.stream_name == "Orders"
    assert props.json_schema == {"type": "object", "properties": {"id": {"type": "integer"}}}
    assert (props.connection_id, props.connection_name) == ("c-1", "Shop → Warehouse")
    assert (props.destination_type, props.database, props.schema) == (
        "postgres",
        "analytics",
        "public",
    )
    # dagster-airbyte's own rule (configured schema, stream name without its prefix) ...
    assert props.fully_qualified_table_name == "analytics.public.Orders"
    # ... and ours, where the rows really land (namespace "source": the stream's schema).
    assert props.qualified_table_name == "analytics.sales.shop_orders"
    assert (connection.id, connection.stream_prefix) == ("c-1", "shop_")

    dagster_airbyte = pytest.importorskip("dagster_airbyte")
    theirs = dagster_airbyte.AirbyteConnectionTableProps(
        table_name="shop_Orders",
        stream_prefix="shop_",
        stream_name="Orders",
        json_schema=props.json_schema,
        connection_id="c-1",
        connection_name="Shop → Warehouse",
        destination_type="postgres",
        database="analytics",
        schema="public",
    )
    assert theirs.fully_qualified_table_name == props.fully_qualified_table_name
    legacy = ours.LegacyKeysTranslator().get_asset_spec(props)
    their_spec = dagster_airbyte.DagsterAirbyteTranslator().get_asset_spec(theirs)
    assert legacy.key == their_spec.key == dg.AssetKey("shop_Orders")
    for name in ("dagster-airbyte/connection_id", "dagster-airbyte/connection_name"):
        assert legacy.metadata[name] == their_spec.metadata[name]
    assert legacy.metadata["dagster-airbyte/stream_prefix"] == "shop_"
