"""A job's final per-stream numbers, aggregated over its attempts the way Airbyte does.

Airbyte keeps numbers per attempt (``attempts[].streamStats``) and aggregates them itself only
on some endpoints and versions (``streamAggregatedStats``; REAL-BEHAVIOUR §1). Its rule
(``StatsAggregationHelper.getAggregatedStats`` in airbyte-platform): an **incremental** stream's
numbers are the sum over the attempts (each attempt commits what it moved), a **full refresh**
stream's are those of the last attempt that reported it (a full refresh starts over). Where the
sync mode is unknown, the last attempt is taken: it never over-counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster_airbyte_assets.client._models import AirbyteAttempt, AirbyteStreamStats

__all__ = ["StreamKey", "aggregate_attempt_stats", "stream_key"]

StreamKey = tuple[str, str | None]


def stream_key(stats: AirbyteStreamStats) -> StreamKey:
    return (stats.stream_name, stats.stream_namespace or None)


def _sum(values: Sequence[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _sync_mode(modes: Mapping[StreamKey, str], key: StreamKey) -> str | None:
    if key in modes:
        return modes[key]
    # Attempt stats may omit the namespace where the catalog has one, or the reverse.
    by_name = {mode for (name, _), mode in modes.items() if name == key[0]}
    return by_name.pop() if len(by_name) == 1 else None


def aggregate_attempt_stats(
    attempts: Sequence[AirbyteAttempt], sync_modes: Mapping[StreamKey, str]
) -> list[AirbyteStreamStats]:
    """Per-stream totals over ``attempts`` (oldest first); empty when no attempt reported any.

    ``sync_modes`` maps ``(stream name, namespace)`` to ``"incremental"`` or
    ``"full_refresh"``; a stream missing from it is aggregated as a full refresh.
    """
    per_stream: dict[StreamKey, list[AirbyteStreamStats]] = {}
    for attempt in sorted(attempts, key=lambda a: a.attempt_number):
        for stats in attempt.stream_stats:
            per_stream.setdefault(stream_key(stats), []).append(stats)
    result = []
    for key, history in per_stream.items():
        chosen = history if _sync_mode(sync_modes, key) == "incremental" else history[-1:]
        result.append(
            AirbyteStreamStats(
                stream_name=key[0],
                stream_namespace=key[1],
                records_emitted=_sum([s.records_emitted for s in chosen]),
                records_committed=_sum([s.records_committed for s in chosen]),
                bytes_emitted=_sum([s.bytes_emitted for s in chosen]),
                bytes_committed=_sum([s.bytes_committed for s in chosen]),
            )
        )
    return result
