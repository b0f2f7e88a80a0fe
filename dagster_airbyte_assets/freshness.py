"""Freshness checks whose expected age comes from each connection's Airbyte schedule.

One ``freshness_check`` per stream asset (Dagster's own check name and metadata keys, so
Dagster's ``build_sensor_for_freshness_checks`` evaluates them and the UI shows them as
freshness), grouped per connection:

- ``basic`` (every N units): the newest update must be at most N units plus ``grace`` old
  (Dagster's ``build_last_update_freshness_checks``). Months count as 31 days, the longest.
- ``cron`` (Quartz, in its time zone): the sync Airbyte starts at a tick must have landed
  ``grace`` after it. At any moment the check looks at the newest tick that is at least
  ``grace`` old and expects an update since that tick.
- ``manual``: no check, unless ``max_age_overrides`` gives one (a plain maximum age).

An override (connection id or name -> ``timedelta``) replaces the schedule's age for any
connection. Schedules handed over to Dagster (``schedules.py``) count as the schedule: the
connection is still synced on it, by Dagster. A Quartz expression with no Dagster cron
(``L``, ``W``, ``#``, seconds) gets no check, with a warning naming the override to give.

Every materialization counts, whoever ran the sync: the sync sensor reports syncs that
Airbyte's scheduler (or anyone else) ran as materializations, so Airbyte can keep scheduling and
Dagster still knows when a table is late.
"""

# No `from __future__ import annotations`: Dagster reads the check's `context` hint at
# definition time and does not resolve string annotations.
import contextlib
import datetime
import logging
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_factories.utils import (
    DEADLINE_CRON_PARAM_KEY,
    FRESH_UNTIL_METADATA_KEY,
    FRESHNESS_PARAMS_METADATA_KEY,
    LAST_UPDATED_TIMESTAMP_METADATA_KEY,
    LATEST_CRON_TICK_METADATA_KEY,
    LOWER_BOUND_DELTA_PARAM_KEY,
    LOWER_BOUND_TIMESTAMP_METADATA_KEY,
    TIMEZONE_PARAM_KEY,
    freshness_multi_asset_check,
    retrieve_last_update_record,
    retrieve_timestamp_from_record,
)
from dagster._time import get_current_timestamp, get_timezone
from dagster._utils.schedules import get_latest_completed_cron_tick, get_next_cron_tick

from dagster_airbyte_assets._state import (
    AirbyteWorkspaceSnapshot,
    RefreshPolicy,
    load_handed_over,
    load_workspace_snapshot,
)
from dagster_airbyte_assets.client import AirbyteSchedule
from dagster_airbyte_assets.errors import AirbyteConfigurationError, AirbyteScheduleError
from dagster_airbyte_assets.schedules import airbyte_schedule_to_cron
from dagster_airbyte_assets.translator import specs_by_connection

if TYPE_CHECKING:
    from dagster_airbyte_assets.resource import AirbyteWorkspace

__all__ = [
    "DEFAULT_FRESHNESS_GRACE",
    "build_airbyte_freshness_checks",
    "build_airbyte_freshness_sensor",
    "freshness_checks_from_snapshot",
    "schedule_max_age",
]

logger = logging.getLogger("dagster_airbyte_assets")


