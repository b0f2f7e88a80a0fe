"""dagster-dbt's build-time step finds and prepares the dbt project of ``definitions.py``.

``dagster-dbt project prepare-and-package --file definitions.py`` is how a deployment image bakes
the manifest in (workers never parse): it must find the module's ``DbtProject`` and leave a
manifest in ``DBT_TARGET_PATH``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import ROOT, clean_environment, skip_without_dbt

skip_without_dbt()

pytestmark = pytest.mark.slow


def test_prepare_and_package_writes_the_manifest(
    local_airbyte_factory: Any, tmp_path: Path
) -> None:
    airbyte = local_airbyte_factory(seed="sample")
    target = tmp_path / "dbt-target"
    env = clean_environment(
        AIRBYTE_URL=airbyte.url,
        DAGSTER_AIRBYTE_ASSETS_STATE_DIR=str(tmp_path / "state"),
        DBT_TARGET_PATH=str(target),
        DAGSTER_AIRBYTE_DEMO_DBT="1",
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster-dbt")),
            "project",
            "prepare-and-package",
            "--file",
            str(ROOT / "definitions.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Project preparation complete." in result.stdout
    manifest = json.loads((target / "manifest.json").read_text())
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert models == {
        "stg_customers",
        "stg_products",
        "stg_orders",
        "customer_orders",
        "daily_revenue",
    }
