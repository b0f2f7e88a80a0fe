"""Drive a running Dagster webserver over GraphQL the way its UI does.

Used by ``make screenshots`` (``examples/screenshots.py``), ``bench/ui_launch.py`` and the
end-to-end tests: wait for a code location, press "Materialize all", wait for the run.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import Any

import httpx

__all__ = [
    "graphql",
    "launch_materialize_all",
    "location_entries",
    "wait_for_location",
    "wait_for_run",
]

TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")

LOCATIONS_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus updatedTimestamp
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""
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
RUN_QUERY = """
query Run($runId: ID!) { runOrError(runId: $runId) { ... on Run {
    status creationTime startTime endTime
    assetMaterializations { assetKey { path } }
} } }
"""


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """``data`` of one GraphQL call to the webserver at ``url``; GraphQL errors raise."""
    response = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    if "errors" in body:
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


def location_entries(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = graphql(url, LOCATIONS_QUERY)["workspaceOrError"][
        "locationEntries"
    ]
    return entries


def wait_for_location(
    url: str, process: subprocess.Popen[bytes], timeout: float = 300, name: str | None = None
) -> dict[str, Any]:
    """The location entry (``name``, or the only one) once LOADED; a load error raises."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            entries = location_entries(url)
            entry = next((e for e in entries if name in (None, e["name"])), None)
            if entry is not None and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"]
                if loaded["__typename"] != "RepositoryLocation":
                    raise RuntimeError(f"the code location failed to load: {loaded}")
                return entry
        time.sleep(1)
    raise TimeoutError(f"the code location did not load in {timeout:.0f} s")


def launch_materialize_all(url: str, location: str) -> str:
    """Launch every asset and check as the UI's "Materialize all" does; the run id.

    The UI sends ``launchPipelineExecution`` (``launchRun`` is the same mutation) for the
    hidden asset job with the asset keys and their checks, mode ``default`` and no run config,
    so the location's default executor (multiprocess: a process per step) runs it.
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
    if launched["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launchRun failed: {launched}")
    run_id: str = launched["run"]["id"]
    return run_id


def wait_for_run(url: str, run_id: str, timeout: float = 600) -> dict[str, Any]:
    """The run once it has finished (a queued run included: the daemon launches it)."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = graphql(url, RUN_QUERY, {"runId": run_id})["runOrError"]
        if run["status"] in TERMINAL:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run['status']} after {timeout:.0f} s")
        time.sleep(0.5)