@contextlib.contextmanager
def _superseded_quietly() -> Iterator[None]:
    """Dagster calls its freshness-check factories "superseded" by ``FreshnessPolicy``, which
    cannot say "updated since the previous tick of this schedule, plus a grace" and needs the
    freshness daemon; the factories are still supported, so the notice would only alarm."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*superseded.*")
        yield


DEFAULT_FRESHNESS_GRACE = datetime.timedelta(minutes=30)
GRACE_PARAM_KEY = "grace_seconds"

_UNIT_SECONDS = {
    "minutes": 60,
    "hours": 3600,
    "days": 86400,
    "weeks": 7 * 86400,
    # The longest month: a sync every month is never called late in a 31-day month.
    "months": 31 * 86400,
}


def schedule_max_age(schedule: AirbyteSchedule) -> datetime.timedelta | None:
    """How long a ``basic`` schedule lets pass between syncs; ``None`` for other types."""
    if schedule.schedule_type != "basic":
        return None
    unit = (schedule.basic_time_unit or "").lower()
    if not schedule.basic_units or unit not in _UNIT_SECONDS:
        raise AirbyteScheduleError(
            f"The basic schedule every {schedule.basic_units} {schedule.basic_time_unit!r} has "
            f"no known length (units: {', '.join(_UNIT_SECONDS)})."
        )
    return datetime.timedelta(seconds=schedule.basic_units * _UNIT_SECONDS[unit])


def _cron_freshness_check(
    keys: Sequence[dg.AssetKey],
    cron: str,
    timezone: str,
    grace: datetime.timedelta,
    severity: dg.AssetCheckSeverity,
) -> dg.AssetChecksDefinition:
    """Fresh when updated since the newest tick that is at least ``grace`` old.

    Dagster's own cron check (``deadline_cron``) expects an update within a window *before* a
    deadline tick; a sync starts *at* Airbyte's tick, so the deadline here is tick + grace.
    """
    params: dict[str, Any] = {
        TIMEZONE_PARAM_KEY: timezone,
        DEADLINE_CRON_PARAM_KEY: cron,
        LOWER_BOUND_DELTA_PARAM_KEY: grace.total_seconds(),
        GRACE_PARAM_KEY: grace.total_seconds(),
    }

    def _check(context: dg.AssetCheckExecutionContext) -> Iterable[dg.AssetCheckResult]:
        now = datetime.datetime.fromtimestamp(get_current_timestamp(), tz=get_timezone(timezone))
        tick = get_latest_completed_cron_tick(cron, now - grace, timezone)
        if tick is None:  # pragma: no cover - a valid cron always has a previous tick
            raise AirbyteScheduleError(f"The cron {cron!r} ({timezone}) has no previous tick.")
        fresh_until = get_next_cron_tick(cron, now - grace, timezone) + grace
        for check_key in context.selected_asset_check_keys:
            record = retrieve_last_update_record(
                instance=context.instance, asset_key=check_key.asset_key, partition_key=None
            )
            updated = retrieve_timestamp_from_record(record) if record else None
            passed = updated is not None and updated >= tick.timestamp()
            metadata: dict[str, dg.MetadataValue] = {
                FRESHNESS_PARAMS_METADATA_KEY: dg.JsonMetadataValue(params),
                LOWER_BOUND_TIMESTAMP_METADATA_KEY: dg.TimestampMetadataValue(tick.timestamp()),
                LATEST_CRON_TICK_METADATA_KEY: dg.TimestampMetadataValue(tick.timestamp()),
            }
            if passed:
                metadata[FRESH_UNTIL_METADATA_KEY] = dg.TimestampMetadataValue(
                    fresh_until.timestamp()
                )
            if updated is not None:
                metadata[LAST_UPDATED_TIMESTAMP_METADATA_KEY] = dg.TimestampMetadataValue(updated)
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key,
                passed=passed,
                severity=severity,
                metadata=metadata,
                description=(
                    f"Airbyte's schedule ticked at {tick.isoformat()} ({cron}, {timezone}); "
                    + (
                        "the table was updated since."
                        if passed
                        else f"no update since, {grace} later."
                    )
                ),
            )

    # Dagster's own decorator for its freshness checks (untyped): the check name, spec metadata
    # and subsetting its freshness sensor expects.
    decorate = freshness_multi_asset_check(
        params_metadata=dg.JsonMetadataValue(params), asset_keys=list(keys), blocking=False
    )
    return cast(dg.AssetChecksDefinition, decorate(_check))


def _check_override_names(
    overrides: Mapping[str, datetime.timedelta], snapshot: AirbyteWorkspaceSnapshot
) -> None:
    known = {c.connection_id for c in snapshot.connections} | {c.name for c in snapshot.connections}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise AirbyteConfigurationError(
            f"max_age_overrides names unknown connection(s) {unknown} in workspace "
            f"{snapshot.workspace_id}; use a connection's name or id."
        )
    for name, age in overrides.items():
        if not isinstance(age, datetime.timedelta) or age <= datetime.timedelta(0):
            raise AirbyteConfigurationError(
                f"max_age_overrides[{name!r}] must be a positive timedelta, not {age!r}."
            )


def freshness_checks_from_snapshot(
    snapshot: AirbyteWorkspaceSnapshot,
    *,
    handed_over: Mapping[str, AirbyteSchedule],
    assets: Sequence[dg.AssetsDefinition | dg.AssetSpec],
    grace: datetime.timedelta = DEFAULT_FRESHNESS_GRACE,
    max_age_overrides: Mapping[str, datetime.timedelta] | None = None,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN,
) -> list[dg.AssetChecksDefinition]:
    """``build_airbyte_freshness_checks`` from a snapshot already at hand (the component)."""
    if grace < datetime.timedelta(0):
        raise AirbyteConfigurationError(f"grace must not be negative, not {grace}.")
    overrides = dict(max_age_overrides or {})
    _check_override_names(overrides, snapshot)
    keys = {cid: [s.key for s in specs] for cid, specs in specs_by_connection(assets).items()}
    checks: list[dg.AssetChecksDefinition] = []
    for connection in snapshot.connections:
        if connection.connection_id not in keys:
            continue
        connection_keys = keys[connection.connection_id]
        override = overrides.get(connection.connection_id) or overrides.get(connection.name)
        if override is not None:
            with _superseded_quietly():
                checks.extend(
                    dg.build_last_update_freshness_checks(
                        assets=connection_keys, lower_bound_delta=override, severity=severity
                    )
                )
            continue
        schedule = connection.schedule
        if schedule.schedule_type == "manual" and connection.connection_id in handed_over:
            schedule = handed_over[connection.connection_id]
        if schedule.schedule_type == "manual":
            continue
        try:
            period = schedule_max_age(schedule)
            if period is not None:
                with _superseded_quietly():
                    checks.extend(
                        dg.build_last_update_freshness_checks(
                            assets=connection_keys,
                            lower_bound_delta=period + grace,
                            severity=severity,
                        )
                    )
                continue
            cron = airbyte_schedule_to_cron(schedule, connection_name=connection.name)
        except AirbyteScheduleError as exc:
            logger.warning(
                "%s No freshness check for it: give it max_age_overrides={%r: timedelta(...)}.",
                exc,
                connection.name,
            )
            continue
        if cron is not None:
            checks.append(
                _cron_freshness_check(connection_keys, cron.cron, cron.timezone, grace, severity)
            )
    return checks


def build_airbyte_freshness_checks(
    *,
    workspace: "AirbyteWorkspace",
    assets: Sequence[dg.AssetsDefinition | dg.AssetSpec],
    grace: datetime.timedelta = DEFAULT_FRESHNESS_GRACE,
    max_age_overrides: Mapping[str, datetime.timedelta] | None = None,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN,
    state_path: str | os.PathLike[str] | None = None,
    refresh: RefreshPolicy = "if_missing",
) -> list[dg.AssetChecksDefinition]:
    """A freshness check per stream of ``assets``, from its connection's Airbyte schedule.

    See the module docstring for the rules. Evaluate them with
    :func:`build_airbyte_freshness_sensor` (Dagster's freshness sensor)::

        assets = build_airbyte_assets_definitions(workspace=airbyte)
        freshness = build_airbyte_freshness_checks(workspace=airbyte, assets=assets)
        defs = dg.Definitions(
            assets=assets,
            asset_checks=freshness,
            sensors=[
                build_airbyte_sync_sensor(workspace=airbyte, assets=assets),
                build_airbyte_freshness_sensor(freshness),
            ],
            resources={"airbyte": airbyte},
        )
    """
    snapshot = load_workspace_snapshot(workspace, state_path=state_path, refresh=refresh)
    return freshness_checks_from_snapshot(
        snapshot,
        handed_over=load_handed_over(workspace),
        assets=assets,
        grace=grace,
        max_age_overrides=max_age_overrides,
        severity=severity,
    )


def build_airbyte_freshness_sensor(
    checks: Sequence[dg.AssetChecksDefinition],
    *,
    name: str = "airbyte_freshness_sensor",
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """Dagster's freshness sensor over ``checks``: runs a check only when it may have turned late."""
    with _superseded_quietly():
        return dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name=name,
            minimum_interval_seconds=minimum_interval_seconds,
            default_status=default_status,
        )
