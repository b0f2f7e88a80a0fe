"""Dagster schedules that mirror (or take over) Airbyte connection schedules.

One ``ScheduleDefinition`` per scheduled connection, targeting that connection's stream assets:

- ``basic`` (every N minutes / hours / days / weeks / months) becomes a wall-clock aligned cron,
  when one exists that fires exactly every N units (every 15 minutes, every 6 hours, every day,
  every 3 months...). Airbyte counts N units from the previous sync; Dagster fires on clock
  boundaries, so the phase differs but the period is the same. "Every 7 minutes" has no exact
  cron and is refused.
- ``cron`` is Quartz (``sec min hour dom month dow [year]``, day of week 1-7 = SUN-SAT) in the
  connection's time zone. It becomes a 5-field cron (day of week 0-6) with
  ``execution_timezone`` set to that zone. Seconds other than 0, a year field, and Quartz's
  ``L``/``W``/``#`` have no Dagster equivalent and are refused with the reason.
- ``manual`` gets no schedule, unless a cron override is given for it.

Both Airbyte and Dagster starting the same sync must never happen, so a mirrored schedule of a
connection Airbyte still schedules starts STOPPED. Handing a schedule over to Dagster is an
explicit action, never a side effect of loading definitions (loading makes no Airbyte call at
all): the job built by ``build_airbyte_take_over_job`` (or ``dagster-airbyte-assets
take-over-schedules -f <definitions file>``, which runs it) sets each scheduled connection to
manual in Airbyte and records the schedule it had in the Dagster instance's
``defs_state_storage``. From the next load of the code location on, that connection's Dagster
schedule runs the recorded schedule and defaults to RUNNING. If someone schedules the connection
in Airbyte again, Airbyte owns it again and the Dagster schedule falls back to STOPPED.
"""

# No `from __future__ import annotations`: Dagster reads the take-over op's `context` hint
# at definition time and does not resolve string annotations.
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import dagster as dg

from dagster_airbyte_assets._names import definition_name, unique_names
from dagster_airbyte_assets._quartz import DAY_NAMES, MONTH_NAMES, parse_quartz_field
from dagster_airbyte_assets._state import (
    AirbyteWorkspaceSnapshot,
    RefreshPolicy,
    latest_handed_over,
    load_handed_over,
    load_workspace_snapshot,
    save_handed_over,
)
from dagster_airbyte_assets.assets import ConnectionSelector
from dagster_airbyte_assets.client import AirbyteConnection, AirbyteSchedule
from dagster_airbyte_assets.errors import AirbyteConfigurationError, AirbyteScheduleError
from dagster_airbyte_assets.translator import MetadataKeys, specs_by_connection

if TYPE_CHECKING:
    from dagster._core.storage.defs_state.base import DefsStateStorage

    from dagster_airbyte_assets.resource import AirbyteWorkspace

TAKE_OVER_JOB_TAG = "dagster_airbyte_assets/take_over_schedules"

__all__ = [
    "TAKE_OVER_JOB_TAG",
    "DagsterCron",
    "airbyte_schedule_to_cron",
    "build_airbyte_schedules",
    "build_airbyte_take_over_job",
    "hand_over_schedules_to_dagster",
    "quartz_to_cron",
    "take_over_airbyte_schedules",
]

logger = logging.getLogger("dagster_airbyte_assets")

OnUnconvertible = Literal["raise", "skip"]


class DagsterCron:
    """A 5-field cron string and the time zone it runs in."""

    __slots__ = ("cron", "timezone")

    def __init__(self, cron: str, timezone: str = "UTC") -> None:
        self.cron = cron
        self.timezone = timezone

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DagsterCron) and (self.cron, self.timezone) == (
            other.cron,
            other.timezone,
        )

    def __hash__(self) -> int:
        return hash((self.cron, self.timezone))

    def __repr__(self) -> str:
        return f"DagsterCron({self.cron!r}, {self.timezone!r})"


# -- Quartz -> cron ---------------------------------------------------------------------------


