"""The demo workspace served by a real ``dagster-webserver``, inspected and driven over GraphQL.

The webserver loads ``workspace.yaml`` -> ``definitions.py`` against a seeded local Airbyte, as
``make ui`` does: the asset graph must hold every stream and dbt model with dagster-dbt's own
dependency keys, the schedules and the sensor must be listed, and a run of the asset job
launched through the API must sync Airbyte and build the models.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    ROOT,
    clean_environment,
    free_port,
    graphql,
    skip_without_dbt,
    wait_until_loaded,
    write_dagster_yaml,
)

skip_without_dbt()

pytestmark = pytest.mark.slow

LOCATION = "airbyte_and_dbt"  # workspace.yaml's location_name
STREAMS = {"raw/customers", "raw/products", "raw/orders"}
MODEL_DEPS = {
    "staging/stg_customers": {"raw/customers"},
    "staging/stg_products": {"raw/products"},
    "staging/stg_orders": {"raw/orders"},
    "marts/customer_orders": {"staging/stg_customers", "staging/stg_orders"},
    "marts/daily_revenue": {"staging/stg_orders"},
}
SAMPLE_CONNECTION = "Sample Data → DuckDB"


@pytest.fixture
def webserver(local_airbyte_factory: Any, tmp_path: Path) -> Iterator[str]:
    """``dagster-webserver -w workspace.yaml`` on a free port, against a seeded local Airbyte."""
    airbyte = local_airbyte_factory(seed="sample")
    home = tmp_path / "dagster_home"
    write_dagster_yaml(home, run_coordinator=True)  # no daemon here: launch runs directly
    env = clean_environment(
        DAGSTER_HOME=str(home),
        AIRBYTE_URL=airbyte.url,
        AIRBYTE_POLL_INTERVAL="1",
        AIRBYTE_CRON_OVERRIDES=json.dumps({SAMPLE_CONNECTION: "0 * * * *"}),
        DAGSTER_AIRBYTE_ASSETS_STATE_DIR=str(tmp_path / "state"),
        DBT_TARGET_PATH=str(tmp_path / "dbt-target"),
        DAGSTER_AIRBYTE_DEMO_DBT="1",
    )
    port = free_port()
    executable = Path(sys.executable).with_name("dagster-webserver")
    log = tmp_path / "webserver.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [
                str(executable),
                "-w",
                str(ROOT / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the code server and run workers go with its group
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_loaded(url, LOCATION, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, signal.SIGKILL)


ASSET_GRAPH_QUERY = """
{ assetNodes { assetKey { path } dependencyKeys { path } groupName isMaterializable } }
"""
AUTOMATION_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name }
    jobs { name }
    schedules { name cronSchedule scheduleState { status } }
    sensors { name sensorState { status } }
} } } }
"""
RUN_QUERY = """
query Run($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run {
    status
    stepStats { stepKey status }
    assetMaterializations { assetKey { path } metadataEntries {
        label ... on IntMetadataEntry { intValue }
    } }
    assetCheckEvaluations: eventConnection { events { __typename
        ... on AssetCheckEvaluationEvent { evaluation { checkName success } }
    } }
} } }
"""


def _key(node: dict[str, Any]) -> str:
    return "/".join(node["path"])


def test_asset_graph_automation_and_a_launched_run(webserver: str) -> None:
    nodes = graphql(webserver, ASSET_GRAPH_QUERY)["assetNodes"]
    graph = {_key(n["assetKey"]): {_key(d) for d in n["dependencyKeys"]} for n in nodes}
    assert STREAMS | set(MODEL_DEPS) == set(graph)
    for stream in STREAMS:
        assert graph[stream] == set(), stream
    for model, deps in MODEL_DEPS.items():
        assert graph[model] == deps, model  # dagster-dbt's default keys meet the Airbyte ones
    groups = {_key(n["assetKey"]): n["groupName"] for n in nodes}
    assert {groups[m] for m in MODEL_DEPS} == {"dbt"}

    repositories = graphql(webserver, AUTOMATION_QUERY)["repositoriesOrError"]["nodes"]
    repository = next(r for r in repositories if r["location"]["name"] == LOCATION)
    schedules = {s["name"]: s for s in repository["schedules"]}
    assert schedules["sync_and_transform"]["cronSchedule"] == "0 6 * * *"
    assert schedules["sync_and_transform"]["scheduleState"]["status"] == "STOPPED"
    mirrored = [s for name, s in schedules.items() if name != "sync_and_transform"]
    assert [s["cronSchedule"] for s in mirrored] == ["0 * * * *"]  # from AIRBYTE_CRON_OVERRIDES
    assert sorted(s["name"] for s in repository["sensors"]) == [
        "airbyte_sync_sensor",
        "dbt_follows_airbyte",
    ]
    # The schedule's named job: runs of everything show it as their Target.
    assert "sync_and_transform" in {j["name"] for j in repository["jobs"]}

    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=int(webserver.rsplit(":", 1)[1]))
    run_id = client.submit_job_execution(
        "__ASSET_JOB",
        repository_location_name=LOCATION,
        repository_name="__repository__",
        # One process for every step: each step of the default executor reloads definitions.
        run_config={"execution": {"config": {"in_process": {}}}},
    )
    deadline = time.monotonic() + 240
    status = client.get_run_status(run_id).value
    while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() < deadline:
        time.sleep(2)
        status = client.get_run_status(run_id).value

    run = graphql(webserver, RUN_QUERY, {"runId": run_id})["runOrError"]
    assert status == "SUCCESS", run["stepStats"]
    materialized = {_key(m["assetKey"]) for m in run["assetMaterializations"]}
    assert materialized == STREAMS | set(MODEL_DEPS)
    row_counts = {
        _key(m["assetKey"]): e["intValue"]
        for m in run["assetMaterializations"]
        for e in m["metadataEntries"]
        if e["label"] == "dagster/row_count"
    }
    assert all(row_counts[s] > 0 for s in STREAMS), row_counts
    evaluations = [
        e["evaluation"]
        for e in run["assetCheckEvaluations"]["events"]
        if e["__typename"] == "AssetCheckEvaluationEvent"
    ]
    # 3 drift checks + 13 dbt tests, every one run and passed
    assert len(evaluations) == 16 and all(e["success"] for e in evaluations), evaluations
