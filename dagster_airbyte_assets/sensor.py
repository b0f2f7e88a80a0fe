"""A sensor that reports syncs started outside Dagster (Airbyte's scheduler, the UI, the API).

Each tick lists the workspace's sync jobs that finished since the cursor (every page; the Public
API in one workspace-wide listing, the Config API per connection since it lists by connection)
and, for each job Dagster did not launch, reports what a Dagster-launched sync reports:

- **succeeded**: one ``AssetMaterialization`` per stream asset, built by the same
  ``materialize_results`` the assets use (``dagster/row_count``, ``airbyte/job_id``, the job
  link...), so the graph stays true whoever ran the sync.
- **failed / cancelled**: one ``AssetObservation`` per stream asset with
  ``airbyte/sync_status`` (``failed`` / ``cancelled``), Airbyte's failure reason and the job link.
  An observation, not a failed check: nothing was written, and no check is defined for it.

**Which jobs did Dagster launch?** A job is Dagster's when its id is the ``airbyte/job_id`` of a
materialization of the connection's assets (successful runs, and the sensor's own earlier
reports: a lost cursor never duplicates), or of a step failure of a failed run that targeted
them. Because a run records its materializations only after it has seen the job end, jobs of a
connection are *deferred* while a run that may materialize its assets is still in progress
(queued, starting or started; a run with no asset selection counts as "may"), then decided.
Airbyte runs one sync per connection at a time, and a Dagster run attaches to a running sync
rather than starting another, so every job in that window is the run's.

**Cursor** (JSON): ``since`` (the newest ``updated_at`` handled, from Airbyte's clock) and the
ids handled within ``overlap_seconds`` before it. Each tick re-reads from ``since - overlap``,
so a job that became visible late is still found, and the ids make re-reads harmless. Deferred
jobs keep ``since`` from passing them. The cursor is Dagster's, so it survives restarts. On the
very first tick the sensor starts from ``start_from`` (default: now) and reports nothing older.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg

from dagster_airbyte_assets._metadata import AirbyteSpecMetadata
from dagster_airbyte_assets._sync import job_url, materialize_results, stream_sync_modes
from dagster_airbyte_assets.client import AirbyteClient, AirbyteJob
from dagster_airbyte_assets.translator import MetadataKeys, specs_by_connection

if TYPE_CHECKING:
    from dagster_airbyte_assets.resource import AirbyteWorkspace

__all__ = [
    "SYNC_STATUS_KEY",
    "SyncSensorCursor",
    "build_airbyte_sync_sensor",
]

logger = logging.getLogger("dagster_airbyte_assets")

SYNC_STATUS_KEY = "airbyte/sync_status"
FAILURE_REASON_KEY = "airbyte/failure_reason"
_CURSOR_VERSION = 1
# Dagster's run launch and Airbyte's job creation are seconds apart at most; this slack only
# widens the event-log searches, it never decides on its own.
_SEARCH_SLACK = timedelta(hours=1)


@dataclass
class SyncSensorCursor:
    """What the sensor has handled: jobs up to ``since``, and those near that edge.

    ``seen`` maps a job id to its ``updated_at`` (epoch seconds), so ids that can no longer be
    re-read are dropped and the cursor stays small.
    """

    since: datetime
    seen: dict[int, float] = field(default_factory=dict)

    def to_json(self) -> str:
        seen = {str(k): v for k, v in sorted(self.seen.items())}
        return json.dumps({"v": _CURSOR_VERSION, "since": self.since.isoformat(), "seen": seen})

    @classmethod
    def from_json(cls, text: str | None, default_since: datetime) -> SyncSensorCursor:
        if not text:
            return cls(since=default_since)
        try:
            raw = json.loads(text)
            seen = {int(k): float(v) for k, v in raw.get("seen", {}).items()}
            return cls(since=datetime.fromisoformat(raw["since"]), seen=seen)
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("Ignoring an unreadable Airbyte sync sensor cursor; starting anew.")
            return cls(since=default_since)


def _finished_jobs(
    client: AirbyteClient, workspace_id: str | None, connection_ids: Iterable[str], since: datetime
) -> list[AirbyteJob]:
    """Sync jobs of the given connections that ended, updated at or after ``since``."""
    jobs = client.list_sync_jobs(
        workspace_id=workspace_id, connection_ids=connection_ids, updated_at_start=since
    )
    by_id = {job.job_id: job for job in jobs if job.is_terminal}
    return sorted(by_id.values(), key=lambda j: (j.updated_at or j.created_at, j.job_id))


def _metadata_job_id(metadata: Mapping[str, Any]) -> int | None:
    value = metadata.get(MetadataKeys.JOB_ID)
    raw = getattr(value, "value", value)
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _materialized_job_ids(
    instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey], after: datetime
) -> set[int]:
    ids: set[int] = set()
    for key in keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_timestamp=after.timestamp()), limit=1000
        ).records
        for record in records:
            materialization = record.asset_materialization
            if materialization is not None:
                job_id = _metadata_job_id(materialization.metadata)
                if job_id is not None:
                    ids.add(job_id)
    return ids


def _run_touches(run: dg.DagsterRun, keys: set[dg.AssetKey]) -> bool:
    selection = run.asset_selection
    # An empty selection is no selection: ``materialize`` / ``execute_in_process`` runs record
    # ``frozenset()`` while they materialize every asset of their job.
    return not selection or bool(selection & keys)


def _failed_run_job_ids(
    instance: dg.DagsterInstance, keys: set[dg.AssetKey], after: datetime
) -> set[int]:
    """Airbyte job ids in step failures of failed runs that targeted ``keys``."""
    ids: set[int] = set()
    records = instance.get_run_records(
        dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
            updated_after=after,
        )
    )
    for record in records:
        if not _run_touches(record.dagster_run, keys):
            continue
        for entry in instance.all_logs(
            record.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
        ):
            event = entry.dagster_event
            data = getattr(event, "step_failure_data", None) if event else None
            user_data = getattr(data, "user_failure_data", None)
            job_id = _metadata_job_id(getattr(user_data, "metadata", None) or {})
            if job_id is not None:
                ids.add(job_id)
    return ids


def _busy_connections(
    instance: dg.DagsterInstance, keys_by_connection: Mapping[str, set[dg.AssetKey]]
) -> set[str]:
    """Connections whose assets an unfinished Dagster run may still materialize."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
                dg.DagsterRunStatus.CANCELING,
            ]
        )
    )
    return {
        cid for cid, keys in keys_by_connection.items() if any(_run_touches(r, keys) for r in runs)
    }


