"""Layer 4, loading: one ``multi_asset`` per Airbyte connection, one asset per selected stream.

Definitions are built from the workspace snapshot (``_state.py`` owns where it comes from):
where the code location is defined, the saved file or Airbyte per ``refresh``
(``"if_missing"`` by default, ``"always"``, ``"never"``); in every run, step or Celery worker,
the snapshot the code server recorded in Dagster's reconstruction metadata, so workers make no
Airbyte call and need no file. This module builds specs from a snapshot and wires them to the
executors.

**Subsetting.** Airbyte syncs whole connections, never single streams. Each connection's
assets are one subsettable ``multi_asset`` so that selecting one stream works (in the UI, with
``--select``, in asset jobs), but the whole connection syncs and every stream that synced gets
an event: selected streams a ``MaterializeResult``, the others an ``AssetMaterialization`` that
says it came with its connection. The graph never claims a stream is fresh without a sync, nor
hides one that was synced.
"""

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster import AssetExecutionContext

from dagster_airbyte_assets._metadata import AirbyteSpecMetadata
from dagster_airbyte_assets._names import unique_names
from dagster_airbyte_assets._row_counts import TableRowCounter
from dagster_airbyte_assets._state import (
    REFRESH_ENV,
    AirbyteWorkspaceSnapshot,
    RefreshPolicy,
    load_workspace_snapshot,
)
from dagster_airbyte_assets._sync import sync_and_materialize, sync_connections_and_materialize
from dagster_airbyte_assets.client import AirbyteConnection
from dagster_airbyte_assets.compat import either
from dagster_airbyte_assets.errors import AirbyteConfigurationError
from dagster_airbyte_assets.translator import (
    AirbyteStreamProps,
    DagsterAirbyteTranslator,
)

if TYPE_CHECKING:
    from dagster_airbyte_assets.resource import AirbyteWorkspace

__all__ = [
    "REFRESH_ENV",
    "ConnectionSelector",
    "airbyte_assets",
    "build_airbyte_assets_definitions",
    "connection_selector_by_tag",
    "load_airbyte_asset_specs",
    "load_airbyte_cloud_asset_specs",
    "load_airbyte_workspace_snapshot",
    "sync_and_materialize",
    "sync_connections_and_materialize",
]

logger = logging.getLogger("dagster_airbyte_assets")

DEFAULT_RESOURCE_KEY = "airbyte"

ConnectionSelector = Callable[[AirbyteConnection], bool]


def connection_selector_by_tag(*names: str, match_all: bool = False) -> ConnectionSelector:
    """Select the connections carrying any (``match_all``: every) of these Airbyte tag names.

    Tags are Airbyte's connection tags (v1.6.0 and later), matched by exact name::

        build_airbyte_assets_definitions(
            workspace=airbyte, connection_selector=connection_selector_by_tag("finance")
        )
    """
    wanted = set(names)
    if not wanted or not all(isinstance(n, str) and n for n in wanted):
        raise AirbyteConfigurationError(
            f"connection_selector_by_tag needs one or more tag names, not {names!r}."
        )

    def select(connection: AirbyteConnection) -> bool:
        tags = set(connection.tags)
        return wanted <= tags if match_all else bool(wanted & tags)

    return select


def load_airbyte_workspace_snapshot(
    workspace: "AirbyteWorkspace",
    *,
    state_path: str | os.PathLike[str] | None = None,
    refresh: RefreshPolicy = "if_missing",
) -> AirbyteWorkspaceSnapshot:
    """The workspace snapshot the definitions are built from (policy: ``_state.py``).

    In a run, step or Celery worker, the one the code server recorded in the code location's
    reconstruction metadata (no file, no Airbyte call); where the code location is defined, the
    saved file or Airbyte per ``refresh``.
    """
    return load_workspace_snapshot(workspace, state_path=state_path, refresh=refresh)


def _stream_props(
    snapshot: AirbyteWorkspaceSnapshot, connection_selector: ConnectionSelector | None
) -> dict[str, list[AirbyteStreamProps]]:
    by_connection: dict[str, list[AirbyteStreamProps]] = {}
    for connection in snapshot.connections:
        if connection_selector is not None and not connection_selector(connection):
            continue
        selected = [s for s in connection.streams if s.selected]
        if not selected:
            logger.warning(
                "Airbyte connection %r (%s) has no selected streams; it gets no assets.",
                connection.name,
                connection.connection_id,
            )
            continue
        destination = snapshot.destinations.get(connection.destination_id)
        url = snapshot.connection_url(connection.connection_id)
        by_connection[connection.connection_id] = [
            AirbyteStreamProps(
                connection, stream, destination, url, workspace_id=snapshot.workspace_id
            )
            for stream in selected
        ]
    return by_connection


