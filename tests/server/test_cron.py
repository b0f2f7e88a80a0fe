"""The server's Quartz evaluator (``local_airbyte/cron.py``) and Airbyte's schedule validation.

Expected fire times are worked out from the calendar, not from the evaluator (2024-06-01 and
2025-02-01 are Saturdays, 2024-09-01 and 2025-06-01 Sundays, 2025-01-01 a Wednesday).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from local_airbyte.cron import CronError, QuartzCron, check_frequency


def _next(expression: str, after: str, zone: str = "UTC") -> datetime | None:
    moment = datetime.fromisoformat(after).replace(tzinfo=UTC)
    fire = QuartzCron(expression, zone).next_after(moment)
    return None if fire is None else fire.astimezone(UTC).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # L: last day of the month (leap and common years)
        ("0 0 12 L * ?", "2024-02-10T00:00:00", "2024-02-29T12:00:00"),
        ("0 0 12 L * ?", "2023-02-10T00:00:00", "2023-02-28T12:00:00"),
        ("0 0 12 L * ?", "2024-02-29T12:00:00", "2024-03-31T12:00:00"),  # strictly after
        # L-3: three days before the last day
        ("0 0 12 L-3 * ?", "2024-02-01T00:00:00", "2024-02-26T12:00:00"),
        ("0 0 12 L-3 * ?", "2023-02-01T00:00:00", "2023-02-25T12:00:00"),
        # 15W: the weekday nearest the 15th (Saturday -> Friday, Sunday -> Monday)
        ("0 0 9 15W * ?", "2024-06-01T00:00:00", "2024-06-14T09:00:00"),
        ("0 0 9 15W * ?", "2024-09-01T00:00:00", "2024-09-16T09:00:00"),
        ("0 0 9 15W * ?", "2025-01-01T00:00:00", "2025-01-15T09:00:00"),  # a Wednesday
        # 1W never leaves the month: Saturday the 1st -> Monday the 3rd
        ("0 0 9 1W * ?", "2024-05-31T00:00:00", "2024-06-03T09:00:00"),
        # LW: the last weekday of the month
        ("0 0 18 LW * ?", "2025-08-01T00:00:00", "2025-08-29T18:00:00"),
        ("0 0 18 LW * ?", "2025-11-01T00:00:00", "2025-11-28T18:00:00"),
        ("0 0 18 LW * ?", "2024-03-01T00:00:00", "2024-03-29T18:00:00"),
        # 6L: the last Friday
        ("0 0 8 ? * 6L", "2025-01-01T00:00:00", "2025-01-31T08:00:00"),
        ("0 0 8 ? * FRIL", "2025-02-01T00:00:00", "2025-02-28T08:00:00"),
        ("0 0 8 ? * 6L", "2025-03-01T00:00:00", "2025-03-28T08:00:00"),
        # 6#3: the third Friday; 2#5: a fifth Monday (skips months without one)
        ("0 0 8 ? * 6#3", "2025-01-01T00:00:00", "2025-01-17T08:00:00"),
        ("0 0 8 ? * 6#3", "2025-02-01T00:00:00", "2025-02-21T08:00:00"),
        ("0 0 8 ? * 2#5", "2025-03-01T00:00:00", "2025-03-31T08:00:00"),
        ("0 0 8 ? * 2#5", "2025-04-01T00:00:00", "2025-06-30T08:00:00"),
        # ranges that wrap: hours 22-2, FRI-MON
        ("0 0 22-2 * * ?", "2025-01-01T03:00:00", "2025-01-01T22:00:00"),
        ("0 0 22-2 * * ?", "2025-01-01T23:30:00", "2025-01-02T00:00:00"),
        ("0 0 12 ? * FRI-MON", "2025-01-07T00:00:00", "2025-01-10T12:00:00"),
        ("0 0 12 ? * FRI-MON", "2025-01-11T12:00:00", "2025-01-12T12:00:00"),
        # plain fields, steps, names, a year
        ("0 15/20 * * * ?", "2025-01-01T10:40:00", "2025-01-01T10:55:00"),  # 15, 35, 55
        ("0 30 8 ? * MON-FRI", "2025-01-03T09:00:00", "2025-01-06T08:30:00"),
        ("0 0 0 1 JAN ? 2027", "2025-06-01T00:00:00", "2027-01-01T00:00:00"),
    ],
)
def test_known_fire_times(expression: str, after: str, expected: str) -> None:
    assert _next(expression, after) == datetime.fromisoformat(expected)


def test_time_zone_is_honoured() -> None:
    # 08:30 in New York during daylight saving time is 12:30 UTC.
    assert _next("0 30 8 ? * MON-FRI", "2025-07-01T00:00:00", "America/New_York") == datetime(
        2025, 7, 1, 12, 30
    )


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 12 * * *",  # neither day field is '?': Quartz refuses
        "0 0 12 1 * MON",  # both day fields set
        "0 0 ? * * ?",  # '?' outside the day fields
        "0 0 12 * *",  # five fields
        "0 0 12 L-31 * ?",  # offset from the last day above 30
        "0 0 12 ? * 6#6",  # no sixth Friday
        "0 0 12 ? * 8",  # day of week out of range
        "0 60 12 * * ?",
        "0 0 12 32W * ?",
        "0 0 12 * * ? 1969",
        "every day",
    ],
)
def test_refused_expressions(expression: str) -> None:
    with pytest.raises(CronError):
        QuartzCron(expression)


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(CronError, match="time zone"):
        QuartzCron("0 0 12 * * ?", "Mars/Base")


def test_frequency_check_allows_once_a_minute_not_more() -> None:
    """``CronExpressionHelper.checkDoesNotExecuteMoreThanOncePerMinute``: the next three
    executions at least a minute apart."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    check_frequency(QuartzCron("0 * * * * ?"), now=now)
    check_frequency(QuartzCron("0 0 * * * ?"), 3600, now=now)
    with pytest.raises(CronError, match="at least 1 minute apart"):
        check_frequency(QuartzCron("*/30 * * * * ?"), now=now)
    with pytest.raises(CronError, match="at least 1 minute apart"):
        check_frequency(QuartzCron("0,10 * * * * ?"), now=now)
    with pytest.raises(CronError, match="at least 60 minutes apart"):
        check_frequency(QuartzCron("0 */30 * * * ?"), 3600, now=now)