def _connection_label(names: Mapping[str, str], connection_id: str) -> str:
    """``'Sample → DuckDB'`` (the name people know; the id only where no name is known)."""
    name = names.get(connection_id)
    return f"connection {name!r}" if name and name != connection_id else connection_id


def _connections_label(names: Mapping[str, str]) -> str:
    shown = sorted(names.values())
    if len(shown) > 3:
        return f"{len(shown)} Airbyte connections ({', '.join(map(repr, shown[:3]))}...)"
    return "Airbyte connection(s) " + ", ".join(map(repr, shown))


def _streams_label(specs: Sequence[dg.AssetSpec]) -> str:
    streams = sorted(
        AirbyteSpecMetadata.of(s.metadata).stream_name or s.key.path[-1] for s in specs
    )
    return "streams " + ", ".join(streams)


def _external_events(
    job: AirbyteJob,
    specs: Sequence[dg.AssetSpec],
    job_url: str | None,
    connection_name: str | None = None,
) -> list[dg.AssetMaterialization | dg.AssetObservation]:
    of = f" of connection {connection_name!r}" if connection_name else ""
    description = (
        f"Airbyte job {job.job_id}{of} ({job.status}), started outside Dagster "
        f"(sensor report; {_streams_label(specs)})."
    )
    if job.succeeded:
        return [
            dg.AssetMaterialization(
                asset_key=result.asset_key,  # type: ignore[arg-type]
                metadata=dict(result.metadata or {}),
                description=description,
            )
            for result in materialize_results(job, specs, job_url=job_url, log=logger)
        ]
    metadata: dict[str, Any] = {SYNC_STATUS_KEY: job.status, MetadataKeys.JOB_ID: job.job_id}
    if job.attempts_known:
        metadata[MetadataKeys.ATTEMPTS] = len(job.attempts)
    if job.failure_reason:
        metadata[FAILURE_REASON_KEY] = job.failure_reason
    if job_url:
        metadata[MetadataKeys.JOB_URL] = dg.MetadataValue.url(job_url)
    return [
        dg.AssetObservation(asset_key=spec.key, metadata=metadata, description=description)
        for spec in specs
    ]