def _specs_for_connections(
    snapshot: AirbyteWorkspaceSnapshot,
    translator: DagsterAirbyteTranslator,
    connection_selector: ConnectionSelector | None,
) -> dict[str, list[dg.AssetSpec]]:
    """Translate every selected stream; refuse two streams that land on one key."""
    owners: dict[dg.AssetKey, AirbyteStreamProps] = {}
    result: dict[str, list[dg.AssetSpec]] = {}
    for connection_id, props_list in _stream_props(snapshot, connection_selector).items():
        specs = []
        for props in props_list:
            spec = translator.get_asset_spec(props)
            # Execution reads these back; keep them even if a custom translator drops them.
            # The default translator writes them already: no second spec then.
            execution = _execution_metadata(props, snapshot)
            if any(spec.metadata.get(k, _MISSING) != v for k, v in execution.items()):
                spec = spec.merge_attributes(metadata=execution)
            previous = owners.get(spec.key)
            if previous is not None:
                raise AirbyteConfigurationError(
                    f"Two Airbyte streams land on asset key {spec.key.to_user_string()!r}: "
                    f"stream {previous.stream.name!r} of connection {previous.connection.name!r} "
                    f"({previous.connection.connection_id}) and stream {props.stream.name!r} of "
                    f"connection {props.connection.name!r} ({props.connection.connection_id}). "
                    "Give one connection a stream prefix or its own destination namespace in "
                    "Airbyte, filter one out with connection_selector, or override "
                    "DagsterAirbyteTranslator.get_asset_key."
                )
            owners[spec.key] = props
            specs.append(spec)
        result[connection_id] = specs
    return result


_MISSING = object()


def _execution_metadata(
    props: AirbyteStreamProps, snapshot: AirbyteWorkspaceSnapshot
) -> dict[str, Any]:
    return AirbyteSpecMetadata.entries(
        connection_id=props.connection.connection_id,
        connection_name=props.connection.name,
        connection_status=props.connection.status,
        stream_name=props.stream.name,
        stream_namespace=props.stream.namespace or None,
        sync_mode=props.stream.sync_mode,
        destination_sync_mode=props.stream.destination_sync_mode,
    )


def _our_names(
    translator: DagsterAirbyteTranslator | None,
    dagster_airbyte_translator: DagsterAirbyteTranslator | None,
    connection_selector: ConnectionSelector | None,
    connection_selector_fn: ConnectionSelector | None,
) -> tuple[DagsterAirbyteTranslator | None, ConnectionSelector | None]:
    """dagster-airbyte's keyword names resolved to ours (both given differently: an error)."""
    return (
        either("translator", translator, "dagster_airbyte_translator", dagster_airbyte_translator),
        either(
            "connection_selector",
            connection_selector,
            "connection_selector_fn",
            connection_selector_fn,
        ),
    )


def load_airbyte_asset_specs(
    workspace: "AirbyteWorkspace",
    *,
    translator: DagsterAirbyteTranslator | None = None,
    connection_selector: ConnectionSelector | None = None,
    state_path: str | os.PathLike[str] | None = None,
    refresh: RefreshPolicy = "if_missing",
    dagster_airbyte_translator: DagsterAirbyteTranslator | None = None,
    connection_selector_fn: ConnectionSelector | None = None,
) -> list[dg.AssetSpec]:
    """The ``AssetSpec`` of every selected stream, without execution (for external assets).

    ``dagster_airbyte_translator`` and ``connection_selector_fn`` are dagster-airbyte's names
    for ``translator`` and ``connection_selector``.
    """
    translator, connection_selector = _our_names(
        translator, dagster_airbyte_translator, connection_selector, connection_selector_fn
    )
    snapshot = load_airbyte_workspace_snapshot(workspace, state_path=state_path, refresh=refresh)
    specs = _specs_for_connections(
        snapshot, translator or DagsterAirbyteTranslator(), connection_selector
    )
    return [spec for connection_specs in specs.values() for spec in connection_specs]


