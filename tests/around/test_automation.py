"""Automation that follows Airbyte, end to end with ``definitions.py``.

The local Airbyte's own scheduler runs a sync; the sync sensor of ``definitions.py`` reports it;
one evaluation of the dbt models' automation condition (what the ``dbt_follows_airbyte`` sensor's
tick computes, here without a daemon) requests exactly the models downstream of that
connection's streams, and that run builds them without starting any Airbyte job.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from around_helpers import config_post, evaluate_sensor, local_post, wait_for_job

from dagster_airbyte_assets.client import AirbyteSchedule
from dagster_airbyte_assets.resource import AirbyteWorkspace

pytestmark = [
    pytest.mark.slow,
    # Dagster's own evaluate_automation_conditions selects with AssetSelection.all(include_sources=True).
    pytest.mark.filterwarnings(
        "ignore:Parameter `include_sources` of function `AssetSelection.all` is currently in "
        "beta:dagster_shared.utils.warnings.BetaWarning"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
MODELS = {"stg_customers", "stg_products", "stg_orders", "customer_orders", "daily_revenue"}


def _load_definitions(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "definitions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scheduler_runs(server: Any, workspace: AirbyteWorkspace, connection_id: str) -> int:
    """Airbyte's scheduler (not Dagster, not the API) starts one sync of the connection."""
    client = workspace.get_client()
    every_minute = AirbyteSchedule(
        schedule_type="cron", cron_expression="0 * * * * ?", cron_time_zone="UTC"
    )
    client.update_connection(connection_id, schedule=every_minute)
    later = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    started = local_post(server, "scheduler/tick", {"now": later})["startedJobIds"]
    client.update_connection(connection_id, schedule=AirbyteSchedule(schedule_type="manual"))
    assert len(started) == 1
    job = wait_for_job(server, int(started[0]))
    assert job["status"] == "succeeded"
    return int(started[0])


def _job_count(server: Any) -> int:
    response = httpx.get(f"{server.public_api_url}/jobs", params={"limit": 100}, timeout=30)
    response.raise_for_status()
    return len(response.json()["data"])


def test_a_sync_airbyte_scheduled_builds_exactly_the_affected_models(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("dagster_dbt")
    # A second connection no dbt model reads: its syncs must build nothing.
    sample = config_post(
        local_airbyte, "connections/get", {"connectionId": local_airbyte.sample_connection_id}
    )
    other = httpx.post(
        f"{local_airbyte.public_api_url}/connections",
        json={
            "sourceId": sample["sourceId"],
            "destinationId": sample["destinationId"],
            "name": "Unread by dbt",
            "prefix": "unread_",
            "configurations": {"streams": [{"name": "products"}]},
        },
        timeout=30,
    )
    other.raise_for_status()
    other_id = other.json()["connectionId"]

    for name in [k for k in os.environ if k.startswith(("AIRBYTE_", "DBT_", "DAGSTER_AIRBYTE"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AIRBYTE_URL", local_airbyte.url)
    monkeypatch.setenv("DAGSTER_AIRBYTE_ASSETS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))
    monkeypatch.setenv("DAGSTER_AIRBYTE_DEMO_DBT", "1")
    module = _load_definitions("definitions_follows_airbyte")
    defs: dg.Definitions = module.defs
    assert defs.resolve_sensor_def("dbt_follows_airbyte") is not None
    graph = defs.resolve_asset_graph()
    models = {k for k in graph.get_all_asset_keys() if k.path[-1] in MODELS}
    assert len(models) == len(MODELS)
    airbyte_keys = {k for k in graph.get_all_asset_keys() if k.path[0] == "raw"}
    assert dg.AssetKey(["raw", "unread_products"]) in airbyte_keys
    for key in models:
        assert graph.get(key).automation_condition is not None

    workspace = module.airbyte
    sensor = defs.resolve_sensor_def("airbyte_sync_sensor")
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        cursor = evaluate_sensor(sensor, instance, None).cursor  # starts from now
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert tick.total_requested == 0  # no stream was ever synced

        # Airbyte's scheduler syncs the connection no model reads: nothing to build.
        _scheduler_runs(local_airbyte, workspace, other_id)
        reported = evaluate_sensor(sensor, instance, cursor)
        cursor = reported.cursor
        assert {e.asset_key for e in reported.asset_events or []} == {
            dg.AssetKey(["raw", "unread_products"])
        }
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert tick.total_requested == 0

        # Airbyte's scheduler syncs the sample connection: exactly its models are requested.
        _scheduler_runs(local_airbyte, workspace, local_airbyte.sample_connection_id)
        reported = evaluate_sensor(sensor, instance, cursor)
        assert {e.asset_key.path[-1] for e in reported.asset_events or []} == {
            "customers",
            "products",
            "orders",
        }
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        requested = {key for key in graph.get_all_asset_keys() if tick.get_num_requested(key) > 0}
        assert requested == models  # every model downstream, no Airbyte stream re-synced

        # The run the tick launches builds them and starts nothing in Airbyte.
        jobs_before = _job_count(local_airbyte)
        run = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=sorted(requested, key=str)
        )
        assert run.success
        assert {e.asset_key for e in run.get_asset_materialization_events()} == models
        assert _job_count(local_airbyte) == jobs_before

        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert tick.total_requested == 0  # handled: nothing twice
