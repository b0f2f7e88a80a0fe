"""The adaptive polling schedule, alone (pure arithmetic, no server)."""

from __future__ import annotations

import itertools

import pytest

from dagster_airbyte_assets._sync import MIN_POLL_DELAY, PollPlan


def _poll_times(plan: PollPlan, until: float) -> list[float]:
    times, now = [], 0.0
    while now < until:
        now += plan.next_delay(now)
        times.append(now)
    return times


def test_first_checks_are_quick_then_back_off_to_the_cap() -> None:
    plan = PollPlan(poll_interval=10.0)
    times = _poll_times(plan, 300)
    assert times[0] == MIN_POLL_DELAY
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == sorted(gaps)  # never polls faster after slowing down
    assert max(gaps) == 10.0


@pytest.mark.parametrize("duration", [2.0, 60.0, 600.0], ids=["2s", "60s", "10min"])
def test_known_duration_is_detected_within_a_second(duration: float) -> None:
    plan = PollPlan(poll_interval=10.0, expected_duration=duration)
    times = _poll_times(plan, duration + 5)
    first_after_end = next(t for t in times if t >= duration)
    assert first_after_end - duration <= 1.0
    calls_before_end = len([t for t in times if t < duration])
    # Few calls while waiting: about one per 2 * poll_interval, plus the quick first check.
    assert calls_before_end <= duration / 20 + 2


def test_overrunning_the_expected_duration_falls_back_to_backoff() -> None:
    plan = PollPlan(poll_interval=10.0, expected_duration=10.0)
    assert plan.next_delay(10.5) == MIN_POLL_DELAY  # dense just after the expected end
    assert plan.next_delay(100.0) == 10.0  # long overrun: the normal cap again
