"""The job runner: real attempts on threads, stats, logs, cancel, retries and schedules.

A job lives in the store as a Config-API-shaped document (``JobRead`` fields plus ``attempts``).
Each job runs on its own thread: attempt after attempt until one succeeds, the job is cancelled
or ``max_attempts`` is reached (between attempts the job is ``incomplete``). The engine owns all
state a connector must not: cursors, Airbyte columns, stats, commit/abort, namespaces.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from .api_errors import ApiError, Conflict, IllegalState, JobNotFound, NotFound
from .connectors.base import ConfiguredStream, ConnectorError, Record, Registry
from .cron import CronError, QuartzCron
from .store import Store

__all__ = ["JobEngine", "resolve_streams", "stream_key"]

log = logging.getLogger(__name__)

_TIME_UNITS = {
    "minutes": 60,
    "hours": 3600,
    "days": 86400,
    "weeks": 7 * 86400,
    "months": 30 * 86400,
}


class _Cancelled(Exception):
    pass


class _Shutdown(Exception):
    pass


def stream_key(namespace: str | None, name: str) -> str:
    return f"{namespace or ''}/{name}"


def _encode_cursor(value: Any) -> dict[str, Any]:
    if isinstance(value, dt.datetime):
        return {"t": "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {"t": "date", "v": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"t": "decimal", "v": str(value)}
    return {"t": "json", "v": value}


def _decode_cursor(body: dict[str, Any] | None) -> Any:
    if not body:
        return None
    kind, value = body.get("t"), body.get("v")
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)  # type: ignore[arg-type]
    if kind == "date":
        return dt.date.fromisoformat(value)  # type: ignore[arg-type]
    if kind == "decimal":
        return decimal.Decimal(value)  # type: ignore[arg-type]
    return value


def _dig(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def resolve_streams(
    connection: dict[str, Any], default_namespace: str | None, job_id: int
) -> list[ConfiguredStream]:
    """The selected streams of ``connection`` with Airbyte's namespace and prefix rules applied.

    ``airbyte-commons-worker/.../internal/Mapper.kt`` (~139-180): ``destination`` -> the
    destination's default; ``customformat`` -> the format with ``${SOURCE_NAMESPACE}``
    substituted (a blank source namespace as ""), a blank result -> the default; ``source``,
    missing or anything else -> the source namespace (none -> the default). A blank prefix is
    ignored (``isNullOrBlank``).
    """
    definition = connection.get("namespaceDefinition")
    fmt = connection.get("namespaceFormat") or ""
    prefix = connection.get("prefix") or ""
    if not prefix.strip():
        prefix = ""
    result = []
    for item in (connection.get("syncCatalog") or {}).get("streams", []):
        stream, config = item.get("stream") or {}, item.get("config") or {}
        if not config.get("selected", True):
            continue
        source_ns = stream.get("namespace")
        if definition == "destination":
            dest_ns = None
        elif definition == "customformat":
            substitute = source_ns if source_ns and source_ns.strip() else ""
            formatted = fmt.replace("${SOURCE_NAMESPACE}", substitute) if fmt.strip() else ""
            dest_ns = formatted if formatted.strip() else None
        else:
            dest_ns = source_ns
        result.append(
            ConfiguredStream(
                name=stream["name"],
                json_schema=stream.get("jsonSchema") or {"type": "object", "properties": {}},
                sync_mode=config.get("syncMode") or "full_refresh",
                destination_sync_mode=config.get("destinationSyncMode") or "overwrite",
                destination_table=prefix + stream["name"],
                namespace=source_ns,
                destination_namespace=dest_ns or default_namespace,
                cursor_field=tuple(
                    config.get("cursorField") or stream.get("defaultCursorField") or ()
                ),
                primary_key=tuple(
                    tuple(p)
                    for p in (
                        config.get("primaryKey") or stream.get("sourceDefinedPrimaryKey") or []
                    )
                ),
                sync_id=job_id,
            )
        )
    return result


def _empty_stats() -> dict[str, int]:
    return {
        "recordsEmitted": 0,
        "bytesEmitted": 0,
        "recordsCommitted": 0,
        "bytesCommitted": 0,
        "stateMessagesEmitted": 0,
        "recordsRejected": 0,
    }


def _utc_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class JobEngine:
    """Starts, runs, cancels and recovers jobs; optionally runs connection schedules."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        *,
        max_attempts: int = 3,
        retry_delay: float = 0.2,
        queue_seconds: float = 0.0,
    ) -> None:
        self.store = store
        # Cloud: a new job waits in ``queued`` for Data Worker capacity before it runs
        # (JobCreationAndStatusUpdateHelper.kt@main:543-575); 0 = OSS, never queued.
        self.queue_seconds = queue_seconds
        self.registry = registry
        self.max_attempts = max(1, max_attempts)
        self.retry_delay = retry_delay
        self._lock = threading.Lock()
        self._cancel: dict[int, threading.Event] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._shutdown = threading.Event()
        self._scheduler: threading.Thread | None = None
        # Test controls, keyed by connection id / job id.
        # connection id -> (attempts left to fail, message, streams committed before failing)
        self.fail_next: dict[str, tuple[int, str, int]] = {}
        self.sync_duration: dict[str, float] = {}
        # Connections whose sync_duration is spread over the streams' records (see _paced).
        self.progressive: set[str] = set()
        # How often a running attempt's stats reach the API (Airbyte's default, or a test's).
        self.stats_flush_seconds: dict[str, float] = {}
        self.forced_status: dict[int, str] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    def recover(self) -> None:
        """Jobs left unfinished by a crash: the running attempt fails; retry if attempts remain."""
        now = time.time()
        for job in self.store.unfinished_jobs():
            for attempt in job["attempts"]:
                if attempt["status"] == "running":
                    self._fail_attempt(
                        attempt,
                        "The server stopped while this attempt was running.",
                        "airbyte_platform",
                        "system_error",
                        now,
                    )
                    attempt["logLines"].append(f"{_utc_stamp()} ERROR attempt lost at restart")
            job["updatedAt"] = now
            if len(job["attempts"]) < self.max_attempts:
                job["status"] = "incomplete" if job["attempts"] else "pending"
                self.store.save_job(job)
                self._spawn(job["id"])
            else:
                job["status"] = "failed"
                self.store.save_job(job)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every job thread without recording an outcome (a restart recovers them)."""
        self._shutdown.set()
        with self._lock:
            events = list(self._cancel.values())
            threads = list(self._threads.values())
            scheduler = self._scheduler
        for event in events:
            event.set()
        deadline = time.monotonic() + timeout
        for thread in [*threads, *([scheduler] if scheduler else [])]:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- starting and cancelling ---------------------------------------------------------------

    def start(
        self,
        connection_id: str,
        config_type: str = "sync",
        *,
        scheduled_at: float | None = None,
        streams: list[dict[str, Any]] | None = None,
        refresh_mode: str | None = None,
    ) -> dict[str, Any]:
        """Create a job for the connection and run it, as ``SchedulerHandler`` does.

        - ``sync``: only an active connection ("Can only sync an active connection",
          ``SchedulerHandler.kt@main`` ~638: an IllegalStateException, so a Config 500);
        - any type on a deleted (deprecated) connection: its workflow is gone
          (``ConnectionManagerUtils.kt`` ~223 ``DeletedWorkflowException``; sync meets the status
          check first; reset/refresh get ``WORKFLOW_DELETED``, a 409, ``SchedulerHandler.kt``
          ~697-703);
        - one job at a time per connection: 409 "A sync is already running for: <id>".

        ``streams`` (refresh/reset of some streams): ``[{name, namespace?}]``, default all.
        ``refresh_mode`` (refresh): ``Truncate`` drops what the streams held before, once the
        refresh commits; ``Merge`` keeps it (``CatalogGenerationSetter.kt@v1.6.0`` ~36-47: the
        minimum generation is the current one for TRUNCATE, 0 for MERGE).
        ``scheduled_at``: the scheduler's "now" that made the job due, kept on the job so the
        next run counts from it (a tick with a simulated clock stays consistent).
        """
        connection = self.store.get("connections", connection_id)
        if connection is None:
            raise NotFound("connection", connection_id)
        status = connection.get("status")
        if config_type == "sync" and status != "active":
            raise IllegalState("Can only sync an active connection")
        if status == "deprecated":
            raise Conflict(
                f"The connection manager workflow for connection {connection_id} is deleted, so no"
                " further operations cannot be performed on it."
            )
        with self._lock:
            if self.store.active_job(connection_id) is not None:
                raise Conflict(f"A sync is already running for: {connection_id}")
            now = time.time()
            selected = [
                s
                for s in (connection.get("syncCatalog") or {}).get("streams", [])
                if (s.get("config") or {}).get("selected", True)
            ]
            enabled = [
                {"name": s["stream"]["name"], **_ns(s["stream"].get("namespace"))} for s in selected
            ]
            # The configured catalog's sync mode per stream: how stats aggregate over attempts
            # (StatsAggregationHelper.kt ~35-87). Resets run every stream as full refresh.
            modes = {
                stream_key(s["stream"].get("namespace"), s["stream"]["name"]): (
                    "full_refresh"
                    if config_type == "reset_connection"
                    else (s.get("config") or {}).get("syncMode") or "full_refresh"
                )
                for s in selected
            }
            job: dict[str, Any] = {
                "configType": config_type,
                "configId": connection_id,
                "connectionId": connection_id,
                "status": "pending",
                "createdAt": now,
                "updatedAt": now,
                "enabledStreams": enabled,
                "streamSyncModes": modes,
                "attempts": [],
            }
            if config_type in ("reset_connection", "refresh"):
                job["targetStreams"] = streams if streams is not None else enabled
            if config_type == "refresh":
                job["refreshMode"] = refresh_mode or "Truncate"
            if scheduled_at is not None:
                job["scheduledAt"] = scheduled_at
            self.store.create_job(job)
            self._spawn_locked(job["id"])
        return job

    def cancel(self, job_id: int, wait: float = 5.0) -> dict[str, Any]:
        """Cancel what runs on the job's connection; answer the job as it then is.

        Airbyte cancels per connection, not per job: ``SchedulerHandler.submitCancellationToWorker``
        signals the connection's workflow (``TemporalClient.startNewCancellation``, same in
        v0.50.0 and main), which cancels whatever job is running there (none: nothing happens)
        and then re-reads the requested job. So cancelling a finished job answers 200 with the
        job unchanged, and cancelling an old job id stops the connection's current job. A
        deleted connection's workflow is gone: an IllegalStateException (Config 500).
        """
        job = self.store.get_job(job_id)
        if job is None:
            raise JobNotFound(job_id)
        connection_id = job["connectionId"]
        connection = self.store.get("connections", connection_id)
        if connection is None or connection.get("status") == "deprecated":
            raise IllegalState(
                f"The connection manager workflow for connection {connection_id} is deleted, so no"
                " further operations cannot be performed on it."
            )
        running = self.store.active_job(connection_id)
        if running is not None:
            self._cancel_running(running, wait)
        return self.store.get_job(job_id) or job

    def _cancel_running(self, job: dict[str, Any], wait: float) -> None:
        with self._lock:
            event = self._cancel.get(job["id"])
            thread = self._threads.get(job["id"])
        if event is None or thread is None:
            # No thread (e.g. deleted mid-flight): record the cancellation directly.
            job["status"] = "cancelled"
            job["updatedAt"] = time.time()
            self.store.save_job(job)
            return
        event.set()
        thread.join(wait)

    def delete(self, job_id: int) -> bool:
        """Test control: the job vanishes (its work is stopped, nothing is recorded)."""
        existed = self.store.delete_job(job_id)
        with self._lock:
            event = self._cancel.get(job_id)
        if event is not None:
            event.set()
        self.forced_status.pop(job_id, None)
        return existed

    def _spawn(self, job_id: int) -> None:
        with self._lock:
            self._spawn_locked(job_id)

    def _spawn_locked(self, job_id: int) -> None:
        event = threading.Event()
        thread = threading.Thread(
            target=self._run, args=(job_id, event), name=f"local-airbyte-job-{job_id}", daemon=True
        )
        self._cancel[job_id] = event
        self._threads[job_id] = thread
        thread.start()

    # -- running --------------------------------------------------------------------------------

    def _save(self, job: dict[str, Any], *, touch: bool = True) -> None:
        """Persist the job; ``touch=False`` for a stats flush, which Airbyte writes to its
        stats tables without touching the job's ``updated_at`` (``DefaultJobPersistence.kt``
        ``writeStats``)."""
        if touch:
            job["updatedAt"] = time.time()
        if not self.store.save_job(job):
            raise _Shutdown  # deleted by a test control: stop quietly

    def _run(self, job_id: int, cancelled: threading.Event) -> None:
        try:
            self._run_attempts(job_id, cancelled)
        except _Shutdown:
            pass
        except Exception:  # pragma: no cover - a bug; never let a thread die silently
            log.exception("job %s crashed", job_id)
        finally:
            with self._lock:
                self._cancel.pop(job_id, None)
                self._threads.pop(job_id, None)

    def _run_attempts(self, job_id: int, cancelled: threading.Event) -> None:
        job = self.store.get_job(job_id)
        if job is not None and not job["attempts"] and self.queue_seconds > 0:
            job["status"] = "queued"  # PENDING -> QUEUED -> RUNNING (JobStatus.kt@main:10-35)
            self._save(job)
            if cancelled.wait(self.queue_seconds):
                if self._shutdown.is_set():
                    raise _Shutdown
                job = self.store.get_job(job_id) or job
                job["status"] = "cancelled"
                self._save(job)
                return
        while True:
            job = self.store.get_job(job_id)
            if job is None:
                return
            number = len(job["attempts"])
            now = time.time()
            attempt: dict[str, Any] = {
                "id": number,
                "status": "running",
                "createdAt": now,
                "updatedAt": now,
                "totalStats": _empty_stats(),
                "streamStats": [],
                "logLines": [],
            }
            job["attempts"].append(attempt)
            job["status"] = "running"
            job.setdefault("startedAt", now)
            self._save(job)
            try:
                self._attempt(job, attempt, cancelled)
            except _Cancelled:
                if self._shutdown.is_set():
                    raise _Shutdown from None
                self._log(attempt, "WARN", "Cancelled by request; uncommitted data was discarded.")
                self._fail_attempt(
                    attempt, "The job was cancelled.", "airbyte_platform", "manual_cancellation"
                )
                job["status"] = "cancelled"
                self._save(job)
                return
            except Exception as exc:  # a connector failure becomes a failed attempt
                if self._shutdown.is_set():
                    raise _Shutdown from None
                if isinstance(exc, ConnectorError):
                    message, origin = str(exc), getattr(exc, "origin", "source")
                else:
                    log.warning("attempt %s of job %s failed", number, job_id, exc_info=True)
                    message, origin = f"{type(exc).__name__}: {exc}", "replication"
                self._log(attempt, "ERROR", f"Attempt failed: {message}")
                self._fail_attempt(attempt, message, origin, "system_error")
                if number + 1 < self.max_attempts:
                    job["status"] = "incomplete"
                    self._save(job)
                    if cancelled.wait(self.retry_delay):
                        if self._shutdown.is_set():
                            raise _Shutdown from None
                        job["status"] = "cancelled"
                        self._save(job)
                        return
                    continue
                job["status"] = "failed"
                self._save(job)
                return
            attempt["status"] = "succeeded"
            attempt["endedAt"] = attempt["updatedAt"] = time.time()
            self._log(attempt, "INFO", "Sync succeeded.")
            job["status"] = "succeeded"
            self._save(job)
            return

    @staticmethod
    def _log(attempt: dict[str, Any], level: str, message: str) -> None:
        attempt["logLines"].append(f"{_utc_stamp()} {level} {message}")

    @staticmethod
    def _fail_attempt(
        attempt: dict[str, Any],
        message: str,
        origin: str,
        failure_type: str,
        now: float | None = None,
    ) -> None:
        now = now or time.time()
        attempt["status"] = "failed"
        attempt["endedAt"] = attempt["updatedAt"] = now
        attempt["failureSummary"] = {
            "failures": [
                {
                    "failureOrigin": origin,
                    "failureType": failure_type,
                    "externalMessage": message,
                    "internalMessage": message,
                    "retryable": failure_type != "manual_cancellation",
                    "timestamp": int(now * 1000),
                }
            ],
            "partialSuccess": attempt["totalStats"]["recordsCommitted"] > 0,
        }

    def _attempt(
        self, job: dict[str, Any], attempt: dict[str, Any], cancelled: threading.Event
    ) -> None:
        connection_id = job["connectionId"]
        self._log(attempt, "INFO", f"Starting attempt {attempt['id'] + 1} of job {job['id']}")
        connection = self.store.get("connections", connection_id)
        if connection is None:
            raise ConnectorError(f"Connection {connection_id} no longer exists.")
        source = self.store.get("sources", connection["sourceId"])
        destination = self.store.get("destinations", connection["destinationId"])
        if source is None or destination is None:
            raise ConnectorError("The connection's source or destination no longer exists.")
        src = self.registry.sources.get(source["sourceDefinitionId"])
        dst = self.registry.destinations.get(destination["destinationDefinitionId"])
        if src is None or dst is None:
            raise ConnectorError("The connection uses a connector this server does not offer.")
        with self._lock:
            count, message, after_streams = self.fail_next.get(connection_id, (0, "", 0))
            if count > 0:
                self.fail_next[connection_id] = (count - 1, message, after_streams)
        failure = ConnectorError(message or "Injected failure (test control).")
        if count > 0 and after_streams <= 0:
            raise failure
        src_config = source["connectionConfiguration"]
        dst_config = destination["connectionConfiguration"]
        streams = resolve_streams(connection, dst.default_namespace(dst_config), job["id"])
        targets = (
            {stream_key(s.get("namespace"), s["name"]) for s in job["targetStreams"]}
            if "targetStreams" in job
            else None  # a job from an older state directory: every stream
        )
        moved: list[tuple[ConfiguredStream, bool, bool]] = []
        for stream in streams:
            targeted = targets is None or stream_key(stream.namespace, stream.name) in targets
            if job["configType"] in ("reset_connection", "clear") and not targeted:
                continue  # a reset of some streams leaves the others alone
            reset = job["configType"] in ("reset_connection", "clear") and targeted
            moved.append((stream, reset, job["configType"] == "refresh" and targeted))
        # The replication starts here: so does its stats timer.
        flush = _StatsFlush(self.stats_flush_seconds.get(connection_id, STATS_FLUSH_SECONDS))
        duration = self.sync_duration.get(connection_id, 0.0)
        # Default: the whole duration passes before any record moves. Progressive: the records
        # are read first, then move at a steady rate over it (each stream a share as large as
        # its share of the records, in slices: see _paced).
        read: list[list[Record] | None] = [None] * len(moved)
        paces = [0.0] * len(moved)
        if duration > 0 and connection_id in self.progressive:
            read = [
                None if reset else self._read_all(job, src, src_config, stream, refresh, cancelled)
                for stream, reset, refresh in moved
            ]
            records = sum(len(r or ()) for r in read)
            if records:
                paces = [duration * len(r or ()) / records for r in read]
        if duration > 0 and not any(paces) and cancelled.wait(duration):
            raise _Cancelled
        for done, (stream, reset, refresh) in enumerate(moved):
            if cancelled.is_set():
                raise _Cancelled
            if count > 0 and done == after_streams:
                raise failure  # a source failing mid-sync: earlier streams stay committed
            self._sync_stream(
                job,
                attempt,
                cancelled,
                src,
                src_config,
                dst,
                dst_config,
                stream,
                reset,
                refresh,
                flush,
                paces[done],
                read[done],
            )

    def _plan_stream(
        self, job: dict[str, Any], stream: ConfiguredStream, reset: bool, refresh: bool
    ) -> tuple[ConfiguredStream, int, bool, Any]:
        """How this job moves ``stream``: (the stream as moved, generation, incremental, cursor)."""
        state = self.store.get_state(job["connectionId"], stream_key(stream.namespace, stream.name))
        state = state or {}
        generation = int(state.get("generation", 0))
        if reset:
            stream = _replace(stream, sync_mode="full_refresh", destination_sync_mode="overwrite")
        elif refresh and job.get("refreshMode", "Truncate") == "Truncate":
            # Only this generation survives: the destination overwrites (deduped if it was).
            dedup = stream.destination_sync_mode.endswith("dedup")
            stream = _replace(
                stream, destination_sync_mode="overwrite_dedup" if dedup else "overwrite"
            )
        overwrite = stream.destination_sync_mode.startswith("overwrite")
        if overwrite or refresh or reset:
            generation += 1
        stream = _replace(stream, generation_id=generation)
        incremental = stream.sync_mode == "incremental" and not (reset or refresh)
        cursor = _decode_cursor(state.get("cursor")) if incremental else None
        return stream, generation, incremental, cursor

    def _read_all(
        self,
        job: dict[str, Any],
        src: Any,
        src_config: dict[str, Any],
        stream: ConfiguredStream,
        refresh: bool,
        cancelled: threading.Event,
    ) -> list[Record]:
        """Every record this job reads of ``stream`` (a progressive sync paces them by count)."""
        planned, _, _, cursor = self._plan_stream(job, stream, False, refresh)
        return [r for batch in src.read(src_config, planned, cursor, cancelled) for r in batch]

    def _sync_stream(
        self,
        job: dict[str, Any],
        attempt: dict[str, Any],
        cancelled: threading.Event,
        src: Any,
        src_config: dict[str, Any],
        dst: Any,
        dst_config: dict[str, Any],
        stream: ConfiguredStream,
        reset: bool,
        refresh: bool,
        flush: _StatsFlush,
        pace: float = 0.0,
        read: list[Record] | None = None,
    ) -> None:
        """Move one stream, then commit it; ``flush``: the attempt's stats timer; ``read``: its
        records, already read, spread over ``pace`` seconds (a progressive sync)."""
        connection_id = job["connectionId"]
        key = stream_key(stream.namespace, stream.name)
        stream, generation, incremental, cursor = self._plan_stream(job, stream, reset, refresh)
        stats = _empty_stats()
        entry: dict[str, Any] = {"streamName": stream.name, "stats": stats}
        if stream.namespace:
            entry["streamNamespace"] = stream.namespace
        attempt["streamStats"].append(entry)
        total = attempt["totalStats"]
        self._log(
            attempt,
            "INFO",
            f"Stream {stream.name}: {stream.sync_mode}/{stream.destination_sync_mode} into "
            f"{stream.destination_namespace or '<default>'}.{stream.destination_table}"
            + (f", cursor after {cursor}" if cursor is not None else ""),
        )
        writer = dst.open_stream(dst_config, stream)
        max_cursor = cursor
        try:
            if not reset:
                batches: Iterable[list[Record]] = (
                    src.read(src_config, stream, cursor, cancelled)
                    if read is None
                    else _paced(read, pace, cancelled)
                )
                for batch in batches:
                    if cancelled.is_set():
                        raise _Cancelled
                    extracted = dt.datetime.now(dt.UTC)
                    size = 0
                    for record in batch:
                        if incremental and stream.cursor_field:
                            value = _dig(record, stream.cursor_field)
                            try:
                                if value is not None and (max_cursor is None or value > max_cursor):
                                    max_cursor = value
                            except TypeError:
                                pass
                        size += len(json.dumps(record, default=str, separators=(",", ":")))
                        record["_airbyte_raw_id"] = str(uuid.uuid4())
                        record["_airbyte_extracted_at"] = extracted
                        record["_airbyte_meta"] = {"changes": [], "sync_id": job["id"]}
                        record["_airbyte_generation_id"] = generation
                    writer.write(batch)
                    for target in (stats, total):
                        target["recordsEmitted"] += len(batch)
                        target["bytesEmitted"] += size
                    if flush.due():
                        self._save(job, touch=False)
                if cancelled.is_set():
                    raise _Cancelled
            writer.commit()
        except BaseException:
            try:
                writer.abort()
            except Exception:  # pragma: no cover - the original error matters more
                log.warning("abort failed for stream %s", stream.name, exc_info=True)
            raise
        stats["recordsCommitted"] = stats["recordsEmitted"]
        stats["bytesCommitted"] = stats["bytesEmitted"]
        total["recordsCommitted"] += stats["recordsCommitted"]
        total["bytesCommitted"] += stats["bytesCommitted"]
        new_state: dict[str, Any] = {"generation": generation}
        if incremental and max_cursor is not None:
            new_state["cursor"] = _encode_cursor(max_cursor)
            stats["stateMessagesEmitted"] += 1
            total["stateMessagesEmitted"] += 1
        self.store.set_state(connection_id, key, new_state)
        self._log(
            attempt,
            "INFO",
            f"Stream {stream.name}: committed {stats['recordsCommitted']} records "
            f"({stats['bytesCommitted']} bytes)",
        )
        if flush.due():  # else the next flush or the attempt's end saves it
            self._save(job, touch=False)

    # -- scheduler -------------------------------------------------------------------------------

    def start_scheduler(self, interval: float = 5.0) -> None:
        def loop() -> None:
            while not self._shutdown.wait(interval):
                try:
                    self.tick()
                except Exception:  # pragma: no cover
                    log.exception("scheduler pass failed")

        self._scheduler = threading.Thread(target=loop, name="local-airbyte-scheduler", daemon=True)
        self._scheduler.start()

    def tick(self, now: float | None = None) -> list[int]:
        """One scheduler pass: start a sync for every active connection that is due."""
        now = now or time.time()
        started = []
        for connection in self.store.list("connections"):
            if connection.get("status") != "active":
                continue
            due = _next_run(connection, self.store.last_job(connection["connectionId"]))
            if due is None or due > now:
                continue
            try:
                started.append(self.start(connection["connectionId"], scheduled_at=now)["id"])
            except ApiError:  # started meanwhile, deleted, disabled: not due any more
                continue
        return started


_SLICE_SECONDS = 0.25  # a progressive sync moves records about this often
STATS_FLUSH_SECONDS = 10.0
"""How often a running attempt's stats are saved (so ``connections/sync_progress`` moves).

