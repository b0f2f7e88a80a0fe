"""Refresh, clear and reset an Airbyte connection from Dagster: one job each, per connection.

- **refresh** (``airbyte_refresh_<connection>``): Airbyte re-reads the streams from scratch.
  ``refresh_mode: Merge`` (default) keeps what the tables hold; ``Truncate`` keeps only the
  refreshed data, so it needs ``confirm_delete_data: true`` like a clear. Only Airbyte's Config
  API can refresh (v0.58+): the Public API refuses it, and the job says so when the Config API
  is not reachable. The refreshed streams are materialized with the job's numbers.
- **clear** (``airbyte_clear_<connection>``) and **reset** (``airbyte_reset_<connection>``):
  Airbyte empties the connection's tables and forgets its state. They delete data, so the run
  config must say ``confirm_delete_data: true``; without it the run fails before any request.
  Servers without a clear (Config before v0.58, Public before v0.63) get a reset, which clears
  the same way. Every stream asset then gets an ``AssetObservation`` saying its table was
  emptied (``airbyte/tables_emptied``, ``dagster/row_count`` 0).

Each job sends its request once, never again (an ambiguous answer is resolved by looking for a
job newer than the one before the request), then waits as syncs do, riding out outages.
"""

# No `from __future__ import annotations`: Dagster reads the ops' `context`/`config` hints at
# definition time and does not resolve string annotations.
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import pydantic

from dagster_airbyte_assets._metadata import AirbyteSpecMetadata
from dagster_airbyte_assets._names import definition_name
from dagster_airbyte_assets._sync import (
    Log,
    _wait_settings,
    _Waiter,
    job_url,
    materialize_results,
    stream_sync_modes,
)
from dagster_airbyte_assets.client import AirbyteClient, AirbyteJob
from dagster_airbyte_assets.client._trigger import StartState, SyncHistory, is_ambiguous_start
from dagster_airbyte_assets.errors import (
    AirbyteConfigurationError,
    AirbyteError,
    AirbyteJobCancelledError,
    AirbyteJobFailedError,
)
from dagster_airbyte_assets.translator import MetadataKeys, specs_by_connection

if TYPE_CHECKING:
    from dagster_airbyte_assets.resource import AirbyteWorkspace

__all__ = [
    "TABLES_EMPTIED_KEY",
    "AirbyteClearConfig",
    "AirbyteRefreshConfig",
    "MaintenanceKind",
    "build_airbyte_maintenance_jobs",
    "run_maintenance_job",
]

logger = logging.getLogger("dagster_airbyte_assets")

MaintenanceKind = Literal["refresh", "clear", "reset"]
TABLES_EMPTIED_KEY = "airbyte/tables_emptied"
JOB_TYPE_KEY = "airbyte/job_type"
MAINTENANCE_TAG = "dagster_airbyte_assets/maintenance"


class AirbyteRefreshConfig(dg.Config):
    """Run config of a refresh job."""

    refresh_mode: Literal["Merge", "Truncate"] = pydantic.Field(
        "Merge",
        description="Merge keeps what the tables hold; Truncate keeps only the refreshed data.",
    )
    streams: list[str] = pydantic.Field(
        default_factory=list, description="Stream names to refresh; all when empty."
    )
    confirm_delete_data: bool = pydantic.Field(
        False, description="Required for Truncate, which deletes the tables' current data."
    )


class AirbyteClearConfig(dg.Config):
    """Run config of a clear or reset job: they delete the connection's data."""

    confirm_delete_data: bool = pydantic.Field(
        False, description="Must be true: Airbyte deletes every table of the connection."
    )


