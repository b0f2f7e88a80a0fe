"""A minimal Quartz cron evaluator for connection schedules (no extra dependency).

Fields are parsed by ``dagster_airbyte_assets._quartz``, the parser the integration's schedule
conversion uses, so the server and the integration read an expression the same way.

Airbyte's ``scheduleData.cron.cronExpression`` is Quartz syntax: ``sec min hour dom month dow
[year]``, with ``*``, ``?``, lists, ranges, ``/`` steps and month/day names; day of week is
1-7 = SUN-SAT. ``L``, ``W`` and ``#`` are not supported (rejected as invalid input).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dagster_airbyte_assets._quartz import DAY_NAMES, MONTH_NAMES, parse_quartz_field

__all__ = ["CronError", "QuartzCron"]


class CronError(ValueError):
    """The expression is not a supported Quartz cron expression."""


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The allowed values of one field; ``None`` means "any" (``*`` or ``?``)."""
    try:
        return parse_quartz_field(text, low, high, "a field", names)
    except ValueError as exc:
        raise CronError(str(exc)) from exc


class QuartzCron:
    """A parsed expression in a time zone; ``next_after`` gives the next fire time."""

    def __init__(self, expression: str, time_zone: str = "UTC") -> None:
        parts = expression.split()
        if len(parts) not in (6, 7):
            raise CronError("a Quartz cron expression has 6 or 7 fields")
        try:
            self.tz = ZoneInfo(time_zone)
        except Exception as exc:
            raise CronError(f"unknown time zone {time_zone!r}") from exc
        self.seconds = sorted(_field(parts[0], 0, 59) or range(60))
        self.minutes = sorted(_field(parts[1], 0, 59) or range(60))
        self.hours = sorted(_field(parts[2], 0, 23) or range(24))
        self.days = _field(parts[3], 1, 31)
        self.months = _field(parts[4], 1, 12, MONTH_NAMES)
        self.weekdays = _field(parts[5], 1, 7, DAY_NAMES)
        self.years = _field(parts[6], 1970, 2199) if len(parts) == 7 else None

    def _day_matches(self, day: date) -> bool:
        if self.months is not None and day.month not in self.months:
            return False
        if self.years is not None and day.year not in self.years:
            return False
        quartz_dow = (day.isoweekday() % 7) + 1  # SUN=1 .. SAT=7
        if self.days is not None and day.day not in self.days:
            return False
        return self.weekdays is None or quartz_dow in self.weekdays

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment`` (tz-aware), within ~5 years."""
        local = moment.astimezone(self.tz)
        day = local.date()
        for _ in range(366 * 5):
            if self._day_matches(day):
                today = day == local.date()
                for h in self.hours:
                    if today and h < local.hour:
                        continue
                    for m in self.minutes:
                        if today and h == local.hour and m < local.minute:
                            continue
                        for s in self.seconds:
                            candidate = datetime.combine(day, time(h, m, s), tzinfo=self.tz)
                            if candidate > local:
                                return candidate
            day += timedelta(days=1)
        return None
