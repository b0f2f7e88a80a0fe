"""Schema drift checks: has a stream's schema in Airbyte moved away from the definitions?

The definitions were built from a saved snapshot; each spec carries the stream's columns
(``dagster/column_schema``) and a digest of its JSON schema (``airbyte/json_schema_hash``). The
check fetches the stream's *current* schema and fails, listing the added, removed and re-typed
columns, when they differ.

Where "current" comes from (``schema_source``):

- ``"discover"`` (default): Airbyte discovers the source's schema now (Config API
  ``sources/discover_schema``), so a column added to a source table shows up before Airbyte's own
  schema-change detection runs. One discovery per connection per check run. Where the
  connection syncs only some fields (field selection), only those are compared: a field the
  connection leaves out is not drift. A discovery that fails (Airbyte answers 200 without a
  catalog) is a warning "could not discover: <reason>", never "every stream removed".
- ``"connection"``: the connection's configured catalog (cheaper, but it changes only after
  Airbyte refreshes the connection's schema).

One ``multi_asset_check`` per connection, one check per stream, non-blocking by default: put the
checks in the same ``Definitions`` and they run after every materialization of their asset
(Dagster runs a selected asset's checks in the same run); a sensor-reported sync can be followed
by running them with ``AssetSelection.checks_for_assets``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg

from dagster_airbyte_assets._metadata import AirbyteSpecMetadata
from dagster_airbyte_assets._names import definition_name, unique_names
from dagster_airbyte_assets.client import AirbyteClient, AirbyteStream
from dagster_airbyte_assets.errors import AirbyteDiscoverError, AirbyteError
from dagster_airbyte_assets.translator import (
    MetadataKeys,
    column_schema_from_json_schema,
    json_schema_hash,
    specs_by_connection,
    synced_json_schema,
)

if TYPE_CHECKING:
    from dagster_airbyte_assets.resource import AirbyteWorkspace

__all__ = [
    "SCHEMA_DRIFT_CHECK_NAME",
    "SchemaDrift",
    "build_airbyte_schema_drift_checks",
    "compare_column_schemas",
]

SCHEMA_DRIFT_CHECK_NAME = "airbyte_schema_drift"

SchemaSource = Literal["discover", "connection"]


@dataclass(frozen=True)
class SchemaDrift:
    """Column differences between the schema the definitions know and the current one."""

    added: dict[str, str]
    """column -> type, present now but not in the definitions."""
    removed: dict[str, str]
    """column -> type the definitions knew, gone now."""
    retyped: dict[str, tuple[str, str]]
    """column -> (type then, type now); nullability counts (``string`` vs ``string?``)."""

    @property
    def has_drift(self) -> bool:
        return bool(self.added or self.removed or self.retyped)

    def describe(self) -> str:
        parts = []
        if self.added:
            parts.append("added " + ", ".join(f"{c} ({t})" for c, t in self.added.items()))
        if self.removed:
            parts.append("removed " + ", ".join(f"{c} ({t})" for c, t in self.removed.items()))
        if self.retyped:
            parts.append(
                "re-typed "
                + ", ".join(f"{c} ({old} -> {new})" for c, (old, new) in self.retyped.items())
            )
        return "; ".join(parts) or "no column changes"


def _column_types(schema: dg.TableSchema | None) -> dict[str, str]:
    if schema is None:
        return {}
    types = {}
    for column in schema.columns:
        nullable = column.constraints.nullable if column.constraints else True
        types[column.name] = f"{column.type}{'?' if nullable else ''}"
    return types


def compare_column_schemas(
    expected: dg.TableSchema | None, current: dg.TableSchema | None
) -> SchemaDrift:
    """Added, removed and re-typed columns from ``expected`` to ``current`` (pure)."""
    before, after = _column_types(expected), _column_types(current)
    return SchemaDrift(
        added={c: t for c, t in after.items() if c not in before},
        removed={c: t for c, t in before.items() if c not in after},
        retyped={c: (before[c], t) for c, t in after.items() if c in before and before[c] != t},
    )


def _find_stream(
    streams: Sequence[AirbyteStream], name: str, namespace: str | None
) -> AirbyteStream | None:
    by_name = [s for s in streams if s.name == name]
    exact = [s for s in by_name if s.namespace == namespace]
    candidates = exact or by_name
    return candidates[0] if candidates else None


def _current_streams(
    client: AirbyteClient, connection_id: str, schema_source: SchemaSource
) -> list[AirbyteStream]:
    connection = client.get_connection(connection_id)
    if schema_source != "discover":
        return connection.streams
    selection = {(s.name, s.namespace): s.selected_fields for s in connection.streams}
    return [
        stream.model_copy(
            update={
                "selected_fields": selection.get((stream.name, stream.namespace)),
            }
        )
        for stream in client.discover_source_schema(connection.source_id)
    ]


def _check_result(
    spec: dg.AssetSpec, check_name: str, stream: AirbyteStream | None, source: str
) -> dg.AssetCheckResult:
    meta = AirbyteSpecMetadata.of(spec.metadata)
    name = meta.stream_name or spec.key.path[-1]
    expected_schema = spec.metadata.get(MetadataKeys.COLUMN_SCHEMA)
    expected = expected_schema if isinstance(expected_schema, dg.TableSchema) else None
    expected_hash = meta.json_schema_hash
    if stream is None:
        return dg.AssetCheckResult(
            asset_key=spec.key,
            check_name=check_name,
            passed=False,
            description=f"Stream {name!r} is no longer in the {source} schema.",
            metadata={"removed_stream": name},
        )
    if not stream.json_schema:
        return dg.AssetCheckResult(
            asset_key=spec.key,
            check_name=check_name,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"Airbyte gave no JSON schema for stream {name!r}; nothing to compare.",
        )
    synced = synced_json_schema(stream) or {}
    current_hash = json_schema_hash(synced)
    kind = spec.metadata.get(MetadataKeys.DESTINATION_TYPE)
    destination_type = getattr(kind, "value", kind)
    # Typed as the definitions type it (the destination's types), so only real changes show.
    current = column_schema_from_json_schema(
        synced, destination_type if isinstance(destination_type, str) else None
    )
    metadata: dict[str, Any] = {MetadataKeys.JSON_SCHEMA_HASH: current_hash}
    if expected is None:
        return dg.AssetCheckResult(
            asset_key=spec.key,
            check_name=check_name,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "The definitions carry no column schema for this stream (a custom translator "
                "dropped dagster/column_schema?); nothing to compare."
            ),
            metadata=metadata,
        )
    if expected_hash is not None and str(expected_hash) == current_hash:
        return dg.AssetCheckResult(
            asset_key=spec.key,
            check_name=check_name,
            passed=True,
            description="The stream's schema is unchanged.",
            metadata=metadata,
        )
    drift = compare_column_schemas(expected, current)
    metadata.update(
        {
            "added_columns": sorted(drift.added),
            "removed_columns": sorted(drift.removed),
            "retyped_columns": {c: f"{o} -> {n}" for c, (o, n) in drift.retyped.items()},
        }
    )
    if current is not None:
        metadata["current_column_schema"] = current
    if not drift.has_drift:
        return dg.AssetCheckResult(
            asset_key=spec.key,
            check_name=check_name,
            passed=True,
            description=(
                "Columns unchanged (the JSON schema changed elsewhere)."
                if expected_hash is not None
                else "The stream's columns are unchanged."
            ),
            metadata=metadata,
        )
    return dg.AssetCheckResult(
        asset_key=spec.key,
        check_name=check_name,
        passed=False,
        description=(
            f"Stream {name!r} changed in the {source} schema: {drift.describe()}. Refresh the "
            "definitions (dagster-airbyte-assets refresh-state) once downstream code is ready."
        ),
        metadata=metadata,
    )


def build_airbyte_schema_drift_checks(
    *,
    assets: Sequence[dg.AssetsDefinition | dg.AssetSpec],
    resource_key: str = "airbyte",
    schema_source: SchemaSource = "discover",
    blocking: bool = False,
    check_name: str = SCHEMA_DRIFT_CHECK_NAME,
) -> list[dg.AssetChecksDefinition]:
    """One drift check per stream asset in ``assets`` (one check op per connection).

    ``assets`` are the definitions built by ``build_airbyte_assets_definitions``; the checks use
    the ``AirbyteWorkspace`` bound to ``resource_key``::

        assets = build_airbyte_assets_definitions(workspace=airbyte)
        defs = dg.Definitions(
            assets=assets,
            asset_checks=build_airbyte_schema_drift_checks(assets=assets),
            resources={"airbyte": airbyte},
        )
    """
    grouped = specs_by_connection(assets)
    names = unique_names(
        {
            cid: (_check_op_name(cid, specs), min(s.key.to_user_string() for s in specs))
            for cid, specs in grouped.items()
        }
    )
    return [
        _connection_checks(
            cid, specs, resource_key, schema_source, blocking, check_name, names[cid]
        )
        for cid, specs in grouped.items()
    ]


def _check_op_name(connection_id: str, specs: Sequence[dg.AssetSpec]) -> str:
    """``airbyte_schema_drift_<connection name>``; no id suffix, so the same on every machine."""
    label = definition_name(
        AirbyteSpecMetadata.of(specs[0].metadata).connection_name or connection_id
    )
    return f"airbyte_schema_drift_{label}"


def _connection_checks(
    connection_id: str,
    specs: Sequence[dg.AssetSpec],
    resource_key: str,
    schema_source: SchemaSource,
    blocking: bool,
    check_name: str,
    op_name: str,
) -> dg.AssetChecksDefinition:
    check_specs = [
        dg.AssetCheckSpec(
            name=check_name,
            asset=spec.key,
            blocking=blocking,
            description=(
                "Fails when the stream's current schema in Airbyte has added, removed or "
                "re-typed columns compared with the definitions."
            ),
        )
        for spec in specs
    ]
    source = "discovered source" if schema_source == "discover" else "connection's"

    @dg.multi_asset_check(
        specs=check_specs,
        name=op_name,
        required_resource_keys={resource_key},
        can_subset=True,
    )
    # No annotation on ``context``: Dagster checks it at definition time and, with postponed
    # annotations, would see a string it does not recognise.
    def _schema_drift(context) -> Iterator[dg.AssetCheckResult]:  # type: ignore[no-untyped-def]
        workspace: AirbyteWorkspace = getattr(context.resources, resource_key)
        selected = {key.asset_key for key in context.selected_asset_check_keys}
        wanted = [spec for spec in specs if spec.key in selected]
        try:
            streams = _current_streams(workspace.get_client(), connection_id, schema_source)
        except AirbyteError as exc:
            reason = exc.message if isinstance(exc, AirbyteDiscoverError) else None
            text = (
                f"could not discover: {reason or exc}"
                if schema_source == "discover"
                else f"Could not read the current schema from Airbyte: {exc}"
            )
            for spec in wanted:
                yield dg.AssetCheckResult(
                    asset_key=spec.key,
                    check_name=check_name,
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=text,
                )
            return
        for spec in wanted:
            meta = AirbyteSpecMetadata.of(spec.metadata)
            name = meta.stream_name or spec.key.path[-1]
            stream = _find_stream(streams, name, meta.stream_namespace or None)
            yield _check_result(spec, check_name, stream, source)

    return _schema_drift
