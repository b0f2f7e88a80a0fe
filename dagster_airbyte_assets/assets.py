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
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster import AssetExecutionContext

from dagster_airbyte_assets._names import definition_name
from dagster_airbyte_assets._state import (
    REFRESH_ENV,
    AirbyteWorkspaceSnapshot,
    RefreshPolicy,
    load_workspace_snapshot,
)
from dagster_airbyte_assets._sync import (
    AirbyteSyncFailure,
    SyncInterrupted,
    materialize_results,
    spec_connection_id,
    sync_and_wait,
)
from dagster_airbyte_assets.client import AirbyteClient, AirbyteConnection, AirbyteJob
from dagster_airbyte_assets.errors import (
    AirbyteConfigurationError,
    AirbyteError,
    AirbyteJobError,
)
from dagster_airbyte_assets.translator import (
    AirbyteStreamProps,
    DagsterAirbyteTranslator,
    MetadataKeys,
    sanitize_name,
    specs_by_connection,
)

if TYPE_CHECKING:
    from dagster_airbyte_assets.resource import AirbyteWorkspace

__all__ = [
    "REFRESH_ENV",
    "ConnectionSelector",
    "airbyte_assets",
    "build_airbyte_assets_definitions",
    "load_airbyte_asset_specs",
    "load_airbyte_workspace_snapshot",
    "sync_and_materialize",
    "sync_connections_and_materialize",
]

logger = logging.getLogger("dagster_airbyte_assets")

DEFAULT_RESOURCE_KEY = "airbyte"
WORKSPACE_ID_KEY = "airbyte/workspace_id"

ConnectionSelector = Callable[[AirbyteConnection], bool]


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
            AirbyteStreamProps(connection, stream, destination, url) for stream in selected
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
            spec = spec.merge_attributes(metadata=_execution_metadata(props, snapshot))
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


def _execution_metadata(
    props: AirbyteStreamProps, snapshot: AirbyteWorkspaceSnapshot
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        MetadataKeys.CONNECTION_ID: props.connection.connection_id,
        MetadataKeys.STREAM_NAME: props.stream.name,
        WORKSPACE_ID_KEY: snapshot.workspace_id,
    }
    if props.stream.namespace:
        metadata[MetadataKeys.STREAM_NAMESPACE] = props.stream.namespace
    return metadata


def load_airbyte_asset_specs(
    workspace: "AirbyteWorkspace",
    *,
    translator: DagsterAirbyteTranslator | None = None,
    connection_selector: ConnectionSelector | None = None,
    state_path: str | os.PathLike[str] | None = None,
    refresh: RefreshPolicy = "if_missing",
) -> list[dg.AssetSpec]:
    """The ``AssetSpec`` of every selected stream, without execution (for external assets)."""
    snapshot = load_airbyte_workspace_snapshot(workspace, state_path=state_path, refresh=refresh)
    specs = _specs_for_connections(
        snapshot, translator or DagsterAirbyteTranslator(), connection_selector
    )
    return [spec for connection_specs in specs.values() for spec in connection_specs]


def _job_url(
    client: AirbyteClient, workspace_id: str | None, connection_id: str, job_id: int | None
) -> str | None:
    if not workspace_id or job_id is None:
        return None
    return client.job_ui_url(workspace_id, connection_id, job_id)


def _emit(
    context: dg.AssetExecutionContext,
    job: AirbyteJob,
    specs: Sequence[dg.AssetSpec],
    job_url: str | None,
) -> Iterator[dg.MaterializeResult]:
    """Selected streams get a ``MaterializeResult``; streams that synced unselected, an event."""
    selected = context.selected_asset_keys
    for result in materialize_results(job, specs, job_url=job_url, log=context.log):
        if result.asset_key in selected:
            yield result
        else:
            # Synced with its connection although not selected: say so rather than hide it.
            assert result.asset_key is not None
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=result.asset_key,
                    description="Synced with its Airbyte connection; not selected in this run.",
                    metadata=result.metadata,
                )
            )


def _workspace_id(specs: Sequence[dg.AssetSpec]) -> str | None:
    return str(specs[0].metadata.get(WORKSPACE_ID_KEY) or "") or None


