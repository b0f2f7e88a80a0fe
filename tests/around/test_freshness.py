"""Freshness checks from Airbyte's schedules, against the local Airbyte over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from around_helpers import (
    TABLES,
    build_assets,
    evaluate_sensor,
    start_sync_via_api,
    wait_for_job,
    workspace_for,
)
from dagster._core.test_utils import freeze_time

from dagster_airbyte_assets.client import AirbyteSchedule
from dagster_airbyte_assets.errors import AirbyteConfigurationError
from dagster_airbyte_assets.freshness import (
    build_airbyte_freshness_checks,
    build_airbyte_freshness_sensor,
)
from dagster_airbyte_assets.sensor import build_airbyte_sync_sensor

KEYS = {dg.AssetKey(["raw", t]) for t in TABLES}


def _assets_with_schedule(
    server: Any, tmp_path: Path, schedule: AirbyteSchedule
) -> tuple[Any, list[dg.AssetsDefinition]]:
    workspace = workspace_for(server)
    workspace.get_client().update_connection(server.sample_connection_id, schedule=schedule)
    return workspace, build_assets(workspace, tmp_path, state_path=tmp_path / "state.json")


def _evaluate(
    assets: list[dg.AssetsDefinition],
    checks: list[dg.AssetChecksDefinition],
    instance: dg.DagsterInstance,
) -> dict[dg.AssetKey, dg.AssetCheckEvaluation]:
    """Run only the checks (no sync), as Dagster's freshness sensor's run does."""
    result = dg.materialize(
        [*assets, *checks],
        instance=instance,
        selection=dg.AssetSelection.checks(*checks),
        resources={"airbyte": object()},  # the checks never reach Airbyte
    )
    assert result.success
    return {e.asset_key: e for e in result.get_asset_check_evaluations()}


def _report_outside_sync(server: Any, workspace: Any, assets: Any, instance: Any) -> int:
    """Someone syncs through Airbyte's API; the sync sensor reports it."""
    sensor = build_airbyte_sync_sensor(
        workspace=workspace, assets=assets, start_from=datetime.now(UTC) - timedelta(seconds=5)
    )
    first = evaluate_sensor(sensor, instance, None)
    job = start_sync_via_api(server, server.sample_connection_id)
    wait_for_job(server, job)
    reported = evaluate_sensor(sensor, instance, first.cursor).asset_events or []
    assert {e.asset_key for e in reported} == KEYS
    return job


def test_basic_schedule_age_and_a_sync_airbyte_ran(local_airbyte: Any, tmp_path: Path) -> None:
    every_hour = AirbyteSchedule(schedule_type="basic", basic_units=1, basic_time_unit="hours")
    workspace, assets = _assets_with_schedule(local_airbyte, tmp_path, every_hour)
    checks = build_airbyte_freshness_checks(
        workspace=workspace,
        assets=assets,
        grace=timedelta(minutes=10),
        state_path=tmp_path / "state.json",
    )
    assert {key.asset_key for c in checks for key in c.check_keys} == KEYS
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        before = _evaluate(assets, checks, instance)
        assert {k: e.passed for k, e in before.items()} == dict.fromkeys(KEYS, False)
        params = before[dg.AssetKey(["raw", "orders"])].metadata["dagster/freshness_params"]
        assert params.value["lower_bound_delta_seconds"] == 70 * 60  # type: ignore[index]

        _report_outside_sync(local_airbyte, workspace, assets, instance)
        after = _evaluate(assets, checks, instance)
        assert {k: e.passed for k, e in after.items()} == dict.fromkeys(KEYS, True)
        # 71 minutes on, the hourly sync plus its grace has gone by: late.
        with freeze_time(datetime.now(UTC) + timedelta(minutes=71)):
            late = _evaluate(assets, checks, instance)
        assert {k: e.passed for k, e in late.items()} == dict.fromkeys(KEYS, False)


