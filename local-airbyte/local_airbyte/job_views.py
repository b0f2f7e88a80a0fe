"""How the real server renders a job, endpoint by endpoint (the engine stores one document).

Two converters exist upstream and clients see both:

- ``JobConverter.getJobInfoRead`` (``airbyte-commons-server/.../converters/JobConverter.kt``,
  ~67-111, 162-177, 265-333), used by ``jobs/get``, ``jobs/cancel``, ``connections/sync`` and
  ``connections/reset``: ``JobRead`` without any statistics; each attempt's ``totalStats`` and
  ``streamStats`` come from the attempt's sync summary, so they exist only once the attempt has
  ended, with no ``streamNamespace`` and no ``bytesCommitted``; every attempt carries its logs.
- ``StatsAggregationHelper.hydrateWithStats`` (``.../handlers/helpers/StatsAggregationHelper.kt``
  ~120-272), used by ``jobs/list``, ``jobs/get_without_logs`` (from v0.52.0) and
  ``connections/sync_progress``: the attempts' stats from the stats table (live while the
  attempt runs, with namespaces), plus job-level ``aggregatedStats`` and
  ``streamAggregatedStats``: per stream, full refresh takes the last attempt, incremental sums
  them; the job's totals are the sums over its streams.

Null fields are left out (the generated models are ``@JsonInclude(NON_NULL)``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .profiles import Profile

__all__ = [
    "attempt_read",
    "job_info_light_read",
    "job_info_read",
    "job_info_without_logs",
    "job_read",
    "job_with_attempts_read",
    "sync_progress_read",
]

_STATS = ("recordsEmitted", "bytesEmitted", "recordsCommitted", "bytesCommitted")


def _key(namespace: str | None, name: str) -> str:
    return f"{namespace or ''}/{name}"


def _descriptor(stream: dict[str, Any]) -> dict[str, Any]:
    body = {"name": stream["name"]}
    if stream.get("namespace"):
        body["namespace"] = stream["namespace"]
    return body


def job_read(job: dict[str, Any], profile: Profile, *, hydrated: bool) -> dict[str, Any]:
    """``JobRead``; with ``hydrated`` the job-level statistics are added."""
    body: dict[str, Any] = {
        "id": job["id"],
        "configType": job["configType"],
        "configId": job["connectionId"],
        "enabledStreams": [_descriptor(s) for s in job.get("enabledStreams", [])],
        "createdAt": int(job["createdAt"]),
        "updatedAt": int(job["updatedAt"]),
        "status": job["status"],
    }
    if job.get("startedAt") is not None:
        body["startedAt"] = int(job["startedAt"])
    targets = [_descriptor(s) for s in job.get("targetStreams") or job.get("enabledStreams", [])]
    if job["configType"] == "reset_connection":
        body["resetConfig"] = {"streamsToReset": targets}
    if job["configType"] == "refresh" and targets:
        body["refreshConfig"] = {"streamsToRefresh": targets}
    if hydrated and profile.job_level_stats:
        per_stream = _stream_aggregated_stats(job, profile)
        totals = {key: sum(s[key] for s in per_stream) for key in _STATS}
        if profile.records_rejected:
            totals["recordsRejected"] = sum(s["recordsRejected"] for s in per_stream)
        body["aggregatedStats"] = totals
        body["streamAggregatedStats"] = per_stream
    return body


def _stream_aggregated_stats(job: dict[str, Any], profile: Profile) -> list[dict[str, Any]]:
    """``hydrateWithAggregatedStats``: streams of the configured catalog that have stats."""
    by_stream: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, tuple[str, str | None]] = {}
    for attempt in job.get("attempts", []):
        for entry in attempt.get("streamStats", []):
            key = _key(entry.get("streamNamespace"), entry["streamName"])
            by_stream.setdefault(key, []).append(entry["stats"])
            names[key] = (entry["streamName"], entry.get("streamNamespace"))
    modes: dict[str, str] = job.get("streamSyncModes") or {}
    result = []
    for key, mode in modes.items():
        stats = by_stream.get(key)
        if not stats:
            continue  # "No stats have been persisted for job ... stream ..."
        chosen = stats if mode == "incremental" else stats[-1:]
        name, namespace = names[key]
        item: dict[str, Any] = {"streamName": name}
        if namespace:
            item["streamNamespace"] = namespace
        for stat in _STATS:
            item[stat] = sum(int(s.get(stat, 0)) for s in chosen)
        if profile.records_rejected:
            item["recordsRejected"] = sum(int(s.get("recordsRejected", 0)) for s in chosen)
        result.append(item)
    return result


def attempt_read(attempt: dict[str, Any], profile: Profile, *, hydrated: bool) -> dict[str, Any]:
    """``AttemptRead``: stats from the summary (ended attempts) or, hydrated, the stats table."""
    body: dict[str, Any] = {
        "id": attempt["id"],
        "status": attempt["status"],
        "createdAt": int(attempt["createdAt"]),
        "updatedAt": int(attempt["updatedAt"]),
    }
    if attempt.get("endedAt") is not None:
        body["endedAt"] = int(attempt["endedAt"])
    total = attempt.get("totalStats") or {}
    streams = attempt.get("streamStats") or []
    ended = attempt.get("endedAt") is not None
    if ended:
        # JobConverter.getAttemptRead: the standardSyncSummary's numbers.
        body["bytesSynced"] = int(total.get("bytesCommitted", 0))
        body["recordsSynced"] = int(total.get("recordsCommitted", 0))
    if hydrated and streams:
        body["totalStats"] = _hydrated_stats(total, profile)
        body["streamStats"] = [
            {
                "streamName": s["streamName"],
                **({"streamNamespace": s["streamNamespace"]} if s.get("streamNamespace") else {}),
                "stats": _hydrated_stats(s["stats"], profile),
            }
            for s in streams
        ]
    elif ended:
        body["totalStats"] = _summary_stats(total)
        body["streamStats"] = [
            {"streamName": s["streamName"], "stats": _summary_stats(s["stats"])} for s in streams
        ]
    if attempt.get("failureSummary"):
        body["failureSummary"] = attempt["failureSummary"]
    return body


def _summary_stats(stats: dict[str, Any]) -> dict[str, int]:
    """``JobConverter.getTotalAttemptStats`` / ``getAttemptStreamStats`` (~300-333)."""
    return {
        "bytesEmitted": int(stats.get("bytesEmitted", 0)),
        "recordsEmitted": int(stats.get("recordsEmitted", 0)),
        "stateMessagesEmitted": int(stats.get("stateMessagesEmitted", 0)),
        "recordsCommitted": int(stats.get("recordsCommitted", 0)),
    }


def _hydrated_stats(stats: dict[str, Any], profile: Profile) -> dict[str, int]:
    """``StatsAggregationHelper.hydrateWithStats(attempt)`` (~185-224): no bytesCommitted."""
    body = {
        "bytesEmitted": int(stats.get("bytesEmitted", 0)),
        "recordsEmitted": int(stats.get("recordsEmitted", 0)),
        "recordsCommitted": int(stats.get("recordsCommitted", 0)),
    }
    if profile.records_rejected:
        body["recordsRejected"] = int(stats.get("recordsRejected", 0))
    return body


def _log_lines(attempt: dict[str, Any], job_id: int, size: int) -> list[str]:
    """The attempt's log: its real lines, padded to ``size`` lines like a chatty connector's.

    Airbyte reads up to ``DEFAULT_LOG_TAIL_SIZE`` (1,000,000) lines per attempt on every
    ``jobs/get`` (``JobConverter.kt`` ~84-111); ``size`` lets a test make responses as large.
    """
    lines = list(attempt.get("logLines", []))
    missing = size - len(lines)
    if missing <= 0:
        return lines
    stamp = dt.datetime.fromtimestamp(attempt["createdAt"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    filler = [
        f"{stamp} replication-orchestrator > INFO Records read: {n * 1000} (job {job_id},"
        f" attempt {attempt['id']})"
        for n in range(missing)
    ]
    return [*lines[:1], *filler, *lines[1:]]


def job_info_read(job: dict[str, Any], profile: Profile, log_lines: int) -> dict[str, Any]:
    """``JobInfoRead`` as ``jobs/get`` answers it: no job statistics, every attempt's logs
    (``logType`` from v1.2.0; before, ``{attempt, logs}``)."""
    attempts = []
    for attempt in job["attempts"]:
        item: dict[str, Any] = {"attempt": attempt_read(attempt, profile, hydrated=False)}
        if profile.attempt_log_type:
            item["logType"] = "formatted"
        item["logs"] = {"logLines": _log_lines(attempt, job["id"], log_lines)}
        attempts.append(item)
    return {"job": job_read(job, profile, hydrated=False), "attempts": attempts}


def job_info_without_logs(job: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """``jobs/get_without_logs``: hydrated from v0.52.0, attempts without logs."""
    hydrated = profile.hydrates_get_without_logs
    return {
        "job": job_read(job, profile, hydrated=hydrated),
        "attempts": [
            {"attempt": attempt_read(a, profile, hydrated=hydrated)} for a in job["attempts"]
        ],
    }


def job_info_light_read(job: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """``jobs/get_light``: ``{job}`` only (``JobConverter.getJobInfoLightRead``)."""
    return {"job": job_read(job, profile, hydrated=False)}


def job_with_attempts_read(job: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """One item of ``jobs/list``: attempts always hydrated; job-level stats from v0.50.45."""
    return {
        "job": job_read(job, profile, hydrated=True),
        "attempts": [attempt_read(a, profile, hydrated=True) for a in job["attempts"]],
    }


def sync_progress_read(
    connection_id: str, job: dict[str, Any] | None, profile: Profile
) -> dict[str, Any]:
    """``connections/sync_progress`` (``JobHistoryHandler.kt@main`` ~347-428).

    ``job``: the connection's running replication job (v0.64+: any type; v0.61-v0.63: sync
    only), or None, which answers ``{connectionId, streams: []}`` without a ``configType``
    although the spec requires one.
    """
    if job is None:
        return {"connectionId": connection_id, "streams": []}
    read = job_read(job, profile, hydrated=True)
    stats = {
        s["streamName"] + "/" + (s.get("streamNamespace") or ""): s
        for s in read["streamAggregatedStats"]
    }
    with_type = profile.sync_progress == "object_config_type"
    config_type = read["configType"]
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    enabled = read["enabledStreams"]
    if config_type == "sync":
        groups.append(("sync", enabled))
    elif config_type == "refresh":
        refreshed = read.get("refreshConfig", {}).get("streamsToRefresh", [])
        # A TreeMap over JobConfigType: SYNC sorts before REFRESH (enum order).
        groups.append(("sync", [s for s in enabled if s not in refreshed]))
        groups.append(("refresh", refreshed))
    else:
        groups.append((config_type, read.get("resetConfig", {}).get("streamsToReset", [])))
    streams = []
    for group_type, descriptors in groups:
        for descriptor in descriptors:
            item: dict[str, Any] = {"streamName": descriptor["name"]}
            if descriptor.get("namespace"):
                item["streamNamespace"] = descriptor["namespace"]
            if with_type:
                item["configType"] = group_type
            found = stats.get(descriptor["name"] + "/" + (descriptor.get("namespace") or ""))
            if found is not None:
                for key in (*_STATS, *(("recordsRejected",) if profile.records_rejected else ())):
                    item[key] = found[key]
            streams.append(item)
    totals = read["aggregatedStats"]
    body: dict[str, Any] = {
        "connectionId": connection_id,
        "jobId": read["id"],
        # v0.61-v0.63: job.startedAt; from v0.64: createdAt (JobHistoryHandler.java@v1.6.0:372)
        "syncStartedAt": read["createdAt"]
        if with_type
        else read.get("startedAt", read["createdAt"]),
        "bytesEmitted": totals["bytesEmitted"],
        "bytesCommitted": totals["bytesCommitted"],
        "recordsEmitted": totals["recordsEmitted"],
        "recordsCommitted": totals["recordsCommitted"],
        "streams": streams,
    }
    if profile.records_rejected:
        body["recordsRejected"] = totals["recordsRejected"]
    if with_type:
        body["configType"] = config_type
    return body
