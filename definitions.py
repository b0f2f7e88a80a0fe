"""Dagster definitions for an Airbyte workspace and the dbt models downstream, from the environment.

By default they point at the local Airbyte that ``make demo`` / ``make ui`` / ``make serve`` start
(``http://127.0.0.1:8000``). Point them at a real Airbyte with environment variables (see
``.env.example`` and the README):

- ``AIRBYTE_URL``: deployment root (``http://host:8000``) or an API base URL
  (``.../api/v1`` for the Config API, ``.../api/public/v1`` for the Public API)
- ``AIRBYTE_API``: ``config`` or ``public`` (optional; guessed from the URL)
- ``AIRBYTE_WORKSPACE_ID`` (optional when the server has exactly one workspace)
- ``AIRBYTE_USERNAME`` / ``AIRBYTE_PASSWORD`` (basic auth), ``AIRBYTE_TOKEN`` (a static bearer
  token), ``AIRBYTE_CLIENT_ID`` / ``AIRBYTE_CLIENT_SECRET`` (client credentials)
- ``AIRBYTE_STATE_REFRESH``: ``always`` (default here: every load re-reads the workspace, falling
  back to the saved state when Airbyte is down), ``if_missing`` (reloads make no API calls) or
  ``never``
- ``AIRBYTE_POLL_INTERVAL``: upper bound in seconds between job polls (default 20)
- ``AIRBYTE_CRON_OVERRIDES``: JSON object, connection name or id -> 5-field cron (UTC), for
  connections Airbyte does not schedule (or to replace Airbyte's schedule)
- ``DAGSTER_FULL_REFRESH_CRON``: cron of the ``sync_and_transform`` schedule over the whole graph
  (default ``0 6 * * *``, stopped until turned on)

The dbt part (``examples/dbt_project`` via dagster-dbt) follows the destination:

- ``DAGSTER_AIRBYTE_DEMO_DBT``: ``auto`` (default: include dbt when its warehouse is known),
  ``1`` (include it or fail loudly), ``0`` (Airbyte assets only)
- ``DBT_PROJECT_DIR`` (default ``examples/dbt_project``), ``DBT_TARGET`` (``duckdb`` default, or
  ``postgres`` with ``DBT_PG_HOST``/``DBT_PG_PORT``/``DBT_PG_USER``/``DBT_PG_PASSWORD``/
  ``DBT_PG_DBNAME``), ``DBT_TARGET_PATH`` (manifest and run artifacts; default
  ``.dagster_airbyte_assets/dbt-target``)
- ``DBT_DUCKDB_PATH``: the DuckDB file Airbyte writes. When unset, the path of the workspace's
  DuckDB destination is used if it exists on this machine (the local Airbyte's does); a DuckDB
  inside a real Airbyte's containers does not, so ``auto`` then leaves dbt out with a warning.

No ``from __future__ import annotations``: Dagster reads the dbt asset's ``context`` annotation.
"""

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions
from dagster_airbyte_assets.assets import load_airbyte_workspace_snapshot
from dagster_airbyte_assets.checks import build_airbyte_schema_drift_checks
from dagster_airbyte_assets.errors import AirbyteConfigurationError
from dagster_airbyte_assets.schedules import build_airbyte_schedules
from dagster_airbyte_assets.sensor import build_airbyte_sync_sensor

ROOT = Path(__file__).resolve().parent
logger = logging.getLogger("dagster_airbyte_assets")


def _secret(name: str) -> str | None:
    # EnvVar keeps the value out of the run config shown in the UI; only set it when present.
    return dg.EnvVar(name) if os.environ.get(name) else None


def _cron_overrides() -> dict[str, str]:
    raw = os.environ.get("AIRBYTE_CRON_OVERRIDES", "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AirbyteConfigurationError(
            f"AIRBYTE_CRON_OVERRIDES is not JSON ({exc.msg}); expected "
            '{"<connection name or id>": "<5-field cron>"}.'
        ) from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise AirbyteConfigurationError(
            'AIRBYTE_CRON_OVERRIDES must be a JSON object: {"<connection name or id>": "<cron>"}.'
        )
    return {str(k): v for k, v in value.items()}


airbyte = AirbyteWorkspace(
    url=os.environ.get("AIRBYTE_URL", "http://127.0.0.1:8000"),
    api=os.environ.get("AIRBYTE_API") or None,
    workspace_id=os.environ.get("AIRBYTE_WORKSPACE_ID") or None,
    username=os.environ.get("AIRBYTE_USERNAME") or None,
    password=_secret("AIRBYTE_PASSWORD"),
    token=_secret("AIRBYTE_TOKEN"),
    client_id=os.environ.get("AIRBYTE_CLIENT_ID") or None,
    client_secret=_secret("AIRBYTE_CLIENT_SECRET"),
    poll_interval=float(os.environ.get("AIRBYTE_POLL_INTERVAL", "20")),
)