def test_cron_schedule_expects_a_sync_since_the_previous_tick(
    local_airbyte: Any, tmp_path: Path
) -> None:
    hourly = AirbyteSchedule(
        schedule_type="cron", cron_expression="0 0 * * * ?", cron_time_zone="Europe/Paris"
    )
    workspace, assets = _assets_with_schedule(local_airbyte, tmp_path, hourly)
    grace = timedelta(minutes=15)
    checks = build_airbyte_freshness_checks(
        workspace=workspace, assets=assets, grace=grace, state_path=tmp_path / "state.json"
    )
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        _report_outside_sync(local_airbyte, workspace, assets, instance)
        synced_at = datetime.now(UTC)
        # At 20 minutes past the next hour, the sync of that hour's tick is due: late.
        next_hour = synced_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        with freeze_time(next_hour + timedelta(minutes=20)):
            late = _evaluate(assets, checks, instance)
        assert {k: e.passed for k, e in late.items()} == dict.fromkeys(KEYS, False)
        tick = late[dg.AssetKey(["raw", "orders"])].metadata["dagster/latest_cron_tick_timestamp"]
        assert tick.value == next_hour.timestamp()
        # Within the grace after that tick, the previous tick's sync is what counts: fresh.
        with freeze_time(next_hour + timedelta(minutes=10)):
            within_grace = _evaluate(assets, checks, instance)
        # 10 minutes past it, the newest tick at least the grace old is the sync's own hour,
        # which the sync followed: fresh.
        assert {k: e.passed for k, e in within_grace.items()} == dict.fromkeys(KEYS, True)


def test_manual_connections_need_an_explicit_age(local_airbyte: Any, tmp_path: Path) -> None:
    manual = AirbyteSchedule(schedule_type="manual")
    workspace, assets = _assets_with_schedule(local_airbyte, tmp_path, manual)
    state = tmp_path / "state.json"
    assert (
        build_airbyte_freshness_checks(workspace=workspace, assets=assets, state_path=state) == []
    )

    checks = build_airbyte_freshness_checks(
        workspace=workspace,
        assets=assets,
        max_age_overrides={local_airbyte.sample_connection_id: timedelta(days=1)},
        state_path=state,
    )
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        _report_outside_sync(local_airbyte, workspace, assets, instance)
        results = _evaluate(assets, checks, instance)
    assert {k: e.passed for k, e in results.items()} == dict.fromkeys(KEYS, True)
    params = results[dg.AssetKey(["raw", "orders"])].metadata["dagster/freshness_params"]
    assert params.value["lower_bound_delta_seconds"] == 86400  # type: ignore[index]
    sensor = build_airbyte_freshness_sensor(checks)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    with pytest.raises(AirbyteConfigurationError, match="max_age_overrides names unknown"):
        build_airbyte_freshness_checks(
            workspace=workspace,
            assets=assets,
            max_age_overrides={"no such connection": timedelta(days=1)},
            state_path=state,
        )


def test_component_adds_the_checks_and_their_sensor(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from around_helpers import dg_project, refresh_component_state

    every_day = AirbyteSchedule(schedule_type="basic", basic_units=1, basic_time_unit="days")
    workspace_for(local_airbyte).get_client().update_connection(
        local_airbyte.sample_connection_id, schedule=every_day
    )
    root = dg_project(
        tmp_path,
        "fresh_project",
        """
        type: dagster_airbyte_assets.component.AirbyteAssetsComponent
        attributes:
          workspace:
            url: "{{ env.TEST_AIRBYTE_URL }}"
          freshness_checks:
            grace_minutes: 45
        """,
    )
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.setenv("TEST_AIRBYTE_URL", local_airbyte.url)
    refresh_component_state(root)
    defs = dg.load_from_defs_folder(path_within_project=root)
    check_keys = {k for c in defs.asset_checks or [] for k in c.check_keys}  # type: ignore[union-attr]
    assert check_keys == {dg.AssetCheckKey(k, "freshness_check") for k in KEYS}
    [spec] = {
        spec.metadata["dagster/freshness_params"].value["lower_bound_delta_seconds"]  # type: ignore[index]
        for c in defs.asset_checks or []
        for spec in c.check_specs  # type: ignore[union-attr]
    }
    assert spec == 24 * 3600 + 45 * 60
    assert defs.resolve_sensor_def("airbyte_freshness_sensor") is not None
