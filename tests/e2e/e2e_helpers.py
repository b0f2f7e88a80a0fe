"""Shared pieces of the end-to-end tests: the repository root, free ports, a clean environment.

These tests run the project as a user does (``definitions.py`` through ``dagster-webserver``,
``examples/demo.py`` as a script), so they need dbt: ``skip_without_dbt()`` skips a module
without it, except under ``CI=true``, where it must fail.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Settings a developer may have exported for a real Airbyte: never let them reach a test.
FOREIGN_ENV_PREFIXES = ("AIRBYTE_", "DBT_", "DAGSTER_AIRBYTE_", "DEMO_", "DAGSTER_HOME")


def skip_without_dbt() -> None:
    if os.environ.get("CI") != "true":  # under CI a missing dbt must fail, never skip
        pytest.importorskip("dagster_dbt")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without Airbyte/dbt/demo settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV_PREFIXES)}
    env.update(extra)
    return env


def write_dagster_yaml(home: Path, *, run_coordinator: bool = False) -> None:
    """A DAGSTER_HOME with telemetry off; ``run_coordinator`` launches runs without a daemon."""
    home.mkdir(parents=True, exist_ok=True)
    text = "telemetry:\n  enabled: false\n"
    if run_coordinator:
        text += (
            "run_coordinator:\n"
            "  module: dagster.core.run_coordinator\n"
            "  class: DefaultRunCoordinator\n"
        )
    (home / "dagster.yaml").write_text(text)


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """``data`` of one GraphQL call to the Dagster webserver at ``url``; errors fail the test."""
    response = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


LOCATIONS_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus updatedTimestamp
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""


def location_entry(url: str, location: str) -> dict[str, Any] | None:
    entries = graphql(url, LOCATIONS_QUERY)["workspaceOrError"]["locationEntries"]
    return next((e for e in entries if e["name"] == location), None)


def wait_until_loaded(
    url: str, location: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 240
) -> dict[str, Any]:
    """Poll until ``location`` is LOADED (a load error or an exited server fails the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            entry = location_entry(url, location)
            if entry is not None and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"]
                assert loaded["__typename"] == "RepositoryLocation", loaded.get("message")
                return entry
        time.sleep(1)
    pytest.fail(f"the code location did not load in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


ASSETS_AND_CHECKS_QUERY = """
{ assetNodes { assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } } } }
"""
LAUNCH_RUN_MUTATION = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { id } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


def launch_materialize_all(url: str, location: str) -> str:
    """Launch every asset and check as the UI's "Materialize all" does; the run id.

    The UI sends ``launchPipelineExecution`` (``launchRun`` is the same mutation) for the
    hidden asset job with the selected asset keys and their checks, mode ``default`` and no run
    config, so the location's default executor (multiprocess: a process per step) runs it.
    """
    nodes = graphql(url, ASSETS_AND_CHECKS_QUERY)["assetNodes"]
    params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": "__repository__",
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": n["assetKey"]["path"]} for n in nodes],
            "assetCheckSelection": [
                {"assetKey": {"path": n["assetKey"]["path"]}, "name": check["name"]}
                for n in nodes
                for check in (n["assetChecksOrError"].get("checks") or [])
            ],
        },
        "mode": "default",
        "runConfigData": {},
        "executionMetadata": {"tags": []},
    }
    launched = graphql(url, LAUNCH_RUN_MUTATION, {"executionParams": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id: str = launched["run"]["id"]
    return run_id


RUN_STATUS_QUERY = """
query RunStatus($runId: ID!) { runOrError(runId: $runId) { ... on Run {
    status creationTime startTime endTime
    assetMaterializations { assetKey { path } }
} } }
"""


def wait_for_run(url: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
    """The run once it has finished (queued runs included: the daemon launches them)."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = graphql(url, RUN_STATUS_QUERY, {"runId": run_id})["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(1)
