"""Schedules: every Airbyte schedule kind converts exactly; taking Airbyte's schedules over is an
explicit action (a job, a command), and loading definitions never sends Airbyte a request."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from around_helpers import build_assets, request_counts, reset_request_counts, workspace_for
from dagster._core.definitions.definitions_load_context import (
    DefinitionsLoadContext,
    DefinitionsLoadType,
)
from dagster._utils.schedules import cron_string_iterator
from local_airbyte.cron import QuartzCron

from dagster_airbyte_assets.client import AirbyteSchedule
from dagster_airbyte_assets.errors import AirbyteConfigurationError, AirbyteScheduleError
from dagster_airbyte_assets.schedules import (
    DagsterCron,
    airbyte_schedule_to_cron,
    build_airbyte_schedules,
    build_airbyte_take_over_job,
    quartz_to_cron,
    take_over_airbyte_schedules,
)

QUARTZ_CASES = [
    ("0 0 12 * * ?", "0 12 * * *"),
    ("0 15 10 ? * MON-FRI", "15 10 * * 1-5"),
    ("0 0/15 * * * ?", "*/15 * * * *"),
    ("0 5/20 8-18 ? * SUN *", "5,25,45 8-18 * * 0"),
    ("0 30 2 ? * 1,7", "30 2 * * 0,6"),
    ("0 0 0 1 1/3 ?", "0 0 1 */3 *"),
    ("0 0 6 ? JAN,JUL SAT", "0 6 * 1,7 6"),
]


@pytest.mark.parametrize(("quartz", "cron"), QUARTZ_CASES, ids=[q for q, _ in QUARTZ_CASES])
def test_quartz_converts_to_an_equivalent_cron(quartz: str, cron: str) -> None:
    assert quartz_to_cron(quartz) == cron
    # Same fire times as the local Airbyte's own Quartz evaluator, in a non-UTC zone. (Around
    # a DST gap implementations differ for times that do not exist; not a conversion matter.)
    zone = "Europe/Paris"
    expected = QuartzCron(quartz, zone)
    start = datetime(2026, 6, 20, 0, 0, 30, tzinfo=UTC)  # off any fire time
    fires = cron_string_iterator(start.timestamp(), cron, zone)
    moment = start
    for _ in range(12):
        ours = next(fires)
        theirs = expected.next_after(moment)
        assert theirs is not None
        assert ours.timestamp() == theirs.timestamp()
        moment = theirs


REFUSED = [
    ("30 0 12 * * ?", "seconds"),
    ("* 0 12 * * ?", "seconds"),
    ("0 0 12 * * ? 2026", "year"),
    ("0 0 12 L * ?", "'L'"),
    ("0 0 12 15W * ?", "nearest weekday"),
    ("0 0 12 ? * 6#3", "n-th weekday"),
    ("0 0 12 ? * 6L", "'6L'"),
    ("0 0 12 1 * MON", "'?'"),
    ("0 12 * * *", "6 or 7 fields"),
]


@pytest.mark.parametrize(("quartz", "reason"), REFUSED, ids=[q for q, _ in REFUSED])
def test_unconvertible_quartz_is_refused_with_the_reason(quartz: str, reason: str) -> None:
    schedule = AirbyteSchedule(
        schedule_type="cron", cron_expression=quartz, cron_time_zone="Europe/Paris"
    )
    with pytest.raises(AirbyteScheduleError) as info:
        airbyte_schedule_to_cron(schedule, connection_name="orders")
    assert isinstance(info.value, AirbyteConfigurationError)
    assert reason in str(info.value)
    assert "'orders'" in str(info.value) and quartz in str(info.value)


BASIC = [
    (1, "minutes", "* * * * *"),
    (15, "minutes", "*/15 * * * *"),
    (120, "minutes", "0 */2 * * *"),
    (1, "hours", "0 * * * *"),
    (6, "hours", "0 */6 * * *"),
    (24, "hours", "0 0 * * *"),
    (1, "days", "0 0 * * *"),
    (7, "days", "0 0 * * 0"),
    (1, "weeks", "0 0 * * 0"),
    (1, "months", "0 0 1 * *"),
    (3, "months", "0 0 1 */3 *"),
]


@pytest.mark.parametrize(("units", "unit", "cron"), BASIC, ids=[f"{u}-{t}" for u, t, _ in BASIC])
def test_basic_schedules(units: int, unit: str, cron: str) -> None:
    schedule = AirbyteSchedule(schedule_type="basic", basic_units=units, basic_time_unit=unit)
    assert airbyte_schedule_to_cron(schedule) == DagsterCron(cron, "UTC")


@pytest.mark.parametrize(
    ("units", "unit"), [(7, "minutes"), (5, "hours"), (2, "days"), (2, "weeks")]
)
def test_basic_schedules_without_exact_cron_are_refused(units: int, unit: str) -> None:
    schedule = AirbyteSchedule(schedule_type="basic", basic_units=units, basic_time_unit=unit)
    with pytest.raises(AirbyteScheduleError, match=f"every {units} {unit}"):
        airbyte_schedule_to_cron(schedule)


def test_manual_has_no_schedule() -> None:
    assert airbyte_schedule_to_cron(AirbyteSchedule(schedule_type="manual")) is None


# -- against the local Airbyte ----------------------------------------------------------------


def _set_schedule(workspace: Any, connection_id: str, schedule: AirbyteSchedule) -> None:
    workspace.get_client().update_connection(connection_id, schedule=schedule)


def _targeted_keys(
    schedule: dg.ScheduleDefinition, assets: list[dg.AssetsDefinition]
) -> set[dg.AssetKey]:
    defs = dg.Definitions(
        assets=assets,
        schedules=[schedule],
        resources={"airbyte": dg.ResourceDefinition.none_resource()},
    )
    job = defs.resolve_job_def(schedule.job_name)
    return set(job.asset_layer.selected_asset_keys)


def _only(schedules: list[dg.ScheduleDefinition]) -> dg.ScheduleDefinition:
    assert len(schedules) == 1
    return schedules[0]


def test_each_schedule_kind_from_a_real_connection(local_airbyte: Any, tmp_path: Path) -> None:
    workspace = workspace_for(local_airbyte)
    cid = local_airbyte.sample_connection_id
    cases: list[tuple[AirbyteSchedule, str | None, str | None]] = [
        (AirbyteSchedule(schedule_type="manual"), None, None),
        (
            AirbyteSchedule(schedule_type="basic", basic_units=6, basic_time_unit="hours"),
            "0 */6 * * *",
            "UTC",
        ),
        (
            AirbyteSchedule(
                schedule_type="cron",
                cron_expression="0 15 10 ? * MON-FRI",
                cron_time_zone="America/New_York",
            ),
            "15 10 * * 1-5",
            "America/New_York",
        ),
    ]
    for index, (schedule, cron, zone) in enumerate(cases):
        _set_schedule(workspace, cid, schedule)
        state = tmp_path / f"state-{index}.json"
        assets = build_assets(workspace, tmp_path, state_path=state)
        schedules = build_airbyte_schedules(workspace=workspace, assets=assets, state_path=state)
        if cron is None:
            assert schedules == []
            continue
        built = _only(schedules)
        assert built.cron_schedule == cron
        assert built.execution_timezone == zone
        # Mirrored while Airbyte still schedules it: off by default, never twice.
        assert built.default_status == dg.DefaultScheduleStatus.STOPPED
        assert _targeted_keys(built, assets) == {spec.key for a in assets for spec in a.specs}


PARIS_6AM = AirbyteSchedule(
    schedule_type="cron", cron_expression="0 0 6 * * ?", cron_time_zone="Europe/Paris"
)


def _defining() -> Any:
    """A fresh INITIALIZATION load, as a code server (re)load makes: it pins the latest state."""
    return DefinitionsLoadContext.scoped(DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION))


def test_loading_with_take_over_scheduling_sends_no_request_to_airbyte(
    local_airbyte: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = workspace_for(local_airbyte)
    cid = local_airbyte.sample_connection_id
    _set_schedule(workspace, cid, PARIS_6AM)
    state = tmp_path / "state.json"
    build_assets(workspace_for(local_airbyte), tmp_path, state_path=state)  # the snapshot

    reset_request_counts(local_airbyte)
    with (
        dg.instance_for_test(),
        _defining(),
        caplog.at_level(logging.WARNING, logger="dagster_airbyte_assets"),
    ):
        fresh = workspace_for(local_airbyte)
        assets = build_assets(fresh, tmp_path, state_path=state)
        built = _only(
            build_airbyte_schedules(
                workspace=fresh, assets=assets, state_path=state, take_over_scheduling=True
            )
        )
        build_airbyte_take_over_job(workspace=fresh, assets=assets)
    assert request_counts(local_airbyte)["total"] == 0
    # Not handed over yet: Airbyte keeps its schedule and Dagster's waits, stopped.
    assert built.default_status == dg.DefaultScheduleStatus.STOPPED
    assert (built.cron_schedule, built.execution_timezone) == ("0 6 * * *", "Europe/Paris")
    assert workspace_for(local_airbyte).get_client().get_connection(cid).schedule == PARIS_6AM
    assert "Airbyte still schedules connection" in caplog.text
    assert "take-over-schedules" in caplog.text


def test_a_cold_load_with_take_over_scheduling_only_reads(
    local_airbyte: Any, tmp_path: Path
) -> None:
    workspace = workspace_for(local_airbyte)
    _set_schedule(workspace, local_airbyte.sample_connection_id, PARIS_6AM)
    reset_request_counts(local_airbyte)
    with dg.instance_for_test(), _defining():
        fresh = workspace_for(local_airbyte)
        assets = build_assets(fresh, tmp_path, refresh="always")
        build_airbyte_schedules(workspace=fresh, assets=assets, take_over_scheduling=True)
    routes = request_counts(local_airbyte)["by_route"]
    assert routes  # it did fetch the workspace...
    writes = [r for r in routes if r.startswith(("PATCH", "PUT", "DELETE")) or "update" in r]
    assert writes == []  # ...and changed nothing


def test_the_take_over_job_hands_the_schedule_to_dagster(
    local_airbyte: Any, tmp_path: Path
) -> None:
    workspace = workspace_for(local_airbyte)
    cid = local_airbyte.sample_connection_id
    _set_schedule(workspace, cid, PARIS_6AM)
    state = tmp_path / "state.json"
    with dg.instance_for_test() as instance:
        with _defining():
            assets = build_assets(workspace, tmp_path, state_path=state)
            job = build_airbyte_take_over_job(workspace=workspace, assets=assets)
        defs = dg.Definitions(assets=assets, jobs=[job], resources={"airbyte": workspace})
        result = defs.resolve_job_def("airbyte_take_over_schedules").execute_in_process(
            instance=instance
        )
        assert result.success
        # The Airbyte side, read back over HTTP by a fresh client.
        client = workspace_for(local_airbyte).get_client()
        assert client.get_connection(cid).schedule.schedule_type == "manual"

        # The next load of the code location (Airbyte fetched again, now "manual").
        with _defining():
            fresh = workspace_for(local_airbyte)
            again = build_assets(fresh, tmp_path, state_path=state, refresh="always")
            kept = _only(
                build_airbyte_schedules(
                    workspace=fresh, assets=again, state_path=state, take_over_scheduling=True
                )
            )
        assert (kept.cron_schedule, kept.execution_timezone) == ("0 6 * * *", "Europe/Paris")
        assert kept.default_status == dg.DefaultScheduleStatus.RUNNING

        # Scheduled in Airbyte again: Airbyte owns it, Dagster's schedule stops by default.
        hourly = AirbyteSchedule(schedule_type="basic", basic_units=1, basic_time_unit="hours")
        _set_schedule(workspace, cid, hourly)
        with _defining():
            fresh = workspace_for(local_airbyte)
            again = build_assets(fresh, tmp_path, state_path=state, refresh="always")
            back = _only(build_airbyte_schedules(workspace=fresh, assets=again, state_path=state))
        assert (back.cron_schedule, back.default_status) == (
            "0 * * * *",
            dg.DefaultScheduleStatus.STOPPED,
        )


def test_take_over_leaves_an_unconvertible_schedule_with_airbyte(
    local_airbyte: Any, tmp_path: Path
) -> None:
    workspace = workspace_for(local_airbyte)
    cid = local_airbyte.sample_connection_id
    every_7 = AirbyteSchedule(schedule_type="basic", basic_units=7, basic_time_unit="minutes")
    _set_schedule(workspace, cid, every_7)
    with dg.instance_for_test() as instance:
        assets = build_assets(workspace, tmp_path)
        taken = take_over_airbyte_schedules(
            workspace,
            [cid],
            storage=instance.defs_state_storage,  # type: ignore[arg-type]
        )
        assert taken == {}
        assert workspace_for(local_airbyte).get_client().get_connection(cid).schedule == every_7
        # With an override Dagster can run it: then it is handed over.
        taken = take_over_airbyte_schedules(
            workspace,
            [cid],
            storage=instance.defs_state_storage,  # type: ignore[arg-type]
            cron_overrides={cid: "*/10 * * * *"},
        )
        assert taken == {cid: every_7}
        with _defining():
            built = _only(
                build_airbyte_schedules(
                    workspace=workspace_for(local_airbyte),
                    assets=assets,
                    cron_overrides={cid: "*/10 * * * *"},
                    refresh="always",
                    state_path=tmp_path / "airbyte-state.json",
                )
            )
        assert built.default_status == dg.DefaultScheduleStatus.RUNNING


def test_take_over_command_runs_the_job_on_the_instance(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = local_airbyte.sample_connection_id
    _set_schedule(workspace_for(local_airbyte), cid, PARIS_6AM)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    defs_file = tmp_path / "take_over_defs.py"
    defs_file.write_text(
        textwrap.dedent(
            f"""
            import dagster as dg
            from dagster_airbyte_assets import (
                AirbyteWorkspace, build_airbyte_assets_definitions, build_airbyte_schedules,
                build_airbyte_take_over_job,
            )

            airbyte = AirbyteWorkspace(url={local_airbyte.url!r})
            assets = build_airbyte_assets_definitions(
                workspace=airbyte, state_path={str(tmp_path / "state.json")!r}
            )
            defs = dg.Definitions(
                assets=assets,
                schedules=build_airbyte_schedules(
                    workspace=airbyte, assets=assets, take_over_scheduling=True
                ),
                jobs=[build_airbyte_take_over_job(workspace=airbyte, assets=assets)],
                resources={{"airbyte": airbyte}},
            )
            """
        )
    )
    command = ["-m", "dagster_airbyte_assets.cli", "take-over-schedules", "-f", str(defs_file)]
    result = subprocess.run(
        [sys.executable, *command],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "airbyte_take_over_schedules: succeeded" in result.stdout
    assert workspace_for(local_airbyte).get_client().get_connection(cid).schedule.schedule_type == (
        "manual"
    )
    # The record is in that instance: a code location loaded with it runs the schedule.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get(), _defining():
        fresh = workspace_for(local_airbyte)
        assets = build_assets(fresh, tmp_path, refresh="always")
        built = _only(build_airbyte_schedules(workspace=fresh, assets=assets))
    assert (built.cron_schedule, built.default_status) == (
        "0 6 * * *",
        dg.DefaultScheduleStatus.RUNNING,
    )


def test_user_cron_override(local_airbyte: Any, tmp_path: Path) -> None:
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    state = tmp_path / "airbyte-state.json"
    connection_name = assets[0].specs.__iter__().__next__().metadata["airbyte/connection_name"]
    built = _only(
        build_airbyte_schedules(
            workspace=workspace,
            assets=assets,
            state_path=state,
            cron_overrides={str(connection_name): "*/30 9-17 * * 1-5"},
            override_timezone="Asia/Tokyo",
        )
    )
    assert (built.cron_schedule, built.execution_timezone) == ("*/30 9-17 * * 1-5", "Asia/Tokyo")
    # The connection is manual in Airbyte, so Dagster alone schedules it.
    assert built.default_status == dg.DefaultScheduleStatus.RUNNING
    with pytest.raises(AirbyteScheduleError, match="unknown connection"):
        build_airbyte_schedules(
            workspace=workspace,
            assets=assets,
            state_path=state,
            cron_overrides={"nope": "* * * * *"},
        )
