"""The polling budget, deterministically: the plan alone, then the waiter on a simulated clock.

No server and no sleeping: ``PollPlan`` is arithmetic, and ``_Waiter`` takes its clock and its
sleep from the test, reading a simulated job whose end time is known. Figures checked here are
the targets of the performance issue: a sync predicted at 30 s that takes 36 s is seen within a
second (p50) at no more than 12 calls where Airbyte reports progress; long syncs cost at most one
call per ``poll_interval``; no 60 s window holds more than ``MAX_CALLS_PER_MINUTE`` checks; and
no sync, at any length, late or early, with or without progress, costs more calls than
dagster-airbyte 0.29.27's 10 s poll (3 calls + one per 10 s).
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from dagster_airbyte_assets._poll import (
    AIRBYTE_STATS_FLUSH,
    DENSE_GAP,
    MAX_CALLS_PER_MINUTE,
    PollPlan,
    end_window,
    expected_from_history,
)
from dagster_airbyte_assets._sync import MIN_POLL_DELAY, _Waiter
from dagster_airbyte_assets.client import (
    AirbyteJob,
    AirbyteSyncProgress,
    StartState,
    SyncHistory,
)
from dagster_airbyte_assets.errors import AirbyteOutageError, AirbyteServerError

# Calls of a materialization besides status checks: the history/baseline listing and the start.
# (The final per-stream numbers come with the last check on every Airbyte from 0.52; older ones
# cost one more listing, counted where it matters.)
FIXED_CALLS = 2


def _poll_times(plan: PollPlan, until: float) -> list[float]:
    times: list[float] = []
    now = 0.0
    while now < until:
        now += plan.next_delay(now, times)
        times.append(now)
    return times


def _competitor_calls(duration: float) -> int:
    """dagster-airbyte 0.29.27 per sync: connections/get, jobs list, start, one poll per 10 s."""
    return 3 + math.ceil(duration / 10.0)


# -- the plan alone -----------------------------------------------------------------------------


def test_first_sync_checks_quickly_then_once_per_interval() -> None:
    times = _poll_times(PollPlan(poll_interval=10.0), 300)
    assert times[:4] == [1.0, 10.0, 20.0, 30.0]  # a sync failing at once is seen at once
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == sorted(gaps)  # never polls faster after slowing down
    assert max(gaps) == 10.0


def test_the_budget_holds_back_the_k_th_call_to_k_minus_one_intervals() -> None:
    plan = PollPlan(poll_interval=10.0, expected_duration=30.0)
    assert plan.next_delay(31.0, [20.0, 30.0]) == DENSE_GAP  # two calls, 20 s of budget
    assert plan.next_delay(32.0, [20.0, 30.0, 31.0, 32.0]) == 8.0  # the 5th not before 40 s
    # After an outage (calls at 1-4 s failed; Airbyte answered again at 30 s) the budget
    # counts from its end: the calls that failed are not made up for by polling less.
    assert plan.next_delay(32.0, [1.0, 2.0, 3.0, 4.0, 30.0], budget_since=30.0) == 8.0
    assert plan.next_delay(32.0, [1.0, 2.0, 3.0, 4.0, 30.0]) == 18.0
    assert plan.budget_allows(30.0, [20.0, 30.0])
    assert not plan.budget_allows(2.0, [2.0])


@pytest.mark.parametrize("duration", [2.0, 10.0, 30.0, 60.0, 600.0, 3600.0])
def test_a_sync_ending_as_predicted_is_seen_at_once_within_the_competitors_calls(
    duration: float,
) -> None:
    times = _poll_times(PollPlan(poll_interval=10.0, expected_duration=duration), duration)
    assert times[-1] == pytest.approx(duration)  # a check lands on the predicted end
    assert FIXED_CALLS + len(times) <= _competitor_calls(duration)


@pytest.mark.parametrize("duration", [600.0, 3600.0, 4 * 3600.0])
@pytest.mark.parametrize("late", [0.8, 1.0, 1.05, 1.2, 2.0])
def test_long_syncs_cost_at_most_one_call_per_poll_interval(duration: float, late: float) -> None:
    actual = duration * late
    times = _poll_times(PollPlan(poll_interval=10.0, expected_duration=duration), actual)
    assert len(times) <= actual / 10.0


@pytest.mark.parametrize("expected", [None, 2.0, 30.0, 3600.0])
def test_never_more_checks_than_the_ceiling_in_any_minute(expected: float | None) -> None:
    plan = PollPlan(poll_interval=1.0, expected_duration=expected)
    times = _poll_times(plan, 2 * 3600.0)
    for i, start in enumerate(times):
        window = [t for t in times[i:] if t < start + 60.0]
        assert len(window) <= MAX_CALLS_PER_MINUTE


def test_checks_are_dense_just_after_the_predicted_end_then_back_off() -> None:
    plan = PollPlan(poll_interval=10.0, expected_duration=30.0)
    assert plan.next_delay(30.5) == DENSE_GAP
    assert plan.next_delay(35.5) == DENSE_GAP  # within 20 % of the prediction
    assert plan.next_delay(300.0) == 10.0  # a long overrun: the normal cap again
    assert plan.next_delay(0.0) == 20.0  # before the end: two intervals at most
    assert min(plan.next_delay(t / 10) for t in range(4000)) >= MIN_POLL_DELAY


def test_the_first_check_comes_a_margin_past_the_history_s_median() -> None:
    # Airbyte's durations are whole seconds: at least a second later, 2 % on long syncs, ≤ 5 s.
    assert expected_from_history([2.0, 2.0, 3.0]) == 3.0
    assert expected_from_history([30.0, 29.0, 31.0]) == 31.0
    assert expected_from_history([100.0]) == pytest.approx(102.0)
    assert expected_from_history([3600.0]) == 3605.0
    assert expected_from_history([]) is None


def test_progress_predicts_the_end_of_an_overrunning_sync() -> None:
    # 30 s in, 5/6 of what earlier syncs moved. Counted just now, the end is 36 s (looked at
    # 2 % later); counted a flush period ago (Airbyte saves them every 10 s), 24 s, which has
    # passed: the window starts a second from now.
    assert end_window(30.0, 500, [600, 600, 590]) == pytest.approx((31.0, 36.0 * 1.02))
    earliest, latest = end_window(300.0, 500, [600])  # type: ignore[misc]
    assert (earliest, latest) == pytest.approx((290 * 1.2, 360.0 + 5.0))  # margin ≤ 5 s
    assert end_window(3.0, 500, [600]) == pytest.approx((4.0, 3.6 + 0.5))  # ≥ 0.5 s
    assert end_window(30.0, 600, [600]) is None  # as much as usual: the end is near
    assert end_window(30.0, None, [600]) is None
    assert end_window(30.0, 10, []) is None
    assert end_window(30.0, 1, [10_000]) == (600.0, 600.0)  # never past 20 times elapsed


def test_a_progress_window_spreads_the_checks_the_budget_allows() -> None:
    # The end is between 40 and 60 s; 38 s in, four calls made: the budget allows the 5th
    # from 40 s, the 6th from 50 s, the 7th from 60 s. Three checks over the window, the last
    # on its latest end, rather than three in its first seconds and none near its end.
    plan = PollPlan(poll_interval=10.0).with_window(40.0, 60.0)
    calls = [20.0, 30.0, 35.0, 38.0]
    while calls[-1] < 60.0:
        calls.append(calls[-1] + plan.next_delay(calls[-1], calls))
    assert calls[4:] == pytest.approx([40 + 20 / 3, 55.0, 60.0])
    # With budget to spare (a long sync polled sparsely), a second apart across it.
    late = PollPlan(poll_interval=10.0).with_window(300.0, 310.0)
    assert late.next_delay(299.5, [20.0]) == pytest.approx(0.5)
    assert late.next_delay(300.0, [20.0, 300.0]) == pytest.approx(DENSE_GAP)


# -- the waiter on a simulated clock ------------------------------------------------------------


@dataclass
class _SimulatedAirbyte:
    """One sync job whose end is known; counts every call the waiter makes."""

    ends_at: float
    records_per_s: float = 100.0
    down: tuple[float, float] | None = None  # (from, until): every call fails meanwhile
    now: float = 0.0
    calls: list[str] = field(default_factory=list)
    # Airbyte saves a running sync's numbers every 10 s from the replication's start, which
    # comes some moment after the job's creation (REPLICATION_FLUSH_PERIOD_SECONDS).
    flush_every: float = AIRBYTE_STATS_FLUSH
    flush_phase: float = 0.0

    def _job(self) -> AirbyteJob:
        status = "succeeded" if self.now >= self.ends_at else "running"
        return AirbyteJob(
            job_id=7,
            status=status,
            job_type="sync",
            connection_id="c",
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )

    def _answer(self, what: str) -> None:
        self.calls.append(what)
        if self.down and self.down[0] <= self.now < self.down[1]:
            raise AirbyteServerError("Airbyte server error 502", status_code=502)

    def get_job(self, job_id: int) -> AirbyteJob:
        self._answer("get_job")
        return self._job()

    def sync_progress(self, connection_id: str) -> AirbyteSyncProgress | None:
        self._answer("sync_progress")
        if self.now >= self.ends_at:
            return AirbyteSyncProgress(connection_id=connection_id)  # nothing runs
        flushes = math.floor((self.now - self.flush_phase) / self.flush_every)
        saved_at = max(0.0, self.flush_phase + flushes * self.flush_every)
        return AirbyteSyncProgress(
            connection_id=connection_id,
            job_id=7,
            records_emitted=int(saved_at * self.records_per_s),
        )

    def job_is_listed(self, connection_id: str, job_id: int) -> bool:
        self._answer("list")
        return True


def _wait(
    airbyte: _SimulatedAirbyte,
    history: SyncHistory,
    poll_interval: float = 10.0,
    outage_timeout: float = 600.0,
) -> float:
    """Run the real waiter; return the detection lag (seconds after the job ended)."""

    def sleep(seconds: float) -> None:
        airbyte.now += seconds

    waiter = _Waiter(
        airbyte,  # type: ignore[arg-type]
        "c",
        poll_interval=poll_interval,
        poll_timeout=None,
        outage_timeout=outage_timeout,
        sleep=sleep,
        clock=lambda: airbyte.now,
        log=_Silent(),
    )
    job = waiter.wait(airbyte._job(), history, StartState())
    assert job.succeeded
    return airbyte.now - airbyte.ends_at


class _Silent:
    def info(self, msg: str, /) -> Any:
        return None

    def warning(self, msg: str, /) -> Any:
        return None


def _late_sync(
    with_progress: bool, flush_every: float = AIRBYTE_STATS_FLUSH
) -> tuple[list[float], list[int]]:
    """Lags and calls of syncs predicted at 30 s (three earlier syncs) that take about 36 s."""
    lags, totals = [], []
    # Ends spread over [35.5, 36.5) and the flush timer's phase over a period: the p50 of the
    # lag is over where in a second the sync ends and how old its numbers are when read.
    for i in range(20):
        end = 35.5 + i / 20
        airbyte = _SimulatedAirbyte(
            ends_at=end,
            records_per_s=600 / end,
            flush_every=flush_every,
            flush_phase=(i * 0.37) % flush_every,
        )
        records = (600,) * 3 if with_progress else ()
        lags.append(_wait(airbyte, SyncHistory(41, durations=(30.0, 29.0, 31.0), records=records)))
        totals.append(FIXED_CALLS + len(airbyte.calls))
    return lags, totals


def test_predicted_30s_taking_36s_is_seen_within_a_second_at_12_calls_with_fresh_progress() -> None:
    """Where Airbyte's numbers are current (a deployment saving them often), one check on the
    predicted end sees it."""
    lags, totals = _late_sync(with_progress=True, flush_every=0.25)
    assert statistics.median(lags) < 1.0
    assert max(totals) <= 12
    assert max(totals) <= _competitor_calls(36.5)


def test_predicted_30s_taking_36s_with_airbyte_s_10s_old_numbers() -> None:
    """With Airbyte's default 10 s stats flush the end is known only within a window as wide
    as the numbers are old: still seen sooner than without progress, at fewer calls."""
    lags, totals = _late_sync(with_progress=True)
    plain_lags, plain_totals = _late_sync(with_progress=False)
    assert statistics.median(lags) < statistics.median(plain_lags) - 1.0
    assert max(lags) <= 10.0
    assert max(totals) <= min(12, _competitor_calls(36.0))
    assert sum(totals) <= sum(plain_totals)


def test_predicted_30s_taking_36s_without_progress_costs_no_more_than_the_competitor() -> None:
    """Without numbers to predict from, the budget decides: seen within one interval."""
    lags, totals = _late_sync(with_progress=False)
    assert max(lags) <= 10.0
    assert all(total <= _competitor_calls(36.0) for total in totals)


@pytest.mark.parametrize("with_progress", [True, False], ids=["progress", "no-progress"])
@pytest.mark.parametrize("history", [(), (2.0,), (10.0,), (30.0,), (60.0,), (120.0,), (600.0,)])
def test_never_more_calls_than_the_competitor_at_any_sync_length(
    history: tuple[float, ...], with_progress: bool
) -> None:
    predicted = history[0] if history else 30.0
    lengths = [0.5, 1.5, 3.0, 9.9, 10.1] + [
        predicted * f for f in (0.5, 0.9, 1.0, 1.1, 1.2, 1.5, 3)
    ]
    for length in lengths:
        airbyte = _SimulatedAirbyte(ends_at=length, records_per_s=600 / length)
        records = (600,) if with_progress and history else ()
        _wait(airbyte, SyncHistory(1, durations=history, records=records))
        assert FIXED_CALLS + len(airbyte.calls) <= _competitor_calls(length), length


@pytest.mark.parametrize("expected", [30.0, 120.0, 600.0])
def test_progress_saves_calls_and_time_on_an_overrunning_sync(expected: float) -> None:
    end = expected * 1.2 + 0.5
    plain = _SimulatedAirbyte(ends_at=end, records_per_s=600 / end, flush_phase=3.0)
    plain_lag = _wait(plain, SyncHistory(1, durations=(expected,)))
    guided = _SimulatedAirbyte(ends_at=end, records_per_s=600 / end, flush_phase=3.0)
    lag = _wait(guided, SyncHistory(1, durations=(expected,), records=(600,)))
    assert lag <= max(plain_lag, 1.0)
    assert len(guided.calls) < len(plain.calls)
    if expected >= 600:
        assert lag < 1.0  # budget to spare: the whole window a second apart


def test_an_outage_is_ridden_out_without_losing_the_job() -> None:
    airbyte = _SimulatedAirbyte(ends_at=200.0, down=(20.0, 150.0))
    lag = _wait(airbyte, SyncHistory(1), poll_interval=10.0)
    assert lag <= 10.0  # back to normal polling once Airbyte answers again
    failures = [c for c in airbyte.calls if c == "get_job"]
    assert len(failures) < 40  # backed off while down, not hammering


def test_an_outage_longer_than_outage_timeout_fails_without_cancelling() -> None:
    airbyte = _SimulatedAirbyte(ends_at=10_000.0, down=(5.0, 10_000.0))
    with pytest.raises(AirbyteOutageError) as caught:
        _wait(airbyte, SyncHistory(1), outage_timeout=120.0)
    assert "not cancelled" in str(caught.value)
    assert caught.value.job is not None and caught.value.job.job_id == 7
    assert 120.0 < airbyte.now < 200.0


class _Recording:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, /) -> Any:
        self.lines.append(msg)

    def warning(self, msg: str, /) -> Any:
        self.lines.append(msg)


@pytest.mark.parametrize("history", [(600.0, 590.0, 610.0), ()], ids=["history", "first-sync"])
def test_the_heartbeat_is_throttled_and_stays_within_the_call_budget(
    history: tuple[float, ...],
) -> None:
    # A 10-minute sync, poll_interval 10 s, heartbeat every 30 s.
    airbyte = _SimulatedAirbyte(ends_at=600.0, records_per_s=100.0)
    log = _Recording()

    def sleep(seconds: float) -> None:
        airbyte.now += seconds

    waiter = _Waiter(
        airbyte,  # type: ignore[arg-type]
        "c",
        poll_interval=10.0,
        poll_timeout=None,
        outage_timeout=600.0,
        sleep=sleep,
        clock=lambda: airbyte.now,
        log=log,
        heartbeat_interval=30.0,
    )
    records = tuple(60_000 for _ in history)
    job = waiter.wait(airbyte._job(), SyncHistory(None, history, records), StartState())
    assert job.succeeded
    beats = [line for line in log.lines if " still running after " in line]
    waited = [_seconds(line.split(" after ")[1].split(": ")[0]) for line in beats]
    assert len(beats) == len(waited) >= 600 / 30 - 2
    # Throttled (the whole seconds shown above a minute may round half a second away).
    assert all(b - a >= 29.5 for a, b in itertools.pairwise(waited))
    live = [(line, at) for line, at in zip(beats, waited, strict=True) if "records so far" in line]
    for line, at in live:
        shown = int(line.split(": ")[1].split(" records so far")[0].replace(",", ""))
        # What the progress endpoint said at that moment: saved at the last 10 s flush.
        assert shown == math.floor(at / AIRBYTE_STATS_FLUSH) * AIRBYTE_STATS_FLUSH * 100
    assert max(waited) < 600.0  # only while the job runs, never "so far" once it ended
    # Heartbeats never add calls beyond the budget the waiter keeps anyway.
    assert FIXED_CALLS + len(airbyte.calls) <= _competitor_calls(600.0)
    if history:
        # Polled sparsely until its expected end, the sync leaves room for live numbers.
        assert len(live) >= len(beats) - 2


def _seconds(text: str) -> float:
    """``"1m06s"`` or ``"8.0s"`` back to seconds."""
    minutes, _, rest = text.rpartition("m")
    return (float(minutes) * 60 if minutes else 0.0) + float(rest.rstrip("s"))


def _overrun(history_s: float, took: float, with_progress: bool) -> tuple[float, int]:
    """p50 lag and most calls of ten syncs predicted at ``history_s`` that take ``took``
    (ends over a second, flush phases over the period)."""
    runs = []
    for i in range(10):
        end = took + i / 10
        airbyte = _SimulatedAirbyte(
            ends_at=end, records_per_s=600 / end, flush_phase=(i * 0.37) % AIRBYTE_STATS_FLUSH
        )
        records = (600,) * 3 if with_progress else ()
        lag = _wait(airbyte, SyncHistory(41, durations=(history_s,) * 3, records=records))
        runs.append((lag, FIXED_CALLS + len(airbyte.calls)))
    return statistics.median(lag for lag, _ in runs), max(calls for _, calls in runs)


def test_the_readme_figures() -> None:
    """The numbers the README's "Wait on a budget" gives for the plan, as measured here."""
    lags, totals = _late_sync(with_progress=True)
    assert (round(statistics.median(lags), 1), max(totals)) == (3.0, 6)
    lags, totals = _late_sync(with_progress=True, flush_every=0.25)
    assert (round(statistics.median(lags), 1), max(totals)) == (0.9, 6)
    lags, totals = _late_sync(with_progress=False)
    assert (round(statistics.median(lags), 1), max(totals)) == (4.0, 7)
    assert _competitor_calls(36.5) == 7
    lag, calls = _overrun(60.0, 72.0, with_progress=True)
    assert (round(lag, 1), calls) == (5.3, 9)
    lag, calls = _overrun(60.0, 72.0, with_progress=False)
    assert (round(lag, 1), calls) == (7.5, 11)
    lag, calls = _overrun(120.0, 144.0, with_progress=True)
    assert (round(lag, 1), calls) == (1.1, 15)
    lag, calls = _overrun(120.0, 144.0, with_progress=False)
    assert (round(lag, 1), calls) == (5.5, 18)
    assert (_competitor_calls(73.0), _competitor_calls(145.0)) == (11, 18)
    for duration, ours, theirs in ((2.0, 3, 4), (3600.0, 183, 363)):
        plan = PollPlan(poll_interval=10.0, expected_duration=duration)
        assert FIXED_CALLS + len(_poll_times(plan, duration)) == ours
        assert _competitor_calls(duration) == theirs