airbyte_assets = build_airbyte_assets_definitions(
    workspace=airbyte,
    refresh=os.environ.get("AIRBYTE_STATE_REFRESH", "always"),  # type: ignore[arg-type]
)
# The loader above just saved the snapshot: the builders below read it, no second fetch.
airbyte_schedules = build_airbyte_schedules(
    workspace=airbyte,
    assets=airbyte_assets,
    cron_overrides=_cron_overrides(),
    on_unconvertible="skip",  # one odd Quartz expression must not take the whole location down
    refresh="if_missing",
)
airbyte_sync_sensor = build_airbyte_sync_sensor(workspace=airbyte, assets=airbyte_assets)
airbyte_drift_checks = build_airbyte_schema_drift_checks(assets=airbyte_assets)


# -- dbt downstream -----------------------------------------------------------------------------


def _followed_duckdb_path() -> str | None:
    """The file of the workspace's one DuckDB destination, when it lives on this machine."""
    snapshot = load_airbyte_workspace_snapshot(airbyte, refresh="if_missing")
    used = {c.destination_id for c in snapshot.connections}
    paths = {
        d.destination_path
        for d in snapshot.destinations.values()
        if d.destination_id in used and d.destination_type == "duckdb" and d.destination_path
    }
    if len(paths) != 1:
        return None
    path = Path(paths.pop())
    # Airbyte's own DuckDB destination writes inside its containers (/local/...): not ours.
    return str(path) if path.is_absolute() and path.parent.is_dir() else None


def _manifest_is_stale(project_dir: Path, manifest: Path) -> bool:
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds", "snapshots"):
        sources.extend(p for p in (project_dir / folder).rglob("*") if p.is_file())
    return any(p.exists() and p.stat().st_mtime > built for p in sources)


def _dbt_parts() -> tuple[list[dg.AssetsDefinition], dict[str, Any]]:
    """The dbt project's assets and resources; none when dbt is switched off or unknown."""
    mode = os.environ.get("DAGSTER_AIRBYTE_DEMO_DBT", "auto").strip().lower()
    if mode in ("0", "false", "no", "off"):
        return [], {}
    required = mode in ("1", "true", "yes", "on")

    def skip(reason: str) -> None:
        if required:
            raise AirbyteConfigurationError(f"DAGSTER_AIRBYTE_DEMO_DBT=1 but {reason}.")
        logger.warning("Leaving the dbt models out: %s.", reason)

    try:
        from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
    except ImportError:
        skip("dagster-dbt is not installed (pip install 'dagster-airbyte-assets[dbt]')")
        return [], {}

    target = os.environ.get("DBT_TARGET", "duckdb")
    if target == "duckdb" and not os.environ.get("DBT_DUCKDB_PATH"):
        followed = _followed_duckdb_path()
        if followed is None:
            skip(
                "DBT_DUCKDB_PATH is not set and the workspace has no DuckDB destination on this "
                "machine (set DBT_DUCKDB_PATH, or DBT_TARGET=postgres with DBT_PG_*)"
            )
            return [], {}
        # dbt (a subprocess) reads the path from its environment through profiles.yml.
        os.environ["DBT_DUCKDB_PATH"] = followed

    project_dir = Path(os.environ.get("DBT_PROJECT_DIR") or ROOT / "examples" / "dbt_project")
    target_path = Path(
        os.environ.get("DBT_TARGET_PATH") or ROOT / ".dagster_airbyte_assets" / "dbt-target"
    ).resolve()
    # Run artifacts go next to the manifest, never into the project directory in the repo.
    os.environ["DBT_TARGET_PATH"] = str(target_path)
    project = DbtProject(project_dir=project_dir, target_path=target_path, target=target)
    beside = Path(sys.executable).parent / "dbt"  # a venv's bin/ need not be on PATH
    dbt = DbtCliResource(
        project_dir=project, dbt_executable=str(beside) if beside.exists() else "dbt"
    )
    # `dbt parse` (a few seconds): under `dagster dev` on every load, as dagster-dbt's preparer
    # does, elsewhere only when the manifest is missing or older than the project. Our own call,
    # since the preparer runs a bare `dbt` that need not be on PATH.
    if project.preparer.using_dagster_dev() or _manifest_is_stale(
        project_dir, project.manifest_path
    ):
        dbt.cli(["parse", "--quiet"], target_path=target_path).wait()

    @dbt_assets(manifest=project.manifest_path, project=project, name="dbt_models")
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Any:
        # Sources are keyed [source name, table] = ["raw", "orders"]: the Airbyte stream keys.
        yield from dbt.cli(["build"], context=context).stream()

    # One group for the models (dbt's default is "default"); keys and deps stay dagster-dbt's.
    grouped = dbt_models.map_asset_specs(lambda spec: spec.replace_attributes(group_name="dbt"))
    return [grouped], {"dbt": dbt}


# A second module-level Definitions would confuse Dagster's loader: keep the parts apart.
dbt_model_assets, dbt_resources = _dbt_parts()

sync_and_transform = dg.ScheduleDefinition(
    name="sync_and_transform",
    target=dg.AssetSelection.all(),
    cron_schedule=os.environ.get("DAGSTER_FULL_REFRESH_CRON", "0 6 * * *"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Syncs every Airbyte connection, then builds the dbt models on top.",
)

defs = dg.Definitions(
    assets=[*airbyte_assets, *dbt_model_assets],
    asset_checks=airbyte_drift_checks,
    schedules=[*airbyte_schedules, sync_and_transform],
    sensors=[airbyte_sync_sensor],
    resources={"airbyte": airbyte, **dbt_resources},
)
