"""Quartz cron evaluation for connection schedules, as Airbyte's scheduler does it.

Airbyte validates ``scheduleData.cron.cronExpression`` with Quartz's ``CronExpression`` and
``cron-utils`` (``airbyte-commons-server/.../helpers/ConnectionScheduleHelper.kt``,
``airbyte-config/.../helpers/CronExpressionHelper.kt``) and fires it with Quartz
(``airbyte-workers/.../ConfigFetchActivityImpl.kt``). So this evaluator follows Quartz:
``sec min hour day-of-month month day-of-week [year]``; ``*``, ``?``, lists, ranges, ``a/b``
increments, month and day names; day of week 1-7 = SUN-SAT; and the specials Quartz has:
``L`` (last day of the month, ``L-3`` three days before it, ``6L`` the last Friday), ``W``
(``15W`` the weekday nearest the 15th, ``LW`` the last weekday) and ``#`` (``6#3`` the third
Friday). As in Quartz, exactly one of day-of-month and day-of-week must be ``?``.

The integration converts these expressions to Dagster crons with its own code; this module is
the server's own so that the two can disagree, and a test can see it.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CronError", "QuartzCron", "check_frequency"]

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_SEARCH_YEARS = 5

DayRule = Callable[[date], bool]


class CronError(ValueError):
    """Quartz would refuse this expression (``ParseException``)."""


def _number(token: str, names: list[str] | None, low: int, high: int) -> int:
    upper = token.upper()
    if names is not None and upper in names:
        return names.index(upper) + low
    if not token.isdigit():
        raise CronError(f"illegal characters for this position: '{token}'")
    value = int(token)
    if not low <= value <= high:
        raise CronError(f"value {value} out of range {low}-{high}")
    return value


def _values(field: str, low: int, high: int, names: list[str] | None = None) -> frozenset[int]:
    """The set a plain Quartz field (no L/W/#) allows; ``*`` and ``?`` allow everything."""
    allowed: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"bad increment in '{item}'")
            step = int(step_text)
        if base in ("*", "?", ""):
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _number(a, names, low, high), _number(b, names, low, high)
        else:
            first = _number(base, names, low, high)
            # Quartz reads "5/15" as "from 5, every 15"; a bare "5" is just 5.
            last = high if step_text else first
        if first <= last:
            allowed.update(range(first, last + 1, step))
        else:
            # Quartz allows ranges that wrap around ("FRI-MON", "22-2").
            span = range(first, last + (high - low + 1) + 1, step)
            allowed.update(low + (v - low) % (high - low + 1) for v in span)
    return frozenset(allowed)


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _quartz_weekday(day: date) -> int:
    return day.isoweekday() % 7 + 1  # SUN=1 .. SAT=7


def _nearest_weekday(year: int, month: int, target: int) -> int:
    """Quartz's ``W``: the weekday nearest ``target``, never leaving the month."""
    last = calendar.monthrange(year, month)[1]
    target = min(target, last)
    weekday = date(year, month, target).weekday()  # MON=0 .. SUN=6
    if weekday == 5:  # Saturday: Friday before, or Monday after when the 1st is a Saturday
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday: Monday after, or Friday before when it is the month's last day
        return target + 1 if target < last else target - 2
    return target


def _day_of_month_rule(field: str) -> DayRule | None:
    upper = field.upper()
    if upper == "?":
        return None
    if upper == "LW":
        return lambda d: d.day == _nearest_weekday(d.year, d.month, _last_day(d))
    if upper.startswith("L"):
        offset = 0
        if upper != "L":
            if not upper.startswith("L-") or not upper[2:].isdigit():
                raise CronError(f"bad 'L' expression '{field}'")
            offset = int(upper[2:])
            if offset > 30:
                raise CronError("offset from last day must be <= 30")
        return lambda d: d.day == _last_day(d) - offset
    if upper.endswith("W"):
        target = _number(upper[:-1], None, 1, 31)
        return lambda d: d.day == _nearest_weekday(d.year, d.month, target)
    days = _values(field, 1, 31)
    return lambda d: d.day in days