def _start(
    client: AirbyteClient,
    connection_id: str,
    kind: MaintenanceKind,
    log: Log,
    refresh_mode: str,
    streams: Sequence[str],
) -> AirbyteJob:
    """Send the request once; after an ambiguous failure, adopt the job it may have made."""
    # A clear is listed as a reset (``JobMapper.kt`` ~111), which every version can list.
    listed_type = "refresh" if kind == "refresh" else "reset"
    try:
        before: int | None = client.newest_job_id(connection_id, listed_type)
        looked = True
    except AirbyteError:
        before, looked = None, False  # then an ambiguous answer is never adopted
    try:
        if kind == "refresh":
            return client.start_refresh(connection_id, refresh_mode, streams or None)
        if kind == "clear":
            job, sent = client.start_clear(connection_id)
            if sent != "clear":
                log.info("This Airbyte has no clear; a reset clears the same way.")
            return job
        return client.start_reset(connection_id)
    except AirbyteError as exc:
        if not (looked and is_ambiguous_start(exc)):
            raise
        found = client.find_new_job(connection_id, listed_type, before)
        if found is None:
            raise
        log.warning(
            f"Adopting Airbyte job {found.job_id}: the {kind} request failed ambiguously "
            f"({exc.summary}) but created it. Never sent twice."
        )
        return found


def run_maintenance_job(
    workspace: "AirbyteWorkspace",
    connection_id: str,
    kind: MaintenanceKind,
    *,
    refresh_mode: str = "Merge",
    streams: Sequence[str] = (),
    log: Log | None = None,
) -> AirbyteJob:
    """Start a refresh, clear or reset of one connection, wait for it, return the succeeded job."""
    out: Log = log or logger
    client = workspace.get_client()
    job = _start(client, connection_id, kind, out, refresh_mode, streams)
    out.info(f"Airbyte {kind} job {job.job_id} of connection {connection_id} started.")
    settings = _wait_settings(workspace)
    waiter = _Waiter(
        client,
        connection_id,
        poll_interval=settings["poll_interval"],
        poll_timeout=settings["poll_timeout"],
        outage_timeout=settings["outage_timeout"],
        sleep=time.sleep,
        clock=time.monotonic,
        log=out,
    )
    job = waiter.wait(job, SyncHistory(newest_job_id=None), StartState(job=job))
    if job.status == "cancelled":
        raise AirbyteJobCancelledError(
            f"Airbyte {kind} job {job.job_id} of connection {connection_id} was cancelled.",
            job=job,
        )
    if job.status != "succeeded":
        reason = job.failure_reason or "Airbyte gave no failure reason"
        raise AirbyteJobFailedError(
            f"Airbyte {kind} job {job.job_id} of connection {connection_id} failed: {reason}",
            job=job,
            message=job.failure_reason,
        )
    return job


def _refuse_without_confirmation(kind: str, connection: str, confirmed: bool) -> None:
    if not confirmed:
        raise AirbyteConfigurationError(
            f"The {kind} of Airbyte connection {connection!r} deletes its tables' data: set "
            "confirm_delete_data: true in the run config to go ahead. Nothing was sent."
        )


def _emptied_events(
    job: AirbyteJob, specs: Sequence[dg.AssetSpec], job_url: str | None, kind: str
) -> list[dg.AssetObservation]:
    metadata: dict[str, Any] = {
        TABLES_EMPTIED_KEY: True,
        MetadataKeys.ROW_COUNT: 0,
        MetadataKeys.JOB_ID: job.job_id,
        JOB_TYPE_KEY: kind,
    }
    if job_url:
        metadata[MetadataKeys.JOB_URL] = dg.MetadataValue.url(job_url)
    return [
        dg.AssetObservation(
            asset_key=spec.key,
            metadata=metadata,
            description=f"Airbyte {kind} job {job.job_id} emptied this table.",
        )
        for spec in specs
    ]