def sync_and_materialize(
    context: dg.AssetExecutionContext, workspace: "AirbyteWorkspace"
) -> Iterator[dg.MaterializeResult]:
    """Sync the connection behind ``context``'s assets and yield one result per stream asset.

    The body of every asset built here; call it from an ``@airbyte_assets`` function too.
    """
    specs = list(context.assets_def.specs)
    connection_id = spec_connection_id(specs)
    workspace_id = _workspace_id(specs)
    client = workspace.get_client()
    try:
        job = sync_and_wait(
            client,
            connection_id,
            poll_interval=workspace.poll_interval,
            poll_timeout=workspace.poll_timeout,
            cancel_on_termination=workspace.cancel_on_termination,
            log=context.log,
        )
    except AirbyteError as exc:
        url = _job_url(client, workspace_id, connection_id, getattr(exc, "job_id", None))
        raise AirbyteSyncFailure(exc, job_url=url) from exc
    yield from _emit(context, job, specs, _job_url(client, workspace_id, connection_id, job.job_id))


class _QueuedLog:
    """A logger for worker threads: messages go through a queue to the step's own thread.

    Dagster's step logger writes events to the run; keeping every write on the step's thread
    keeps their order and avoids sharing it across threads.
    """

    def __init__(self, messages: "queue.Queue[tuple[str, Any]]") -> None:
        self._messages = messages

    def info(self, message: str) -> None:
        self._messages.put(("info", message))

    def warning(self, message: str) -> None:
        self._messages.put(("warning", message))


def sync_connections_and_materialize(
    context: dg.AssetExecutionContext,
    workspace: "AirbyteWorkspace",
    max_concurrent_syncs: int = 32,
) -> Iterator[dg.MaterializeResult]:
    """Sync every connection with a selected asset concurrently, from this one step.

    Airbyte moves the data; a Dagster step only waits. One step with a thread per running sync
    waits for 50 connections in about the time of the longest sync, in one process. Results are
    yielded as each connection finishes; connections that failed are reported together at the
    end, after every other connection's results. If the step is interrupted (run terminated),
    every waiting thread cancels its Airbyte job before the step exits.
    """
    selected = context.selected_asset_keys
    wanted = {
        cid: specs
        for cid, specs in specs_by_connection([context.assets_def]).items()
        if any(spec.key in selected for spec in specs)
    }
    client = workspace.get_client()
    stop = threading.Event()
    messages: queue.Queue[tuple[str, Any]] = queue.Queue()
    log = _QueuedLog(messages)

    def interruptible_sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise SyncInterrupted("the Dagster step stopped")

    def run(cid: str) -> None:
        try:
            job = sync_and_wait(
                client,
                cid,
                poll_interval=workspace.poll_interval,
                poll_timeout=workspace.poll_timeout,
                cancel_on_termination=workspace.cancel_on_termination,
                log=log,
                sleep=interruptible_sleep,
            )
            messages.put(("done", (cid, job)))
        except AirbyteError as exc:
            messages.put(("failed", (cid, exc)))
        except BaseException as exc:
            messages.put(("crashed", (cid, exc)))

    failures: list[tuple[str, AirbyteError]] = []
    pool = ThreadPoolExecutor(max_workers=max(1, min(max_concurrent_syncs, len(wanted))))
    try:
        for cid in wanted:
            pool.submit(run, cid)
        remaining = len(wanted)
        while remaining:
            try:
                # A timeout keeps the step's thread responsive to Dagster's interrupts.
                kind, payload = messages.get(timeout=1.0)
            except queue.Empty:
                continue
            if kind == "info":
                context.log.info(payload)
            elif kind == "warning":
                context.log.warning(payload)
            elif kind == "done":
                remaining -= 1
                cid, job = payload
                specs = wanted[cid]
                url = _job_url(client, _workspace_id(specs), cid, job.job_id)
                yield from _emit(context, job, specs, url)
            else:
                remaining -= 1
                cid, exc = payload
                if kind == "crashed" and not isinstance(exc, AirbyteError):
                    raise exc
                failures.append((cid, exc))
                context.log.error(f"Airbyte connection {cid}: {exc}")
    finally:
        # On an interruption, wake every waiting thread so it cancels its job, then wait for them.
        stop.set()
        pool.shutdown(wait=True)
    if len(failures) == 1:
        raise AirbyteSyncFailure(failures[0][1])
    if failures:
        summary = "; ".join(f"{cid}: {exc}" for cid, exc in failures)
        raise AirbyteSyncFailure(
            AirbyteJobError(f"{len(failures)} of {len(wanted)} Airbyte syncs failed: {summary}")
        )


