"""Refresh, clear and reset from Dagster, against the local Airbyte over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from around_helpers import TABLES, build_assets, duckdb_counts, workspace_for

from dagster_airbyte_assets import AirbyteWorkspace
from dagster_airbyte_assets.errors import AirbyteConfigurationError
from dagster_airbyte_assets.maintenance import TABLES_EMPTIED_KEY, build_airbyte_maintenance_jobs

KEYS = {dg.AssetKey(["raw", t]) for t in TABLES}


def _jobs(server: Any) -> list[dict[str, Any]]:
    """Every job of the sample connection, any type, from the Public API."""
    found: list[dict[str, Any]] = []
    for job_type in ("sync", "reset", "refresh", "clear"):
        response = httpx.get(
            f"{server.public_api_url}/jobs",
            params={"connectionId": server.sample_connection_id, "jobType": job_type},
            timeout=30,
        )
        response.raise_for_status()
        found += response.json()["data"]
    return found


def _job(jobs: list[dg.JobDefinition], prefix: str) -> dg.JobDefinition:
    [job] = [j for j in jobs if j.name.startswith(prefix)]
    return job


def _run(
    job: dg.JobDefinition, workspace: Any, instance: dg.DagsterInstance, config: dict[str, Any]
) -> dg.ExecuteInProcessResult:
    op = job.graph.node_defs[0].name
    return job.execute_in_process(
        run_config={"ops": {op: {"config": config}}},
        resources={"airbyte": workspace},
        instance=instance,
        raise_on_error=False,
    )


def test_clear_needs_confirmation_then_empties_the_tables(
    local_airbyte: Any, tmp_path: Path
) -> None:
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    jobs = build_airbyte_maintenance_jobs(assets=assets)
    assert sorted(j.name.split("_")[1] for j in jobs) == ["clear", "refresh", "reset"]
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert dg.materialize(assets, resources={"airbyte": workspace}, instance=instance).success
        assert all(n > 0 for n in duckdb_counts(local_airbyte).values())
        before = len(_jobs(local_airbyte))

        clear = _job(jobs, "airbyte_clear_")
        refused = _run(clear, workspace, instance, {})
        assert not refused.success
        assert "confirm_delete_data: true" in str(
            refused.failure_data_for_node(clear.graph.node_defs[0].name).error
        )  # type: ignore[union-attr]
        assert len(_jobs(local_airbyte)) == before  # nothing was sent

        result = _run(clear, workspace, instance, {"confirm_delete_data": True})
        assert result.success
        after = _jobs(local_airbyte)
        assert len(after) == before + 1  # exactly one new job on the server
        [new] = [
            j for j in after if j["jobType"] in ("reset", "clear") and j["status"] == "succeeded"
        ]
        assert duckdb_counts(local_airbyte) == dict.fromkeys(TABLES, 0)
        for key in KEYS:
            [record] = instance.fetch_observations(key, limit=1).records
            observation = record.asset_observation
            assert observation is not None
            assert observation.metadata[TABLES_EMPTIED_KEY].value is True
            assert observation.metadata["dagster/row_count"].value == 0
            assert int(str(observation.metadata["airbyte/job_id"].value)) == int(new["jobId"])


def test_refresh_truncate_and_merge(local_airbyte: Any, tmp_path: Path) -> None:
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path)
    refresh = _job(build_airbyte_maintenance_jobs(assets=assets), "airbyte_refresh_")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert dg.materialize(assets, resources={"airbyte": workspace}, instance=instance).success
        synced = duckdb_counts(local_airbyte)
        before = len(_jobs(local_airbyte))
        # Truncate deletes what the tables hold: confirmation first, nothing sent without it.
        assert not _run(refresh, workspace, instance, {"refresh_mode": "Truncate"}).success
        assert len(_jobs(local_airbyte)) == before

        truncate = {"refresh_mode": "Truncate", "confirm_delete_data": True}
        result = _run(refresh, workspace, instance, truncate)
        assert result.success
        jobs = _jobs(local_airbyte)
        assert len(jobs) == before + 1
        assert [
            j["jobType"] for j in jobs if int(j["jobId"]) == max(int(x["jobId"]) for x in jobs)
        ] == ["refresh"]
        assert duckdb_counts(local_airbyte) == synced  # only the refreshed data stays
        events = result.get_asset_materialization_events()
        assert {e.asset_key for e in events} == KEYS
        rows = {
            e.asset_key.path[-1]: e.materialization.metadata["dagster/row_count"].value  # type: ignore[union-attr]
            for e in events
        }
        assert rows == synced

        merged = _run(
            refresh, workspace, instance, {"refresh_mode": "Merge", "streams": ["orders"]}
        )
        assert merged.success
        assert {e.asset_key for e in merged.get_asset_materialization_events()} == {
            dg.AssetKey(["raw", "orders"])
        }


def test_refresh_says_when_the_config_api_is_out_of_reach(
    local_airbyte_factory: Any, tmp_path: Path
) -> None:
    server = local_airbyte_factory(seed="sample", auth="none", airbyte_version="public-only")
    workspace = AirbyteWorkspace(url=server.url, api="public")
    with pytest.raises(AirbyteConfigurationError, match="refreshes need the Config API"):
        workspace.get_client().start_refresh(server.sample_connection_id, "Merge")
    only_public = AirbyteWorkspace(url=server.public_api_url)
    with pytest.raises(AirbyteConfigurationError, match="Public API"):
        only_public.get_client().start_refresh(server.sample_connection_id, "Merge")
    # Clear and reset still work through the Public API.
    _, sent = workspace.get_client().start_clear(server.sample_connection_id)
    assert sent == "clear"
    assets = build_assets(workspace, tmp_path)
    reset = _job(build_airbyte_maintenance_jobs(assets=assets), "airbyte_reset_")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert _run(reset, workspace, instance, {"confirm_delete_data": True}).success


def test_before_0_58_a_clear_is_a_reset_and_refresh_is_refused(
    local_airbyte_factory: Any, tmp_path: Path
) -> None:
    server = local_airbyte_factory(seed="sample", auth="none", airbyte_version="0.50")
    workspace = AirbyteWorkspace(url=server.url)
    client = workspace.get_client()
    job, sent = client.start_clear(server.sample_connection_id)
    assert sent == "reset" and job.job_type in ("reset", "reset_connection")
    with pytest.raises(AirbyteConfigurationError, match=r"0\.58 or later"):
        client.start_refresh(server.sample_connection_id, "Merge")


def test_component_adds_the_jobs_and_the_pool(
    local_airbyte: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from around_helpers import dg_project, refresh_component_state

    root = dg_project(
        tmp_path,
        "maintained_project",
        """
        type: dagster_airbyte_assets.component.AirbyteAssetsComponent
        attributes:
          workspace:
            url: "{{ env.TEST_AIRBYTE_URL }}"
          maintenance_jobs: true
          pool: airbyte_local
        """,
    )
    monkeypatch.syspath_prepend(str(root / "src"))
    monkeypatch.setenv("TEST_AIRBYTE_URL", local_airbyte.url)
    refresh_component_state(root)
    defs = dg.load_from_defs_folder(path_within_project=root)
    names = {job.name for job in defs.jobs or []}  # type: ignore[union-attr]
    assert {a.op.pool for a in defs.assets or []} == {"airbyte_local"}  # type: ignore[union-attr]
    assert {n.split("_")[1] for n in names if n.startswith("airbyte_")} >= {
        "refresh",
        "clear",
        "reset",
    }
