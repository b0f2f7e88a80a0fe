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

Without ``take_over_scheduling`` both Airbyte and Dagster would start the same sync, so mirrored
schedules default to STOPPED (turn one on only after switching the Airbyte side to manual). With
``take_over_scheduling=True`` the loader sets each scheduled connection to manual through the API
and the schedules default to RUNNING: the same sync is never scheduled twice. The schedules
handed over are remembered next to the workspace snapshot (``*.handed-over.json``), so later
loads that fetch a fresh snapshot (now showing ``manual``) keep the Dagster schedule.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import dagster as dg

from dagster_airbyte_assets._names import definition_name
from dagster_airbyte_assets._quartz import DAY_NAMES, MONTH_NAMES, parse_quartz_field
from dagster_airbyte_assets._state import (
    AirbyteWorkspaceSnapshot,
    default_state_path,
    is_reconstruction,
)
from dagster_airbyte_assets.assets import (
    ConnectionSelector,
    RefreshPolicy,
    load_airbyte_workspace_snapshot,
)
from dagster_airbyte_assets.client import AirbyteConnection, AirbyteSchedule
from dagster_airbyte_assets.errors import AirbyteScheduleError
from dagster_airbyte_assets.translator import MetadataKeys, sanitize_name, specs_by_connection

if TYPE_CHECKING:
    from dagster_airbyte_assets.resource import AirbyteWorkspace

__all__ = [
    "DagsterCron",
    "airbyte_schedule_to_cron",
    "build_airbyte_schedules",
    "hand_over_schedules_to_dagster",
    "quartz_to_cron",
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


def _handed_over_path(snapshot_path: Path) -> Path:
    return snapshot_path.with_name(snapshot_path.name.removesuffix(".json") + ".handed-over.json")


def _read_handed_over(path: Path) -> dict[str, AirbyteSchedule]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return {cid: AirbyteSchedule.model_validate(value) for cid, value in raw.items()}


def _write_handed_over(path: Path, schedules: Mapping[str, AirbyteSchedule]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({cid: s.model_dump(mode="json") for cid, s in sorted(schedules.items())})
    )
    os.replace(tmp, path)


def hand_over_schedules_to_dagster(
    workspace: AirbyteWorkspace, connections: Iterable[AirbyteConnection]
) -> dict[str, AirbyteSchedule]:
    """Set every given connection that Airbyte schedules to ``manual``, through the API.

    Returns the schedules they had (connection id -> schedule), which Dagster now runs. The
    connection's status is left alone: an inactive connection stays inactive.
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


# -- building the schedules ----------------------------------------------------------------------


def _schedule_name(connection: AirbyteConnection, taken: set[str]) -> str:
    base = definition_name(connection.name, "connection")
    name = f"airbyte_{base}_schedule"
    if name in taken:
        name = f"airbyte_{base}_{sanitize_name(connection.connection_id[:8])}_schedule"
    taken.add(name)
    return name


def build_airbyte_schedules(
    *,
    workspace: AirbyteWorkspace,
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
    raising :class:`AirbyteScheduleError`. ``take_over_scheduling`` sets the Airbyte side of
    every scheduled connection to manual (see the module docstring); run workers never call
    the API.

    ::

        assets = build_airbyte_assets_definitions(workspace=airbyte)
        defs = dg.Definitions(
            assets=assets,
            schedules=build_airbyte_schedules(
                workspace=airbyte, assets=assets, take_over_scheduling=True
            ),
            resources={"airbyte": airbyte},
        )
    """
    snapshot = load_airbyte_workspace_snapshot(workspace, state_path=state_path, refresh=refresh)
    snapshot_path = (
        Path(state_path)
        if state_path
        else default_state_path(workspace.url, workspace.workspace_id)
    )
    keys = {cid: [spec.key for spec in specs] for cid, specs in specs_by_connection(assets).items()}
    overrides = dict(cron_overrides or {})
    connections = [
        c
        for c in snapshot.connections
        if c.connection_id in keys and (connection_selector is None or connection_selector(c))
    ]
    _check_overrides(overrides, snapshot, connections)

    handed_over_file = _handed_over_path(snapshot_path)
    handed_over = _read_handed_over(handed_over_file)
    if take_over_scheduling and not is_reconstruction():
        to_take = [c for c in connections if c.schedule.schedule_type != "manual"]
        taken_now = hand_over_schedules_to_dagster(workspace, to_take)
        if taken_now:
            handed_over.update(taken_now)
            _write_handed_over(handed_over_file, handed_over)

    schedules: list[dg.ScheduleDefinition] = []
    names: set[str] = set()
    for connection in connections:
        override = overrides.get(connection.connection_id) or overrides.get(connection.name)
        airbyte_schedule = connection.schedule
        taken = connection.connection_id in handed_over
        if taken and airbyte_schedule.schedule_type == "manual":
            airbyte_schedule = handed_over[connection.connection_id]
        # Dagster alone schedules it when Airbyte does not (manual, or handed over).
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
            logger.info(
                "Airbyte still schedules connection %r; its Dagster schedule is %s to avoid "
                "running the sync twice (use take_over_scheduling=True to hand it over).",
                connection.name,
                status.value,
            )
        schedules.append(
            dg.ScheduleDefinition(
                name=_schedule_name(connection, names),
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