def _render(values: set[int] | None, low: int, high: int) -> str:
    """A compact cron field: ``*``, ``*/N``, or a list of values and ranges."""
    if values is None or values == set(range(low, high + 1)):
        return "*"
    ordered = sorted(values)
    for step in range(2, (high - low) // 2 + 1):  # at least three values: "*/6" hides 0,6
        if ordered == list(range(low, high + 1, step)):
            return f"*/{step}"
    runs: list[str] = []
    start = prev = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ",".join(runs)


def quartz_to_cron(expression: str) -> str:
    """Convert a Quartz cron expression to an equivalent 5-field cron string.

    Raises ``ValueError`` naming the part that has no cron equivalent: seconds other than 0,
    a restricted year, ``L`` / ``W`` / ``#`` / ``C``, or both day fields restricted.
    """
    parts = expression.split()
    if len(parts) not in (6, 7):
        raise ValueError(
            f"'{expression}' is not Quartz cron: it needs 6 or 7 fields "
            "(sec min hour day-of-month month day-of-week [year])"
        )
    seconds = parse_quartz_field(parts[0], 0, 59, "the seconds field")
    if seconds != {0}:
        raise ValueError(
            f"the seconds field is '{parts[0]}'; Dagster schedules fire on whole minutes, "
            "so only '0' converts"
        )
    if len(parts) == 7 and parts[6] not in ("*", "?"):
        raise ValueError(f"the year field is '{parts[6]}'; Dagster cron has no year field")
    minutes = parse_quartz_field(parts[1], 0, 59, "the minutes field")
    hours = parse_quartz_field(parts[2], 0, 23, "the hours field")
    days = parse_quartz_field(parts[3], 1, 31, "the day-of-month field")
    months = parse_quartz_field(parts[4], 1, 12, "the month field", MONTH_NAMES)
    weekdays = parse_quartz_field(parts[5], 1, 7, "the day-of-week field", DAY_NAMES)
    if days is not None and weekdays is not None:
        # Quartz forbids this ('?' is required in one of them); cron would OR the two.
        raise ValueError(
            "both day-of-month and day-of-week are restricted; Quartz needs '?' in one of them"
        )
    cron_weekdays = None if weekdays is None else {d - 1 for d in weekdays}  # SUN: 1 -> 0
    return " ".join(
        [
            _render(minutes, 0, 59),
            _render(hours, 0, 23),
            _render(days, 1, 31),
            _render(months, 1, 12),
            _render(cron_weekdays, 0, 6),
        ]
    )


# -- basic -> cron ----------------------------------------------------------------------------


def _basic_to_cron(units: int, unit: str) -> str:
    """An exact wall-clock cron for "every ``units`` ``unit``", or ``ValueError``."""
    unit = unit.lower()
    if units < 1:
        raise ValueError(f"'every {units} {unit}' is not a schedule")
    if unit == "minutes":
        if units % 60 == 0:
            return _basic_to_cron(units // 60, "hours")
        if 60 % units == 0:
            return "* * * * *" if units == 1 else f"*/{units} * * * *"
    elif unit == "hours":
        if units % 24 == 0:
            return _basic_to_cron(units // 24, "days")
        if 24 % units == 0:
            return "0 * * * *" if units == 1 else f"0 */{units} * * *"
    elif unit == "days":
        if units == 1:
            return "0 0 * * *"
        if units == 7:
            return "0 0 * * 0"
    elif unit == "weeks":
        if units == 1:
            return "0 0 * * 0"
    elif unit == "months":
        if units % 12 == 0 and units == 12:
            return "0 0 1 1 *"
        if 12 % units == 0:
            return "0 0 1 * *" if units == 1 else f"0 0 1 */{units} *"
    else:
        raise ValueError(f"unknown time unit '{unit}'")
    raise ValueError(
        f"'every {units} {unit}' has no cron that fires exactly every {units} {unit} "
        "(cron steps restart every hour/day/month)"
    )


def airbyte_schedule_to_cron(
    schedule: AirbyteSchedule, *, connection_name: str | None = None
) -> DagsterCron | None:
    """The Dagster cron and time zone for an Airbyte schedule; ``None`` for ``manual``.

    Raises :class:`AirbyteScheduleError` (naming the connection and the unconvertible part)
    when there is no exact equivalent.
    """
    who = f"connection {connection_name!r}" if connection_name else "the connection"
    if schedule.schedule_type == "manual":
        return None
    if schedule.schedule_type == "basic":
        if not schedule.basic_units or not schedule.basic_time_unit:
            raise AirbyteScheduleError(f"The basic schedule of {who} has no units or time unit.")
        try:
            return DagsterCron(_basic_to_cron(schedule.basic_units, schedule.basic_time_unit))
        except ValueError as exc:
            raise AirbyteScheduleError(
                f"Cannot convert the Airbyte schedule of {who}: {exc}. Give it a cron override "
                "(cron_overrides={...})."
            ) from None
    expression = (schedule.cron_expression or "").strip()
    timezone = schedule.cron_time_zone or "UTC"
    try:
        ZoneInfo(timezone)
    except Exception:
        raise AirbyteScheduleError(
            f"The cron schedule of {who} uses unknown time zone {timezone!r}."
        ) from None
    try:
        return DagsterCron(quartz_to_cron(expression), timezone)
    except ValueError as exc:
        raise AirbyteScheduleError(
            f"Cannot convert the Quartz cron '{expression}' ({timezone}) of {who}: {exc}. Give "
            "it a cron override (cron_overrides={...}) or change it in Airbyte."
        ) from None


# -- handing scheduling over to Dagster ----------------------------------------------------------


def hand_over_schedules_to_dagster(
    workspace: "AirbyteWorkspace", connections: Iterable[AirbyteConnection]
) -> dict[str, AirbyteSchedule]:
    """Set every given connection that Airbyte schedules to ``manual``, through the API.

    Returns the schedules they had (connection id -> schedule). The connection's status is left
    alone: an inactive connection stays inactive. Records nothing: ``take_over_airbyte_schedules``
    is the action that also remembers the schedules for Dagster.
    """
    client = workspace.get_client()
    previous: dict[str, AirbyteSchedule] = {}
    for connection in connections:
        if connection.schedule.schedule_type == "manual":
            continue
        client.update_connection(
            connection.connection_id, schedule=AirbyteSchedule(schedule_type="manual")
        )
        logger.info(
            "Airbyte connection %r (%s) set to manual: Dagster schedules it from now on.",
            connection.name,
            connection.connection_id,
        )
        previous[connection.connection_id] = connection.schedule
    return previous


def take_over_airbyte_schedules(
    workspace: "AirbyteWorkspace",
    connection_ids: Iterable[str],
    *,
    storage: "DefsStateStorage",
    connection_selector: ConnectionSelector | None = None,
    cron_overrides: Mapping[str, str] | None = None,
    log: Any = logger,
) -> dict[str, AirbyteSchedule]:
    """Hand the Airbyte schedules of these connections over to Dagster; the explicit action.

    Reads each connection's current schedule from Airbyte, records the schedules in
    ``storage`` (the instance's ``defs_state_storage``) *before* setting the connections to
    manual, so a schedule is never lost, then sets them to manual. A schedule with no exact
    Dagster cron is left with Airbyte (with a warning) unless ``cron_overrides`` names the
    connection. Returns what was handed over now; reload the code location to use it.
    """
    overrides = set(cron_overrides or {})
    client = workspace.get_client()
    candidates: list[AirbyteConnection] = []
    for connection_id in connection_ids:
        connection = client.get_connection(connection_id)
        if connection.schedule.schedule_type == "manual":
            continue
        if connection_selector is not None and not connection_selector(connection):
            continue
        if not overrides & {connection.connection_id, connection.name}:
            try:
                airbyte_schedule_to_cron(connection.schedule, connection_name=connection.name)
            except AirbyteScheduleError as exc:
                log.warning(f"{exc} Airbyte keeps scheduling it.")
                continue
        candidates.append(connection)
    if not candidates:
        log.info("No Airbyte schedule left to hand over to Dagster.")
        return {}
    recorded = latest_handed_over(storage, workspace)
    save_handed_over(
        storage, workspace, {**recorded, **{c.connection_id: c.schedule for c in candidates}}
    )
    taken: dict[str, AirbyteSchedule] = {}
    try:
        for connection in candidates:
            taken.update(hand_over_schedules_to_dagster(workspace, [connection]))
            log.info(
                f"Airbyte connection {connection.name!r} ({connection.connection_id}) is manual "
                "now; Dagster runs its schedule once the code location reloads."
            )
    finally:
        if len(taken) < len(candidates):
            # Keep only what really changed hands, so the record never claims a schedule that
            # Airbyte still runs (it would be ignored anyway while Airbyte schedules it).
            save_handed_over(storage, workspace, {**recorded, **taken})
    return taken


def build_airbyte_take_over_job(
    *,
    workspace: "AirbyteWorkspace",
    assets: Sequence[dg.AssetsDefinition | dg.AssetSpec],
    connection_selector: ConnectionSelector | None = None,
    cron_overrides: Mapping[str, str] | None = None,
    name: str = "airbyte_take_over_schedules",
) -> dg.JobDefinition:
    """A job that hands the Airbyte schedules of ``assets``' connections over to Dagster.

    Launch it from the UI (or ``dagster-airbyte-assets take-over-schedules -f <definitions
    file>``), then reload the code location: the schedules from ``build_airbyte_schedules``
    then run in Dagster and Airbyte no longer schedules those connections. It needs an
    instance with a ``defs_state_storage`` shared by the code server (any deployment's
    instance has one; see docs/deploying.md). Loading it makes no Airbyte call.
    """
    connection_ids = sorted(specs_by_connection(assets))

    @dg.op(name=f"{name}_op", description="Set scheduled Airbyte connections to manual.")
    def take_over(context: dg.OpExecutionContext) -> None:
        storage = context.instance.defs_state_storage
        if storage is None:
            raise AirbyteConfigurationError(
                "Handing schedules over needs a Dagster instance with a defs_state_storage "
                "(set DAGSTER_HOME to your deployment's instance): that is where the handed-over "
                "schedules are recorded for the code server."
            )
        take_over_airbyte_schedules(
            workspace,
            connection_ids,
            storage=storage,
            connection_selector=connection_selector,
            cron_overrides=cron_overrides,
            log=context.log,
        )

    @dg.job(
        name=name,
        tags={TAKE_OVER_JOB_TAG: "true"},
        description="Hands the Airbyte schedules of these connections over to Dagster.",
    )
    def take_over_job() -> None:
        take_over()

    return take_over_job


# -- building the schedules ----------------------------------------------------------------------


def _schedule_names(
    connections: Sequence[AirbyteConnection], keys: Mapping[str, Sequence[dg.AssetKey]]
) -> dict[str, str]:
    """``airbyte_<connection name>_schedule``, the same on every machine (no id suffix).

    Connections sharing a name are numbered (``_2``...) in the order of their smallest asset key.
    """
    bases = unique_names(
        {
            c.connection_id: (
                definition_name(c.name, "connection"),
                min(k.to_user_string() for k in keys[c.connection_id]),
            )
            for c in connections
        }
    )
    return {cid: f"airbyte_{base}_schedule" for cid, base in bases.items()}


def build_airbyte_schedules(
    *,
    workspace: "AirbyteWorkspace",
    assets: Sequence[dg.AssetsDefinition | dg.AssetSpec],
    take_over_scheduling: bool = False,
    cron_overrides: Mapping[str, str] | None = None,
    override_timezone: str = "UTC",
    connection_selector: ConnectionSelector | None = None,
    on_unconvertible: OnUnconvertible = "raise",
    default_status: dg.DefaultScheduleStatus | None = None,
    state_path: str | os.PathLike[str] | None = None,
    refresh: RefreshPolicy = "if_missing",
) -> list[dg.ScheduleDefinition]:
    """One schedule per scheduled connection, targeting the connection's assets in ``assets``.

    ``assets`` are the definitions from ``build_airbyte_assets_definitions`` (their specs carry
    the connection id). ``cron_overrides`` maps a connection id or name to a 5-field cron (in
    ``override_timezone``) used instead of Airbyte's schedule, also for manual connections.
    ``on_unconvertible="skip"`` logs a warning for a schedule with no exact cron instead of
    raising :class:`AirbyteScheduleError`. Schedules handed over to Dagster (see the module
    docstring) run by default; ``take_over_scheduling=True`` says Dagster is meant to own every
    scheduled connection, so each one Airbyte still schedules gets a warning naming the
    take-over action. Loading makes no Airbyte call beyond the snapshot's (none on reload).

    ::

        assets = build_airbyte_assets_definitions(workspace=airbyte)
        defs = dg.Definitions(
            assets=assets,
            schedules=build_airbyte_schedules(
                workspace=airbyte, assets=assets, take_over_scheduling=True
            ),
            jobs=[build_airbyte_take_over_job(workspace=airbyte, assets=assets)],
            resources={"airbyte": airbyte},
        )
    """
    snapshot = load_workspace_snapshot(workspace, state_path=state_path, refresh=refresh)
    return schedules_from_snapshot(
        snapshot,
        handed_over=load_handed_over(workspace),
        assets=assets,
        take_over_scheduling=take_over_scheduling,
        cron_overrides=cron_overrides,
        override_timezone=override_timezone,
        connection_selector=connection_selector,
        on_unconvertible=on_unconvertible,
        default_status=default_status,
    )


def schedules_from_snapshot(
    snapshot: AirbyteWorkspaceSnapshot,
    *,
    handed_over: Mapping[str, AirbyteSchedule],
    assets: Sequence[dg.AssetsDefinition | dg.AssetSpec],
    take_over_scheduling: bool = False,
    cron_overrides: Mapping[str, str] | None = None,
    override_timezone: str = "UTC",
    connection_selector: ConnectionSelector | None = None,
    on_unconvertible: OnUnconvertible = "raise",
    default_status: dg.DefaultScheduleStatus | None = None,
) -> list[dg.ScheduleDefinition]:
    """``build_airbyte_schedules`` from a snapshot and record already at hand (the component)."""
    keys = {cid: [spec.key for spec in specs] for cid, specs in specs_by_connection(assets).items()}
    overrides = dict(cron_overrides or {})
    connections = [
        c
        for c in snapshot.connections
        if c.connection_id in keys and (connection_selector is None or connection_selector(c))
    ]
    _check_overrides(overrides, snapshot, connections)

    schedules: list[dg.ScheduleDefinition] = []
    names = _schedule_names(connections, keys)
    for connection in connections:
        override = overrides.get(connection.connection_id) or overrides.get(connection.name)
        airbyte_schedule = connection.schedule
        # Handed over, and Airbyte has not been given it back since: Dagster runs the schedule
        # Airbyte had. A connection scheduled in Airbyte again belongs to Airbyte.
        taken = (
            connection.connection_id in handed_over and airbyte_schedule.schedule_type == "manual"
        )
        if taken:
            airbyte_schedule = handed_over[connection.connection_id]
        owned_by_dagster = taken or connection.schedule.schedule_type == "manual"
        if override is not None:
            cron: DagsterCron | None = DagsterCron(override, override_timezone)
            origin = "cron override"
        else:
            try:
                cron = airbyte_schedule_to_cron(airbyte_schedule, connection_name=connection.name)
            except AirbyteScheduleError as exc:
                if on_unconvertible == "raise":
                    raise
                logger.warning("%s Skipping its schedule.", exc)
                continue
            origin = f"Airbyte {airbyte_schedule.schedule_type} schedule"
        if cron is None:
            continue
        status = default_status
        if status is None:
            status = (
                dg.DefaultScheduleStatus.RUNNING
                if owned_by_dagster
                else dg.DefaultScheduleStatus.STOPPED
            )
        if not owned_by_dagster:
            (logger.warning if take_over_scheduling else logger.info)(
                "Airbyte still schedules connection %r; its Dagster schedule is %s so the sync "
                "never runs twice. Hand it over with the job from build_airbyte_take_over_job "
                "(or `dagster-airbyte-assets take-over-schedules -f <definitions file>`), then "
                "reload the code location.",
                connection.name,
                status.value,
            )
        schedules.append(
            dg.ScheduleDefinition(
                name=names[connection.connection_id],
                cron_schedule=cron.cron,
                execution_timezone=cron.timezone,
                target=dg.AssetSelection.assets(*keys[connection.connection_id]),
                default_status=status,
                description=(
                    f"Syncs Airbyte connection {connection.name!r} "
                    f"({connection.connection_id}) on its {origin}."
                ),
                tags={MetadataKeys.CONNECTION_ID: connection.connection_id},
            )
        )
    return schedules


def _check_overrides(
    overrides: Mapping[str, str],
    snapshot: AirbyteWorkspaceSnapshot,
    connections: Sequence[AirbyteConnection],
) -> None:
    """Refuse an override naming no connection (a typo would silently keep Airbyte's)."""
    known = {c.connection_id for c in connections} | {c.name for c in connections}
    unknown = sorted(set(overrides) - known)
    if unknown:
        choices = ", ".join(f"{c.name} ({c.connection_id})" for c in connections) or "none"
        raise AirbyteScheduleError(
            f"cron_overrides names unknown connection(s) {unknown} in workspace "
            f"{snapshot.workspace_id}; connections with assets: {choices}."
        )
    from dagster._utils.schedules import is_valid_cron_string

    for name, cron in overrides.items():
        if not is_valid_cron_string(cron):
            raise AirbyteScheduleError(
                f"The cron override {cron!r} of connection {name!r} is not a valid cron string."
            )
