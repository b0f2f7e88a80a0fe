"""What is safe to retry, and how long to wait.

``stamina`` does the backoff (exponential, jittered, with an attempt count and an overall
deadline); this module only decides *whether* a failure may be retried:

- a request that never reached Airbyte (connect error, no free pooled connection): always;
- timeouts and dropped connections after sending: only for idempotent calls;
- 408 and 429 (Airbyte refused the request, nothing happened): always, 429 waiting the
  server's ``Retry-After`` (capped);
- 5xx except 501: only for idempotent calls (a 503 after ``POST /jobs`` may have started one);
- anything else, in particular 400/401/403/404/409/422: never.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from dagster_airbyte_assets.errors import AirbyteHTTPError, AirbyteRequestError

__all__ = ["RetryPolicy", "make_retry_hook", "parse_retry_after", "retryable_status"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retry budget for one logical call: ``attempts`` in total within ``timeout`` seconds."""

    attempts: int = 5
    timeout: float = 60.0
    wait_initial: float = 0.2
    wait_max: float = 10.0
    wait_jitter: float = 1.0
    retry_after_max: float = 60.0
    """Longest ``Retry-After`` honoured; a server asking for more gets this."""

    @classmethod
    def none(cls) -> RetryPolicy:
        return cls(attempts=1)


def retryable_status(status_code: int, *, idempotent: bool) -> bool:
    if status_code in (408, 429):
        return True
    return idempotent and 500 <= status_code <= 599 and status_code != 501


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def make_retry_hook(
    policy: RetryPolicy, *, idempotent: bool
) -> Callable[[Exception], bool | float]:
    """A stamina ``on=`` hook: False (raise), True (default backoff) or a float (wait that)."""

    def hook(exc: Exception) -> bool | float:
        if isinstance(exc, AirbyteRequestError):
            return idempotent or not exc.request_sent
        if isinstance(exc, AirbyteHTTPError) and exc.status_code is not None:
            if not retryable_status(exc.status_code, idempotent=idempotent):
                return False
            if exc.retry_after is not None:
                return min(exc.retry_after, policy.retry_after_max)
            return True
        return False

    return hook
