"""Shared pieces of the end-to-end tests: the repository root, free ports, a clean environment.

These tests run the project as a user does (``definitions.py`` through ``dagster-webserver``,
``examples/demo.py`` as a script), so they need dbt: ``skip_without_dbt()`` skips a module
without it, except under ``CI=true``, where it must fail.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

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