def _set_cron(server: Any, expression: str, zone: str) -> httpx.Response:
    cid = server.sample_connection_id
    connection = httpx.post(
        f"{server.config_api_url}/connections/get", json={"connectionId": cid}
    ).json()
    connection.update(
        scheduleType="cron",
        scheduleData={"cron": {"cronExpression": expression, "cronTimeZone": zone}},
    )
    return httpx.post(f"{server.config_api_url}/connections/update", json=connection)


@pytest.mark.parametrize(
    ("version", "expression", "zone", "problem"),
    [
        ("2.0", "*/30 * * * * ?", "UTC", "invalid-expression"),  # more than once a minute
        ("2.0", "0 0 12 * * *", "UTC", "invalid-expression"),
        ("2.0", "0 0 12 * * ?", "Etc/UTC", "invalid-timezone"),
        ("2.0", "0 0 12 * * ?", "Mars/Base", "invalid-timezone"),
        ("1.6", "*/30 * * * * ?", "UTC", None),  # no frequency check before v1.8.0
        ("1.6", "0 0 12 * * *", "UTC", "invalid-expression"),
        ("2.0", "0 * * * * ?", "UTC", None),  # once a minute: allowed on OSS
        ("2.0", "0 0 12 L * ?", "Europe/Paris", None),
    ],
)
def test_schedule_validation_over_http(
    local_airbyte_factory, version, expression, zone, problem
) -> None:  # type: ignore[no-untyped-def]
    """``ConnectionScheduleHelper``: ``CronValidation*Problem`` bodies (400) on the Config API."""
    server = local_airbyte_factory(seed="sample", airbyte_version=version)
    response = _set_cron(server, expression, zone)
    if problem is None:
        assert response.status_code == 200, response.text
        assert response.json()["scheduleData"]["cron"] == {
            "cronExpression": expression,
            "cronTimeZone": zone,
        }
        return
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == f"error:cron-validation/{problem}" and body["status"] == 400


def test_missing_cron_component_is_a_problem(local_airbyte) -> None:  # type: ignore[no-untyped-def]
    response = _set_cron(local_airbyte, "0 0 12 * * ?", None)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.json()["type"] == "error:cron-validation/missing-component"
