"""Quartz cron fields (``sec min hour dom month dow [year]``), parsed one field at a time.

Airbyte schedules use Quartz syntax; the integration converts it to Dagster's 5-field cron
(``schedules.py``). The local Airbyte evaluates Quartz with its own code, so a test comparing
fire times checks this parser against an independent reading. Day of week is 1-7 = SUN-SAT. ``L``,
``W``, ``#`` and ``C`` are refused with the reason. No third-party import.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["DAY_NAMES", "MONTH_NAMES", "parse_quartz_field", "special_token_reason"]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MONTH_NAMES = {m: i + 1 for i, m in enumerate(_MONTHS)}
DAY_NAMES = {d: i + 1 for i, d in enumerate(_DAYS)}


def special_token_reason(token: str) -> str | None:
    """Why a Quartz token (``L``, ``15W``, ``6#3``...) has no cron equivalent, or None."""
    if "#" in token:
        return f"'{token}' (the n-th weekday of the month)"
    if token.upper().endswith("W") or token.upper() == "LW":
        return f"'{token}' (the nearest weekday)"
    if "L" in token.upper():
        return f"'{token}' (the last day or weekday of the month)"
    if token.upper().endswith("C"):
        return f"'{token}' (calendar-based day)"
    return None


def _value(token: str, names: Mapping[str, int] | None, what: str) -> int:
    if names and token.upper() in names:
        return names[token.upper()]
    if token.isdigit():
        return int(token)
    reason = special_token_reason(token)
    if reason:
        raise ValueError(f"{what} uses {reason}, which Dagster cron cannot express")
    raise ValueError(f"{what} has an unknown token '{token}'")


def parse_quartz_field(
    text: str, low: int, high: int, what: str, names: Mapping[str, int] | None = None
) -> set[int] | None:
    """The values a Quartz field allows; ``None`` for any (``*`` or ``?``)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{what} has a bad step in '{text}'")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names, what), _value(last, names, what)
        else:
            start = _value(part, names, what)
            # Quartz "5/15" means "from 5, every 15, to the end of the range".
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ValueError(f"{what} value out of range {low}-{high} in '{text}'")
        if start > end:
            raise ValueError(f"{what} has a wrapping range in '{text}', which is not supported")
        values.update(range(start, end + 1, step))
    return values
