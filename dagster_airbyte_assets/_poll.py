"""When to ask Airbyte whether a job has ended: pure arithmetic, no clock, no I/O.

The goal (issue "polling at the call floor"): see the end within about a second where past
durations allow it, and otherwise spend no more calls than a plain ``poll_interval`` poll.

- **No history** (a connection's first sync): a check after 1 s (a sync that fails at once is
  seen at once), then one per ``poll_interval`` (the budget).
- **Expected duration E** (the median of the connection's recent successful syncs, a margin
  later: Airbyte's timestamps are whole seconds): sleep toward E in gaps of up to
  ``2 * poll_interval`` (a failure mid-sync is still seen within two intervals; long syncs
  spend half a call per interval), with one early check at 1 s when E is more than four
  intervals away (closer, the budget needs every call for the end). At E, check; if the job
  still runs, check every second for a short window (20 % of E, 2 to 6 s: real syncs vary),
  then in gaps growing with the overrun (a quarter of it) up to ``poll_interval``.
- **Progress** (``connections/sync_progress``: records so far against what earlier syncs
  moved) turns a sync that overruns into a window for its end. Airbyte saves those numbers
  every 10 s, so the window is as wide as they may be old: checks go a second apart across it
  where the budget allows, else the few it allows split it, the last on its latest end.
  A progress answer naming no job of ours means the job ended: its status is read at once.
- **The budget**: the k-th call of the wait (a status check or a progress read) is never
  made before ``(k - 1) * poll_interval`` seconds into it. A plain poll every
  ``poll_interval`` (dagster-airbyte's) has then made at least as many calls whenever the sync
  ends: never more calls than it at any sync length, and at most one per interval on average.
  (It starts with three calls, a wait here with two, the history listing and the start: the
  one call of difference pays for the first check, at 1 s or at E.)
  Gaps of two intervals before the predicted end save calls for the checks around it; where no
  progress can be read, a late end is seen as soon as the budget allows (within one interval),
  not always within a second.
- **A hard ceiling**: never more than ``max_calls_per_minute`` checks in any 60 seconds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = [
    "AIRBYTE_STATS_FLUSH",
    "DENSE_GAP",
    "MAX_CALLS_PER_MINUTE",
    "MIN_POLL_DELAY",
    "PollPlan",
    "end_window",
    "expected_from_history",
]

MIN_POLL_DELAY = 0.5
"""The shortest sleep between two checks."""
DENSE_GAP = 1.0
"""The gap between checks around the predicted end."""
FIRST_CHECK = 1.0
# How far past a predicted end the check goes: 2 % of the prediction, within these bounds (at
# least a second past a history's median, whose durations are whole seconds).
PREDICTION_MARGIN_SHARE = 0.02
PREDICTION_MARGIN_MIN = 0.5
HISTORY_MARGIN_MIN = 1.0
PREDICTION_MARGIN_MAX = 5.0
MAX_CALLS_PER_MINUTE = 20
AIRBYTE_STATS_FLUSH = 10.0
"""How old a running sync's numbers may be: Airbyte saves them every
``REPLICATION_FLUSH_PERIOD_SECONDS`` (10 s by default; ``SyncPersistence.kt``)."""
# The first check comes at 1 s only where the expected end is this many intervals away: before
# that, the budget needs every call for the checks around the end.
_EARLY_CHECK_BEYOND = 4
_DENSE_SHARE = 0.2
_DENSE_MIN, _DENSE_MAX = 2.0, 6.0
_OVERRUN_GROWTH = 0.25


@dataclass(frozen=True)
class PollPlan:
    """Decides how long to wait before the next status check."""

    poll_interval: float
    expected_duration: float | None = None
    max_calls_per_minute: int = MAX_CALLS_PER_MINUTE
    dense_until: float | None = None
    """Where progress put the latest end: checks stay a second apart until then."""

    def next_delay(
        self, elapsed: float, calls: Sequence[float] = (), budget_since: float = 0.0
    ) -> float:
        """Seconds to sleep, at ``elapsed`` seconds into the wait.

        ``calls`` are the elapsed times of the calls made so far in this wait (status checks
        and progress reads), for the budget and the ceiling. The budget counts from
        ``budget_since`` (the end of an outage: calls that failed meanwhile are the outage's,
        and are not made up for by polling less once Airbyte answers again).
        """
        delay = max(MIN_POLL_DELAY, self._delay(elapsed))
        budget = self._budget_at(calls, budget_since)
        delay = max(delay, self._spread(elapsed, budget) - elapsed)
        delay = max(delay, budget - elapsed)
        if len(calls) >= self.max_calls_per_minute > 0:
            # The next check may not be the (max + 1)-th within any 60 seconds.
            earliest = calls[-self.max_calls_per_minute] + 60.0
            delay = max(delay, earliest - elapsed)
        return delay

    def budget_allows(
        self, elapsed: float, calls: Sequence[float] = (), budget_since: float = 0.0
    ) -> bool:
        """Whether one more call (a progress read) may be made now: budget and ceiling."""
        ceiling = self.max_calls_per_minute
        if len(calls) >= ceiling > 0 and calls[-ceiling] + 60.0 > elapsed:
            return False
        return self._budget_at(calls, budget_since) <= elapsed

    def _budget_at(self, calls: Sequence[float], budget_since: float) -> float:
        """When the next call is due by the budget: the n-th call since ``budget_since`` not
        before ``n - 1`` intervals after it."""
        counted = sum(1 for t in calls if t >= budget_since)
        return budget_since + counted * self.poll_interval

    def _spread(self, t: float, budget: float) -> float:
        """Inside a progress window the budget may allow fewer checks than one a second: then
        the few it allows split the window evenly, the last on its latest end, so the end is
        seen there at the latest (checks a second apart from the window's start would spend
        them all at its beginning and leave the rest of it to the next interval)."""
        expected, end = self.expected_duration, self.dense_until
        if expected is None or end is None or t >= end:
            return t
        first = max(t + MIN_POLL_DELAY, expected, budget)
        if first > end:
            return t  # none fits before the latest end: the plan's own gaps
        fit = 1 + math.floor((end - budget) / self.poll_interval)  # what the budget allows
        if fit > (end - first) / DENSE_GAP:
            return t  # enough for checks a second apart
        return first + (end - first) / fit

    def with_expected(self, expected: float | None) -> PollPlan:
        return replace(self, expected_duration=expected, dense_until=None)

    def with_window(self, earliest: float, latest: float) -> PollPlan:
        """Expect the end between two moments (from progress): dense checks across them."""
        return replace(self, expected_duration=earliest, dense_until=latest)

    def _delay(self, t: float) -> float:
        p = self.poll_interval
        expected = self.expected_duration
        if expected is None:
            if t < FIRST_CHECK:
                return FIRST_CHECK - t
            return min(p, max(DENSE_GAP, t))  # doubling gaps, held back by the budget
        if t < expected:
            if expected > _EARLY_CHECK_BEYOND * p and t < FIRST_CHECK:
                return FIRST_CHECK - t
            return min(2 * p, expected - t)
        overrun = t - expected
        dense = min(_DENSE_MAX, max(_DENSE_MIN, _DENSE_SHARE * expected))
        if self.dense_until is not None:
            dense = max(_DENSE_MIN, self.dense_until - expected)
        if overrun < dense:
            return min(p, DENSE_GAP)
        return min(p, max(DENSE_GAP, _OVERRUN_GROWTH * overrun))


def expected_from_history(durations: Sequence[float]) -> float | None:
    """When to look first: the median of recent successful sync durations, a margin later
    (``None`` without any).

    Airbyte's job timestamps are whole seconds, so a duration read from them is up to a second
    short; a check that comes just before the end costs a whole ``poll_interval`` under the
    budget (bench: 2 s syncs seen 7.9 s late when checked at the median itself).
    """
    if not durations:
        return None
    median = statistics.median(durations)
    return median + _margin(median, HISTORY_MARGIN_MIN)


def _margin(predicted: float, least: float) -> float:
    return min(PREDICTION_MARGIN_MAX, max(least, PREDICTION_MARGIN_SHARE * predicted))


def end_window(
    elapsed: float, records_so_far: int | None, typical_records: Sequence[int]
) -> tuple[float, float] | None:
    """The window the sync's end falls in, judged from progress, or ``None`` when progress
    cannot tell.

    Assumes the sync moves records at a steady rate since it started and will move about as
    many as the median of earlier syncs. Airbyte saves a running sync's numbers on a timer
    (``AIRBYTE_STATS_FLUSH`` seconds), so ``records_so_far`` were counted at some moment of the
    last flush period: taken as current they give the latest end they allow, taken as a period
    old the earliest. The window's start is never before a second from now; both ends are
    capped at twenty times the elapsed time.
    """
    if not typical_records or not records_so_far or records_so_far <= 0 or elapsed <= 0:
        return None
    typical = statistics.median(typical_records)
    if typical <= records_so_far:
        return None  # as much as usual already: the end is near, keep checking densely
    share = typical / records_so_far
    # Look a moment after the latest end, not at it: the job began before this wait's clock
    # started and commits after its last record.
    latest = elapsed * share
    latest += _margin(latest, PREDICTION_MARGIN_MIN)
    earliest = max(0.0, elapsed - AIRBYTE_STATS_FLUSH) * share
    cap = 20 * elapsed
    earliest = min(max(earliest, elapsed + DENSE_GAP), cap)
    return earliest, min(max(latest, earliest), cap)