def build_airbyte_sync_sensor(
    *,
    workspace: AirbyteWorkspace,
    assets: Sequence[dg.AssetsDefinition | dg.AssetSpec],
    name: str = "airbyte_sync_sensor",
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    start_from: datetime | None = None,
    overlap_seconds: float = 300.0,
) -> dg.SensorDefinition:
    """A sensor reporting syncs of ``assets``' connections that Dagster did not launch.

    ``assets`` are the definitions from ``build_airbyte_assets_definitions`` (their specs carry
    the connection ids and the stream names). See the module docstring for the rules::

        assets = build_airbyte_assets_definitions(workspace=airbyte)
        defs = dg.Definitions(
            assets=assets,
            sensors=[build_airbyte_sync_sensor(workspace=airbyte, assets=assets)],
            resources={"airbyte": airbyte},
        )
    """
    connection_specs = specs_by_connection(assets)
    keys_by_connection = {cid: {s.key for s in specs} for cid, specs in connection_specs.items()}
    overlap = timedelta(seconds=overlap_seconds)
    names = {
        cid: AirbyteSpecMetadata.of(specs[0].metadata).connection_name or cid
        for cid, specs in connection_specs.items()
    }

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Reports Airbyte syncs started outside Dagster as materializations.",
    )
    def _airbyte_sync_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursor = SyncSensorCursor.from_json(context.cursor, start_from or datetime.now(UTC))
        client = workspace.get_client()
        # Only narrows the Public API's listing; without it, jobs are listed per connection.
        workspace_id = _configured_workspace_id(workspace) or next(
            (
                meta.workspace_id
                for specs in connection_specs.values()
                for meta in map(AirbyteSpecMetadata.of, (s.metadata for s in specs))
                if meta.workspace_id
            ),
            None,
        )
        jobs = [
            job
            for job in _finished_jobs(
                client, workspace_id, connection_specs, cursor.since - overlap
            )
            if job.job_id not in cursor.seen
        ]
        if not jobs:
            return dg.SensorResult(
                cursor=cursor.to_json(),
                skip_reason=dg.SkipReason(
                    f"No sync of {_connections_label(names)} ended since "
                    f"{(cursor.since - overlap).isoformat(timespec='seconds')}."
                ),
            )

        instance = context.instance
        oldest = min(j.created_at for j in jobs) - _SEARCH_SLACK
        busy = _busy_connections(instance, keys_by_connection)
        dagster_ids: set[int] = set()
        for connection_id in {j.connection_id for j in jobs} - busy:
            dagster_ids |= _materialized_job_ids(
                instance, [s.key for s in connection_specs[connection_id]], oldest
            )
        if any(not j.succeeded for j in jobs):
            all_keys = set().union(*keys_by_connection.values())
            dagster_ids |= _failed_run_job_ids(instance, all_keys, oldest)

        events: list[dg.AssetMaterialization | dg.AssetObservation] = []
        handled: list[AirbyteJob] = []
        deferred: list[AirbyteJob] = []
        said: list[str] = []
        for job in jobs:
            label = f"job {job.job_id} of {_connection_label(names, job.connection_id)}"
            if job.connection_id in busy:
                deferred.append(job)
                continue
            handled.append(job)
            if job.job_id in dagster_ids:
                said.append(f"{label} was launched by Dagster, which reported it")
                context.log.info(f"Airbyte {label} was launched by Dagster; nothing to report.")
                continue
            specs = connection_specs[job.connection_id]
            detailed = (
                client.get_job_report(job, stream_sync_modes(specs)) if job.succeeded else job
            )
            url = job_url(specs, detailed)
            reported = _external_events(detailed, specs, url, names.get(job.connection_id))
            events.extend(reported)
            kind = "materializations" if job.succeeded else "observations"
            streams = _streams_label(specs)
            said.append(f"reported {label} ({job.status}, started outside Dagster) as {kind}")
            context.log.info(
                f"Reporting Airbyte {label} ({job.status}), started outside Dagster: "
                f"{len(reported)} asset {kind} ({streams})."
            )
        if deferred:
            waiting = ", ".join(
                f"job {j.job_id} of {_connection_label(names, j.connection_id)}" for j in deferred
            )
            said.append(f"deferred {waiting}: a Dagster run that may report it is in progress")
            context.log.info(
                f"Deferring Airbyte {waiting}: a Dagster run that may materialize their assets "
                "is still in progress."
            )
        cursor = _advance(cursor, handled, deferred, overlap)
        # Said on the tick itself (the UI shows it), whether or not anything was reported.
        reason = "Airbyte: " + "; ".join(said) + "."
        return dg.SensorResult(
            asset_events=events, cursor=cursor.to_json(), skip_reason=dg.SkipReason(reason)
        )

    return _airbyte_sync_sensor


def _configured_workspace_id(workspace: AirbyteWorkspace) -> str | None:
    value = workspace.workspace_id
    resolved = value.get_value() if isinstance(value, dg.EnvVar) else value
    return str(resolved) if resolved else None


def _job_time(job: AirbyteJob) -> datetime:
    return job.updated_at or job.created_at


def _advance(
    cursor: SyncSensorCursor,
    handled: Sequence[AirbyteJob],
    deferred: Sequence[AirbyteJob],
    overlap: timedelta,
) -> SyncSensorCursor:
    """Move ``since`` to the newest handled job, never past a deferred one."""
    since = max([cursor.since, *(_job_time(j) for j in handled)])
    if deferred:
        since = min([since, *(_job_time(j) for j in deferred)])
    seen = {**cursor.seen, **{j.job_id: _job_time(j).timestamp() for j in handled}}
    # Ids older than the re-read window can never come back: forget them.
    horizon = (since - overlap).timestamp()
    return SyncSensorCursor(since=since, seen={k: v for k, v in seen.items() if v >= horizon})