def load_airbyte_cloud_asset_specs(
    workspace: "AirbyteWorkspace",
    dagster_airbyte_translator: DagsterAirbyteTranslator | None = None,
    connection_selector_fn: ConnectionSelector | None = None,
    **kwargs: Any,
) -> list[dg.AssetSpec]:
    """dagster-airbyte's name for ``load_airbyte_asset_specs`` on Airbyte Cloud (the same)."""
    return load_airbyte_asset_specs(
        workspace,
        dagster_airbyte_translator=dagster_airbyte_translator,
        connection_selector_fn=connection_selector_fn,
        **kwargs,
    )


def _op_names(
    connections: Mapping[str, AirbyteConnection],
    specs: Mapping[str, Sequence[dg.AssetSpec]],
    translator: DagsterAirbyteTranslator,
) -> dict[str, str]:
    """Step names from the translator (the connection's name), the same on every machine.

    Connections whose names collide are told apart by their smallest asset key (keys are
    unique across connections): the first keeps the name, the others get ``_2``, ``_3``...
    never an id, which differs per deployment.
    """
    return unique_names(
        {
            cid: (
                translator.get_op_name(connections[cid]),
                min(s.key.to_user_string() for s in specs[cid]),
            )
            for cid in specs
        }
    )


def build_airbyte_assets_definitions(
    *,
    workspace: "AirbyteWorkspace",
    translator: DagsterAirbyteTranslator | None = None,
    connection_selector: ConnectionSelector | None = None,
    state_path: str | os.PathLike[str] | None = None,
    refresh: RefreshPolicy = "if_missing",
    resource_key: str = DEFAULT_RESOURCE_KEY,
    one_step: bool = False,
    max_concurrent_syncs: int = 32,
    pool: str | None = None,
    dagster_airbyte_translator: DagsterAirbyteTranslator | None = None,
    connection_selector_fn: ConnectionSelector | None = None,
) -> list[dg.AssetsDefinition]:
    """One asset per selected stream of every connection.

    By default each connection is its own ``multi_asset`` (one Dagster step per connection:
    per-connection retries, logs and failure). With ``one_step=True`` every connection shares one
    ``multi_asset`` whose single step syncs the selected connections concurrently (at most
    ``max_concurrent_syncs`` at once) and yields each connection's results as it finishes: many
    syncs then cost one process, not one each.

    ``pool``: the Dagster concurrency pool of every sync step, so a deployment caps how many
    syncs run against this Airbyte at once (``dagster instance concurrency set <pool> 4``, or
    ``concurrency: pools:`` in ``dagster.yaml``); ``None`` leaves the steps unpooled.

    Materializing runs the syncs through the ``AirbyteWorkspace`` resource bound to
    ``resource_key`` (``"airbyte"`` by default)::

        airbyte = AirbyteWorkspace(url="http://localhost:8000")
        defs = dg.Definitions(
            assets=build_airbyte_assets_definitions(workspace=airbyte),
            resources={"airbyte": airbyte},
        )

    ``dagster_airbyte_translator`` and ``connection_selector_fn`` are dagster-airbyte's names
    for ``translator`` and ``connection_selector``.
    """
    translator, connection_selector = _our_names(
        translator, dagster_airbyte_translator, connection_selector, connection_selector_fn
    )
    # Handed on, not kept in this frame: assets_from_snapshot lets go of it before the longer
    # multi_asset step (see there).
    return assets_from_snapshot(
        load_airbyte_workspace_snapshot(workspace, state_path=state_path, refresh=refresh),
        translator=translator,
        connection_selector=connection_selector,
        resource_key=resource_key,
        one_step=one_step,
        max_concurrent_syncs=max_concurrent_syncs,
        pool=pool,
    )


def assets_from_snapshot(
    snapshot: AirbyteWorkspaceSnapshot,
    *,
    translator: DagsterAirbyteTranslator | None = None,
    connection_selector: ConnectionSelector | None = None,
    resource_key: str = DEFAULT_RESOURCE_KEY,
    one_step: bool = False,
    max_concurrent_syncs: int = 32,
    pool: str | None = None,
) -> list[dg.AssetsDefinition]:
    """``build_airbyte_assets_definitions`` from a snapshot already at hand (the component).

    Once the specs and op names are known the snapshot is no longer needed, and this frame
    drops it: when the caller keeps no reference either, its objects (a few per stream, tens of
    megabytes for 10,000 streams) are freed before the ``multi_asset`` step, which lowers the
    peak memory and spares every full garbage collection of that step from walking them.
    """
    translator = translator or DagsterAirbyteTranslator()
    specs_by_connection = _specs_for_connections(snapshot, translator, connection_selector)
    counter = _row_counter(snapshot)
    if one_step:
        del snapshot
        if not specs_by_connection:
            return []
        all_specs = [spec for specs in specs_by_connection.values() for spec in specs]
        return [_workspace_assets(all_specs, resource_key, max_concurrent_syncs, pool, counter)]
    connections = {c.connection_id: c for c in snapshot.connections}
    names = _op_names(connections, specs_by_connection, translator)
    del snapshot, connections
    return [
        _connection_assets(names[cid], specs, resource_key, pool, counter)
        for cid, specs in specs_by_connection.items()
    ]


