"""The translator alone: stream properties in, AssetSpec out. Pure, so no server is needed.

Payload shapes follow the Config API's ConnectionRead / DestinationRead (config-api.yaml).
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from dagster_airbyte_assets._metadata import AirbyteSpecMetadata
from dagster_airbyte_assets._state import AirbyteWorkspaceSnapshot
from dagster_airbyte_assets.assets import _stream_props, assets_from_snapshot
from dagster_airbyte_assets.client import AirbyteConnection, AirbyteDestination, AirbyteStream
from dagster_airbyte_assets.translator import (
    AirbyteStreamProps,
    DagsterAirbyteTranslator,
    MetadataKeys,
    column_schema_from_json_schema,
    sanitize_name,
)

CUSTOMERS_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "email": {"type": ["null", "string"]},
        "updated_at": {"type": "string", "format": "date-time"},
        "score": {"type": ["null", "number"]},
        "tags": {"type": ["null", "array"], "items": {"type": "string"}},
        "address": {"type": "object"},
        "birthday": {"anyOf": [{"type": "null"}, {"type": "string", "format": "date"}]},
        "flag": {"type": "boolean"},
    },
}


def _destination(kind: str = "postgres", schema: str | None = "raw") -> AirbyteDestination:
    return AirbyteDestination(
        destination_id="d-1",
        name="Warehouse",
        destination_type=kind,
        workspace_id="w-1",
        database="warehouse",
        schema_name=schema,
    )


def _connection(**overrides: object) -> AirbyteConnection:
    fields: dict[str, object] = {
        "connection_id": "c-1",
        "name": "Shop → Warehouse",
        "source_id": "s-1",
        "destination_id": "d-1",
        "status": "active",
        "streams": [],
        "has_json_schemas": True,
    }
    fields.update(overrides)
    return AirbyteConnection.model_validate(fields)


def _stream(name: str = "customers", namespace: str | None = "public") -> AirbyteStream:
    return AirbyteStream(
        name=name,
        namespace=namespace,
        json_schema=CUSTOMERS_SCHEMA,
        selected=True,
        sync_mode="incremental",
        destination_sync_mode="append_dedup",
        cursor_field=["updated_at"],
        primary_key=[["id"]],
    )


def _spec(connection: AirbyteConnection, stream: AirbyteStream, destination=None) -> dg.AssetSpec:
    props = AirbyteStreamProps(connection, stream, destination or _destination(), "http://ui/c-1")
    return DagsterAirbyteTranslator().get_asset_spec(props)


def test_default_key_is_destination_schema_and_table_so_dbt_sources_line_up() -> None:
    spec = _spec(_connection(), _stream())
    assert spec.key == dg.AssetKey(["raw", "customers"])


@pytest.mark.parametrize(
    ("definition", "fmt", "expected_schema"),
    [
        ("destination", None, "raw"),
        ("source", None, "public"),
        ("customformat", "${SOURCE_NAMESPACE}_copy", "public_copy"),
        ("customformat", "  ", "raw"),
    ],
    ids=["destination", "source", "customformat", "blank-customformat-falls-back"],
)
def test_namespace_rules_follow_airbyte(
    definition: str, fmt: str | None, expected_schema: str
) -> None:
    connection = _connection(namespace_definition=definition, namespace_format=fmt)
    spec = _spec(connection, _stream())
    assert spec.key.path[0] == expected_schema
    assert spec.metadata[MetadataKeys.TABLE_NAME] == f"warehouse.{expected_schema}.customers"


def test_prefix_is_part_of_the_table_and_the_key() -> None:
    spec = _spec(_connection(prefix="shop_"), _stream())
    assert spec.key == dg.AssetKey(["raw", "shop_customers"])
    assert spec.metadata[MetadataKeys.TABLE_NAME] == "warehouse.raw.shop_customers"


def test_destination_default_schema_when_not_configured() -> None:
    spec = _spec(_connection(), _stream(), _destination("duckdb", schema=None))
    assert spec.key == dg.AssetKey(["main", "customers"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [("order items", "order_items"), ("v1.orders", "v1_orders"), ("a-b", "a_b"), ("café", "cafe")],
    ids=["space", "dot", "dash", "unicode"],
)
def test_awkward_stream_names_become_valid_keys(name: str, expected: str) -> None:
    spec = _spec(_connection(), _stream(name))
    assert spec.key == dg.AssetKey(["raw", expected])
    assert sanitize_name(name) == expected
    # The key must be usable in a real definition.
    dg.multi_asset(specs=[spec], name="probe")(lambda: None)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("order items", "order_items"), ("café", "caf_"), ("a  b", "a__b"), ("1st", "_1st")],
    ids=["space", "accent-not-dropped", "each-space", "leading-digit"],
)
def test_duckdb_tables_follow_the_cdk_normalizer(name: str, expected: str) -> None:
    # destination-duckdb writes through airbyte_cdk.sql (LowerCaseNormalizer), not the Java
    # Names rule: accents become "_" rather than being dropped.
    spec = _spec(_connection(), _stream(name), _destination("duckdb"))
    assert spec.key == dg.AssetKey(["raw", expected])


def test_column_schema_has_real_types_and_nullability() -> None:
    schema = column_schema_from_json_schema(CUSTOMERS_SCHEMA)
    assert schema is not None
    columns = {c.name: c for c in schema.columns}
    assert columns["email"].type == "string"
    assert columns["email"].constraints.nullable is True
    assert columns["id"].type == "integer"
    assert columns["id"].constraints.nullable is False
    assert columns["updated_at"].type == "timestamp"
    assert columns["score"].type == "number"
    assert columns["tags"].type == "array"
    assert columns["address"].type == "json"
    assert columns["birthday"].type == "date"
    assert columns["birthday"].constraints.nullable is True
    assert all("[" not in c.type for c in schema.columns)


def test_group_kinds_and_metadata() -> None:
    spec = _spec(_connection(), _stream())
    assert spec.group_name == "shop_warehouse"
    assert spec.kinds == {"airbyte", "postgres"}
    meta = spec.metadata
    assert meta[MetadataKeys.CONNECTION_ID] == "c-1"
    assert meta[MetadataKeys.CONNECTION_NAME] == "Shop → Warehouse"
    assert meta[MetadataKeys.CONNECTION_URL] == dg.MetadataValue.url("http://ui/c-1")
    assert meta[MetadataKeys.SYNC_MODE] == "incremental"
    assert meta[MetadataKeys.DESTINATION_SYNC_MODE] == "append_dedup"
    assert meta[MetadataKeys.CURSOR_FIELD] == "updated_at"
    assert meta[MetadataKeys.PRIMARY_KEY] == "id"


def test_unknown_schema_gives_no_column_metadata() -> None:
    stream = _stream().model_copy(update={"json_schema": None})
    spec = _spec(_connection(has_json_schemas=False), stream)
    assert MetadataKeys.COLUMN_SCHEMA not in spec.metadata


def test_subclass_can_change_keys() -> None:
    class Prefixed(DagsterAirbyteTranslator):
        def get_asset_key(self, props: AirbyteStreamProps) -> dg.AssetKey:
            return super().get_asset_key(props).with_prefix("airbyte")

    props = AirbyteStreamProps(_connection(), _stream(), _destination())
    assert Prefixed().get_asset_spec(props).key == dg.AssetKey(["airbyte", "raw", "customers"])


def test_streams_with_one_schema_share_its_column_schema_in_their_own_column_order() -> None:
    """Loading shares one TableSchema per distinct JSON schema; key order still decides the
    column order, so a schema listing the same fields in another order gets its own."""
    first = _spec(_connection(), _stream("customers"))
    second = _spec(_connection(connection_id="c-2", name="Other"), _stream("customers"))
    assert first.metadata[MetadataKeys.COLUMN_SCHEMA] is second.metadata[MetadataKeys.COLUMN_SCHEMA]
    reordered = {
        "type": "object",
        "properties": dict(reversed(list(CUSTOMERS_SCHEMA["properties"].items()))),  # type: ignore[attr-defined]
    }
    third = _spec(_connection(), _stream().model_copy(update={"json_schema": reordered}))

    def data_columns(spec: dg.AssetSpec) -> list[str]:
        # Airbyte's own `_airbyte_*` columns come first, in the destination's fixed order.
        columns = spec.metadata[MetadataKeys.COLUMN_SCHEMA].columns
        return [c.name for c in columns if not c.name.startswith("_airbyte_")]

    assert data_columns(third) == list(reversed(data_columns(first)))


def test_spec_metadata_entries_match_the_metadata_set() -> None:
    values = {"connection_id": "c-1", "stream_namespace": None, "sync_mode": "incremental"}
    assert list(AirbyteSpecMetadata.entries(**values).items()) == list(
        dict(AirbyteSpecMetadata(**values)).items()
    )
    with pytest.raises(KeyError, match="conection_id"):
        AirbyteSpecMetadata.entries(conection_id="c-1")


def _snapshot() -> AirbyteWorkspaceSnapshot:
    return AirbyteWorkspaceSnapshot(
        workspace_id="w-1",
        api_url="http://airbyte",
        fetched_at=datetime.now(UTC),
        connections=[_connection(streams=[_stream("customers"), _stream("orders")])],
        destinations={"d-1": _destination()},
    )


def test_loader_keeps_execution_metadata_a_custom_translator_dropped() -> None:
    class Bare(DagsterAirbyteTranslator):
        def get_metadata(self, props: AirbyteStreamProps) -> dict[str, str]:
            return {"team": "data"}

    [assets] = assets_from_snapshot(_snapshot(), translator=Bare())
    for spec in assets.specs:
        read_back = AirbyteSpecMetadata.of(spec.metadata)
        assert read_back.connection_id == "c-1"
        assert read_back.stream_name == spec.key.path[-1]
        assert spec.metadata["team"] == "data"


def test_loader_specs_are_the_default_translators_own() -> None:
    # The default translator writes what execution reads: the loader keeps its spec as is
    # (no second pass over 10,000 specs), metadata and key order included.
    snapshot = _snapshot()
    [assets] = assets_from_snapshot(snapshot)
    expected = {
        spec.key: spec
        for props_list in _stream_props(snapshot, None).values()
        for spec in (DagsterAirbyteTranslator().get_asset_spec(p) for p in props_list)
    }
    for spec in assets.specs:
        assert list(spec.metadata.items()) == list(expected[spec.key].metadata.items())
