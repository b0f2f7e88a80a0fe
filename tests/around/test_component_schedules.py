"""The component's ``schedules:`` block in ``defs.yaml`` builds the expected schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from around_helpers import (
    dg_project,
    refresh_component_state,
    request_counts,
    reset_request_counts,
    workspace_for,
)
from dagster._core.definitions.definitions_load_context import (
    DefinitionsLoadContext,
    DefinitionsLoadType,
)

from dagster_airbyte_assets.client import AirbyteSchedule
from dagster_airbyte_assets.translator import MetadataKeys

PACKAGE = "airbyte_schedules_project"


def _project(tmp_path: Path, connection_name: str) -> Path:
    # json.dumps: a valid YAML scalar for a name with spaces and an arrow.
    return dg_project(
        tmp_path,
        PACKAGE,
        f"""
            type: dagster_airbyte_assets.component.AirbyteAssetsComponent
            attributes:
              workspace:
                url: "{{{{ env.TEST_AIRBYTE_URL }}}}"
              schedules:
                cron_overrides:
                  {json.dumps(connection_name)}: "15 6 * * 1-5"
                override_timezone: Europe/Paris
            """,
    )


def test_schedules_block_builds_the_override_schedule(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = local_airbyte.sample_connection_id
    connection = workspace_for(local_airbyte).get_client().get_connection(cid)
    assert connection.schedule.schedule_type == "manual"
    root = _project(tmp_path, connection.name)
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.setenv("TEST_AIRBYTE_URL", local_airbyte.url)
    refresh_component_state(root)

    defs = dg.load_from_defs_folder(path_within_project=root)

    schedules = list(defs.schedules or [])
    assert len(schedules) == 1
    # "Sample Data → DuckDB" -> Airbyte's identifier rule.
    schedule = defs.resolve_schedule_def("airbyte_sample_data_duckdb_schedule")
    assert isinstance(schedule, dg.ScheduleDefinition)
    assert schedule.cron_schedule == "15 6 * * 1-5"
    assert schedule.execution_timezone == "Europe/Paris"
    # Manual in Airbyte: Dagster alone schedules it, so it runs by default.
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.tags[MetadataKeys.CONNECTION_ID] == cid
    job = defs.resolve_job_def(schedule.job_name)
    expected = {dg.AssetKey(["raw", t]) for t in ("customers", "products", "orders")}
    assert set(job.asset_layer.selected_asset_keys) == expected
    # The override did not touch the Airbyte side.
    fresh = workspace_for(local_airbyte).get_client().get_connection(cid)
    assert fresh.schedule.schedule_type == "manual"


def test_take_over_scheduling_adds_the_job_and_loading_calls_nothing(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = local_airbyte.sample_connection_id
    paris = AirbyteSchedule(
        schedule_type="cron", cron_expression="0 30 7 * * ?", cron_time_zone="Europe/Paris"
    )
    workspace_for(local_airbyte).get_client().update_connection(cid, schedule=paris)
    root = dg_project(
        tmp_path,
        "airbyte_take_over_project",
        """
            type: dagster_airbyte_assets.component.AirbyteAssetsComponent
            attributes:
              workspace:
                url: "{{ env.TEST_AIRBYTE_URL }}"
              schedules:
                take_over_scheduling: true
            """,
    )
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.setenv("TEST_AIRBYTE_URL", local_airbyte.url)
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)

    with dg.instance_for_test() as instance:
        refresh_component_state(root)
        reset_request_counts(local_airbyte)
        with _defining():
            defs = dg.load_from_defs_folder(path_within_project=root)
        assert request_counts(local_airbyte)["total"] == 0
        schedule = defs.resolve_schedule_def("airbyte_sample_data_duckdb_schedule")
        assert isinstance(schedule, dg.ScheduleDefinition)
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED

        job = defs.resolve_job_def("airbyte_take_over_schedules")
        assert job.execute_in_process(instance=instance).success
        client = workspace_for(local_airbyte).get_client()
        assert client.get_connection(cid).schedule.schedule_type == "manual"

        refresh_component_state(root)  # Airbyte now says "manual"
        with _defining():
            reloaded = dg.load_from_defs_folder(path_within_project=root)
        schedule = reloaded.resolve_schedule_def("airbyte_sample_data_duckdb_schedule")
        assert isinstance(schedule, dg.ScheduleDefinition)
        assert (schedule.cron_schedule, schedule.execution_timezone) == (
            "30 7 * * *",
            "Europe/Paris",
        )
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def _defining() -> Any:
    return DefinitionsLoadContext.scoped(DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION))