def _row_counter(snapshot: AirbyteWorkspaceSnapshot) -> TableRowCounter:
    """Where each connection's tables can be counted, from the snapshot (no Airbyte call)."""
    found: dict[str, tuple[str | None, str | None]] = {}
    for connection in snapshot.connections:
        destination = snapshot.destinations.get(connection.destination_id)
        if destination is not None:
            found[connection.connection_id] = (
                destination.destination_type,
                destination.destination_path,
            )
    return TableRowCounter.from_destinations(found)


def _connection_assets(
    name: str,
    specs: Sequence[dg.AssetSpec],
    resource_key: str,
    pool: str | None,
    counter: TableRowCounter,
) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=name,
        specs=list(specs),
        can_subset=True,
        required_resource_keys={resource_key},
        pool=pool,
    )
    # No `from __future__ import annotations` in this module: Dagster inspects this hint at
    # definition time and does not resolve string annotations.
    def _sync_connection(context: AssetExecutionContext) -> Iterator[dg.MaterializeResult[Any]]:
        yield from sync_and_materialize(context, getattr(context.resources, resource_key), counter)

    return _sync_connection


def _workspace_assets(
    specs: Sequence[dg.AssetSpec],
    resource_key: str,
    max_concurrent_syncs: int,
    pool: str | None,
    counter: TableRowCounter,
) -> dg.AssetsDefinition:
    # One step syncs many connections: a pool slot caps steps, not the syncs inside this one
    # (``max_concurrent_syncs`` does).
    @dg.multi_asset(
        name="airbyte_sync_connections",
        specs=list(specs),
        can_subset=True,
        required_resource_keys={resource_key},
        pool=pool,
    )
    def _sync_connections(context: AssetExecutionContext) -> Iterator[dg.MaterializeResult[Any]]:
        yield from sync_connections_and_materialize(
            context, getattr(context.resources, resource_key), max_concurrent_syncs, counter
        )

    return _sync_connections


def airbyte_assets(
    *,
    connection_id: str,
    workspace: "AirbyteWorkspace",
    name: str | None = None,
    group_name: str | None = None,
    translator: DagsterAirbyteTranslator | None = None,
    state_path: str | os.PathLike[str] | None = None,
    refresh: RefreshPolicy = "if_missing",
    pool: str | None = None,
    dagster_airbyte_translator: DagsterAirbyteTranslator | None = None,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """Decorate a custom body for one connection's stream assets.

    ::

        @airbyte_assets(connection_id="...", workspace=airbyte)
        def my_connection(context: dg.AssetExecutionContext, airbyte: AirbyteWorkspace):
            yield from airbyte.sync_and_poll(context=context)

    ``dagster_airbyte_translator`` is dagster-airbyte's name for ``translator``.
    """
    translator = either(
        "translator", translator, "dagster_airbyte_translator", dagster_airbyte_translator
    )
    translator = translator or DagsterAirbyteTranslator()
    snapshot = load_airbyte_workspace_snapshot(workspace, state_path=state_path, refresh=refresh)
    specs_by_connection = _specs_for_connections(
        snapshot, translator, lambda connection: connection.connection_id == connection_id
    )
    if connection_id not in specs_by_connection:
        known = ", ".join(f"{c.name} ({c.connection_id})" for c in snapshot.connections) or "none"
        raise AirbyteConfigurationError(
            f"Airbyte connection {connection_id} is not in workspace {snapshot.workspace_id} "
            f"or has no selected streams. Connections: {known}."
        )
    specs = specs_by_connection[connection_id]
    if group_name is not None:
        specs = [spec.replace_attributes(group_name=group_name) for spec in specs]
    # Without `name`, the op is named after the decorated function, as any Dagster decorator
    # (and dagster-airbyte's) names it.
    return dg.multi_asset(name=name, specs=specs, can_subset=True, pool=pool)
