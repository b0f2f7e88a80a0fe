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
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

# Driving the webserver as the UI does: shared with `make screenshots` and bench/ui_launch.py.
from dagster_ui import (  # noqa: E402
    graphql,
    launch_materialize_all,
    location_entries,
    wait_for_run,
)

__all__ = [
    "ROOT",
    "clean_environment",
    "free_port",
    "graphql",
    "launch_materialize_all",
    "location_entry",
    "skip_without_dbt",
    "wait_for_run",
    "wait_until_loaded",
    "write_dagster_yaml",
]

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


def location_entry(url: str, location: str) -> dict[str, Any] | None:
    return next((e for e in location_entries(url) if e["name"] == location), None)