Airbyte's replication persists stats on a fixed-rate timer that starts with the replication
(``SyncPersistence.kt``: ``scheduleAtFixedRate(flush, RUN_IMMEDIATELY,
persistenceFlushPeriodSec)``; ``persistence-flush-period-sec: ${REPLICATION_FLUSH_PERIOD_SECONDS:10}``
in the orchestrator's ``application.yml``, the same since v0.50), and once more when the
attempt ends. Records so far are therefore up to ten seconds old while a sync runs.
"""


class _StatsFlush:
    """One attempt's stats timer: due every ``period`` seconds from the replication's start,
    on a fixed grid (a late check does not shift the next flushes). Its immediate first run
    finds no records, so the first stats reach the API one period in."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._next = time.monotonic() + period

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        missed = (now - self._next) // self.period
        self._next += (missed + 1) * self.period
        return True


def _paced(
    records: list[Record], seconds: float, cancelled: threading.Event
) -> Iterator[list[Record]]:
    """``records`` in even slices over ``seconds``, an equal share of it waited before each.

    The real Airbyte moves records while the sync runs and persists the attempt's stats with
    its state on a fixed period (``SyncPersistenceImpl.java`` in airbyte-commons-worker,
    ``attemptApi.saveStats``), so ``connections/sync_progress`` grows during a sync at about
    the rate records flow; this reproduces that for a test-set ``sync_duration``.
    """
    slices = max(1, min(len(records), math.ceil(seconds / _SLICE_SECONDS)))
    for index in range(slices):
        if cancelled.wait(seconds / slices):
            raise _Cancelled
        # Even shares (a rounded-up slice size would run out of records before the time does).
        chunk = records[index * len(records) // slices : (index + 1) * len(records) // slices]
        if chunk:
            yield chunk


def _ns(namespace: str | None) -> dict[str, str]:
    return {"namespace": namespace} if namespace else {}


def _replace(stream: ConfiguredStream, **changes: Any) -> ConfiguredStream:
    import dataclasses

    return dataclasses.replace(stream, **changes)


def _next_run(connection: dict[str, Any], last_job: dict[str, Any] | None) -> float | None:
    """When the connection's schedule wants its next sync (epoch seconds), or None (manual)."""
    if last_job is None:
        since = connection.get("created_at", 0)
    else:
        since = max(last_job["createdAt"], last_job.get("scheduledAt") or 0)
    kind = connection.get("scheduleType") or "manual"
    data = connection.get("scheduleData") or {}
    if kind == "basic":
        basic = data.get("basicSchedule") or connection.get("schedule") or {}
        seconds = _TIME_UNITS.get(basic.get("timeUnit", ""), 0) * int(basic.get("units") or 0)
        return since + seconds if seconds > 0 else None
    if kind == "cron":
        cron = data.get("cron") or {}
        try:
            expr = QuartzCron(cron.get("cronExpression", ""), cron.get("cronTimeZone") or "UTC")
        except CronError:
            return None
        fire = expr.next_after(dt.datetime.fromtimestamp(since, dt.UTC))
        return fire.timestamp() if fire else None
    return None
