"""Numbers as people read them in log lines and metadata: sizes and durations."""

from __future__ import annotations

__all__ = ["human_bytes", "human_duration"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(size: int | float) -> str:
    """``1536`` → ``"1.5 KiB"`` (binary units, as Airbyte's UI counts them)."""
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """``1.1`` → ``"1.1s"``, ``65`` → ``"1m05s"``, ``3700`` → ``"1h01m40s"``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