def _day_of_week_rule(field: str) -> DayRule | None:
    upper = field.upper()
    if upper == "?":
        return None
    if "#" in upper:
        weekday_text, _, nth_text = upper.partition("#")
        weekday = _number(weekday_text, _WEEKDAYS, 1, 7)
        if not nth_text.isdigit() or not 1 <= int(nth_text) <= 5:
            raise CronError("a numeric value between 1 and 5 must follow the '#' option")
        nth = int(nth_text)
        return lambda d: _quartz_weekday(d) == weekday and (d.day - 1) // 7 + 1 == nth
    if upper == "L":
        return lambda d: _quartz_weekday(d) == 7  # a lone L in day-of-week means Saturday
    if upper.endswith("L"):
        weekday = _number(upper[:-1], _WEEKDAYS, 1, 7)
        return lambda d: _quartz_weekday(d) == weekday and d.day + 7 > _last_day(d)
    weekdays = _values(field, 1, 7, _WEEKDAYS)
    return lambda d: _quartz_weekday(d) in weekdays


class QuartzCron:
    """A parsed expression in a time zone; :meth:`next_after` gives the next fire time."""

    def __init__(self, expression: str, time_zone: str = "UTC") -> None:
        fields = expression.split()
        if len(fields) not in (6, 7):
            raise CronError("a Quartz expression has 6 or 7 fields")
        try:
            self.tz = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CronError(f"unknown time zone {time_zone!r}") from exc
        second, minute, hour, day_of_month, month, day_of_week = fields[:6]
        if (day_of_month == "?") == (day_of_week == "?"):
            raise CronError(
                "support for specifying both a day-of-week and a day-of-month parameter is not "
                "implemented: one of them must be '?'"
            )
        if "?" in (second, minute, hour, month):
            raise CronError("'?' can only be specified for day-of-month or day-of-week")
        self.seconds = sorted(_values(second, 0, 59))
        self.minutes = sorted(_values(minute, 0, 59))
        self.hours = sorted(_values(hour, 0, 23))
        self.months = _values(month, 1, 12, _MONTHS)
        self.years = _values(fields[6], 1970, 2199) if len(fields) == 7 else None
        rule = _day_of_month_rule(day_of_month) or _day_of_week_rule(day_of_week)
        assert rule is not None
        self._day_rule: DayRule = rule
        self._times_of_day = [
            time(h, m, s) for h in self.hours for m in self.minutes for s in self.seconds
        ]

    def _fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        if self.years is not None and day.year not in self.years:
            return False
        return self._day_rule(day)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment`` (tz-aware), within five years."""
        local = moment.astimezone(self.tz)
        day = local.date()
        for _ in range(366 * _SEARCH_YEARS):
            if self._fires_on(day):
                for at in self._times_of_day:
                    candidate = datetime.combine(day, at, tzinfo=self.tz)
                    if candidate > local:
                        return candidate
            day += timedelta(days=1)
        return None


def check_frequency(
    cron: QuartzCron, minimum_seconds: int = 60, now: datetime | None = None
) -> None:
    """Refuse an expression whose next executions come closer than ``minimum_seconds``.

    ``CronExpressionHelper.checkDoesNotExecuteMoreThanOncePerInterval``
    (``airbyte-config/config-models/.../helpers/CronExpressionHelper.kt``): the next three
    executions from now, each gap at least the minimum; ``validateCronExpression`` applies one
    minute to every expression ("Cron executions must be at least 1 minute apart"). Sub-hour
    floors beyond that depend on flags that OSS leaves open (``SubOneHourSyncSchedules``,
    default true, ``FlagDefinitions.kt@main:177``).
    """
    moment = now or datetime.now(cron.tz)
    executions: list[datetime] = []
    for _ in range(3):
        fire = cron.next_after(moment)
        if fire is None:
            break
        executions.append(fire)
        moment = fire
    for earlier, later in itertools.pairwise(executions):
        if (later - earlier).total_seconds() < minimum_seconds:
            description = (
                "1 minute" if minimum_seconds == 60 else f"{minimum_seconds // 60} minutes"
            )
            raise CronError(f"Cron executions must be at least {description} apart")