def _op_name(connection: AirbyteConnection, taken: set[str]) -> str:
    name = f"airbyte_sync_{definition_name(connection.name)}"
    if name in taken:
        name = f"{name}_{sanitize_name(connection.connection_id[:8])}"
    taken.add(name)
    return name


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
) -> list[dg.AssetsDefinition]:
    """One asset per selected stream of every connection.

    By default each connection is its own ``multi_asset`` (one Dagster step per connection:
    per-connection retries, logs and failure). With ``one_step=True`` every connection shares one
    ``multi_asset`` whose single step syncs the selected connections concurrently (at most
    ``max_concurrent_syncs`` at once) and yields each connection's results as it finishes: many
    syncs then cost one process, not one each.

    Materializing runs the syncs through the ``AirbyteWorkspace`` resource bound to
    ``resource_key`` (``"airbyte"`` by default)::

        airbyte = AirbyteWorkspace(url="http://localhost:8000")
        defs = dg.Definitions(
            assets=build_airbyte_assets_definitions(workspace=airbyte),
            resources={"airbyte": airbyte},
        )
    """
    snapshot = load_airbyte_workspace_snapshot(workspace, state_path=state_path, refresh=refresh)
    return assets_from_snapshot(
        snapshot,
        translator=translator,
        connection_selector=connection_selector,
        resource_key=resource_key,
        one_step=one_step,
        max_concurrent_syncs=max_concurrent_syncs,
    )


def assets_from_snapshot(
    snapshot: AirbyteWorkspaceSnapshot,
    *,
    translator: DagsterAirbyteTranslator | None = None,
    connection_selector: ConnectionSelector | None = None,
    resource_key: str = DEFAULT_RESOURCE_KEY,
    one_step: bool = False,
    max_concurrent_syncs: int = 32,
) -> list[dg.AssetsDefinition]:
    """``build_airbyte_assets_definitions`` from a snapshot already at hand (the component)."""
    specs_by_connection = _specs_for_connections(
        snapshot, translator or DagsterAirbyteTranslator(), connection_selector
    )
    if one_step:
        if not specs_by_connection:
            return []
        all_specs = [spec for specs in specs_by_connection.values() for spec in specs]
        return [_workspace_assets(all_specs, resource_key, max_concurrent_syncs)]
    connections = {c.connection_id: c for c in snapshot.connections}
    taken: set[str] = set()
    return [
        _connection_assets(_op_name(connections[cid], taken), specs, resource_key)
        for cid, specs in specs_by_connection.items()
    ]


def _connection_assets(
    name: str, specs: Sequence[dg.AssetSpec], resource_key: str
) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=name,
        specs=list(specs),
        can_subset=True,
        required_resource_keys={resource_key},
    )
    # No `from __future__ import annotations` in this module: Dagster inspects this hint at
    # definition time and does not resolve string annotations.
    def _sync_connection(context: AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        yield from sync_and_materialize(context, getattr(context.resources, resource_key))

    return _sync_connection


def _workspace_assets(
    specs: Sequence[dg.AssetSpec], resource_key: str, max_concurrent_syncs: int
) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="airbyte_sync_connections",
        specs=list(specs),
        can_subset=True,
        required_resource_keys={resource_key},
    )
    def _sync_connections(context: AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        yield from sync_connections_and_materialize(
            context, getattr(context.resources, resource_key), max_concurrent_syncs
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
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """Decorate a custom body for one connection's stream assets.

    ::

        @airbyte_assets(connection_id="...", workspace=airbyte)
        def my_connection(context: dg.AssetExecutionContext, airbyte: AirbyteWorkspace):
            yield from airbyte.sync_and_poll(context)
    """
    snapshot = load_airbyte_workspace_snapshot(workspace, state_path=state_path, refresh=refresh)
    specs_by_connection = _specs_for_connections(
        snapshot,
        translator or DagsterAirbyteTranslator(),
        lambda connection: connection.connection_id == connection_id,
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
    connection = next(c for c in snapshot.connections if c.connection_id == connection_id)
    return dg.multi_asset(
        name=name or _op_name(connection, set()),
        specs=specs,
        can_subset=True,
    )