def _maintenance_job(
    name: str,
    kind: MaintenanceKind,
    connection_id: str,
    connection_name: str,
    specs: Sequence[dg.AssetSpec],
    resource_key: str,
) -> dg.JobDefinition:
    config_type = AirbyteRefreshConfig if kind == "refresh" else AirbyteClearConfig

    @dg.op(
        name=f"{name}_op",
        required_resource_keys={resource_key},
        description=f"Airbyte {kind} of connection {connection_name!r}.",
        tags={MAINTENANCE_TAG: kind},
    )
    def maintain(context: dg.OpExecutionContext, config: config_type) -> None:  # type: ignore[valid-type]
        workspace = getattr(context.resources, resource_key)
        refresh_mode = getattr(config, "refresh_mode", "Merge")
        if kind != "refresh" or refresh_mode == "Truncate":
            _refuse_without_confirmation(kind, connection_name, config.confirm_delete_data)  # type: ignore[attr-defined]
        streams = list(getattr(config, "streams", []) or [])
        known = {AirbyteSpecMetadata.of(s.metadata).stream_name for s in specs}
        unknown = sorted(set(streams) - known)
        if unknown:
            raise AirbyteConfigurationError(
                f"streams names {unknown}, not streams of connection {connection_name!r} "
                f"({sorted(n for n in known if n)}). Nothing was sent."
            )
        job = run_maintenance_job(
            workspace,
            connection_id,
            kind,
            refresh_mode=refresh_mode,
            streams=streams,
            log=context.log,
        )
        client = workspace.get_client()
        url = job_url(specs, job)
        if kind == "refresh":
            touched = [
                s
                for s in specs
                if not streams or AirbyteSpecMetadata.of(s.metadata).stream_name in streams
            ]
            report = client.get_job_report(job, stream_sync_modes(touched))
            # A truncate refresh empties each table and refills it: what the job committed
            # for a stream is the table's size (dagster/row_count). A merge keeps the rows.
            table_rows = (
                _committed_by_key(report, touched)
                if str(refresh_mode).lower() == "truncate"
                else {}
            )
            for result in materialize_results(
                report, touched, job_url=url, log=context.log, table_rows=table_rows
            ):
                metadata = {**(result.metadata or {}), JOB_TYPE_KEY: "refresh"}
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=result.asset_key,  # type: ignore[arg-type]
                        metadata=metadata,
                        description=f"Refreshed ({refresh_mode}) by Airbyte job {job.job_id}.",
                    )
                )
            return
        for event in _emptied_events(job, specs, url, kind):
            context.log_event(event)

    @dg.job(
        name=name,
        tags={MAINTENANCE_TAG: kind, MetadataKeys.CONNECTION_ID: connection_id},
        description=f"Airbyte {kind} of connection {connection_name!r} ({connection_id}).",
    )
    def maintenance_job() -> None:
        maintain()

    return maintenance_job


def build_airbyte_maintenance_jobs(
    *,
    assets: Sequence[dg.AssetsDefinition | dg.AssetSpec],
    kinds: Sequence[MaintenanceKind] = ("refresh", "clear", "reset"),
    resource_key: str = "airbyte",
) -> list[dg.JobDefinition]:
    """A refresh, clear and reset job per connection of ``assets`` (see the module docstring).

    Launch them from the UI (Jobs) with their run config; loading makes no Airbyte call::

        defs = dg.Definitions(
            assets=assets,
            jobs=build_airbyte_maintenance_jobs(assets=assets),
            resources={"airbyte": airbyte},
        )
    """
    unknown = sorted(set(kinds) - {"refresh", "clear", "reset"})
    if unknown:
        raise AirbyteConfigurationError(
            f"kinds names {unknown}; choose among 'refresh', 'clear' and 'reset'."
        )
    jobs: list[dg.JobDefinition] = []
    taken: set[str] = set()
    for connection_id, specs in specs_by_connection(assets).items():
        meta = AirbyteSpecMetadata.of(specs[0].metadata)
        connection_name = meta.connection_name or connection_id
        base = definition_name(connection_name, "connection")
        if base in taken:
            base = f"{base}_{connection_id[:8].replace('-', '_')}"
        taken.add(base)
        jobs.extend(
            _maintenance_job(
                f"airbyte_{kind}_{base}", kind, connection_id, connection_name, specs, resource_key
            )
            for kind in kinds
        )
    return jobs


def _committed_by_key(job: AirbyteJob, specs: Sequence[dg.AssetSpec]) -> dict[dg.AssetKey, int]:
    """Records the job committed per stream asset, where Airbyte reported them."""
    found: dict[dg.AssetKey, int] = {}
    for spec in specs:
        meta = AirbyteSpecMetadata.of(spec.metadata)
        for stats in job.stream_stats:
            same = stats.stream_name == meta.stream_name and (
                (stats.stream_namespace or None) == (meta.stream_namespace or None)
                or stats.stream_namespace is None
                or meta.stream_namespace is None
            )
            if same and stats.records_committed is not None:
                found[spec.key] = stats.records_committed
                break
    return found
