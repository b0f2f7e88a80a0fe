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
- ``AIRBYTE_FRESHNESS_GRACE_MINUTES``: how long after its Airbyte schedule a sync may land before
  the freshness checks call the data late (default 30)
- ``AIRBYTE_POOL``: the Dagster concurrency pool of the sync steps (default ``airbyte``; empty: none)
- ``AIRBYTE_FRESHNESS_MAX_AGE``: JSON object, connection name or id -> minutes: the age beyond
  which its data is late, instead of its schedule's (the only way for a manual connection)
- ``DAGSTER_FULL_REFRESH_CRON``: cron of the ``sync_and_transform`` schedule over the whole graph
  (default ``0 6 * * *``, stopped until turned on)
- ``DAGSTER_AIRBYTE_DEMO_EXECUTOR``: ``multiprocess`` (default, a process per step) or
  ``in_process`` (one process per run; ``make ui`` sets it)

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
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions
from dagster_airbyte_assets._state import is_reconstruction
from dagster_airbyte_assets.assets import load_airbyte_workspace_snapshot
from dagster_airbyte_assets.checks import build_airbyte_schema_drift_checks
from dagster_airbyte_assets.errors import AirbyteConfigurationError
from dagster_airbyte_assets.freshness import (
    build_airbyte_freshness_checks,
    build_airbyte_freshness_sensor,
)
from dagster_airbyte_assets.maintenance import build_airbyte_maintenance_jobs
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


def _freshness_max_ages() -> dict[str, timedelta]:
    """``AIRBYTE_FRESHNESS_MAX_AGE``: connection name or id -> minutes (manual ones need it)."""
    raw = os.environ.get("AIRBYTE_FRESHNESS_MAX_AGE", "").strip()
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise AirbyteConfigurationError(
            f"AIRBYTE_FRESHNESS_MAX_AGE is not JSON ({exc.msg}); expected "
            '{"<connection name or id>": <minutes>}.'
        ) from None
    if not isinstance(value, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
    ):
        raise AirbyteConfigurationError(
            'AIRBYTE_FRESHNESS_MAX_AGE must be a JSON object: {"<connection name or id>": <minutes>}.'
        )
    return {str(k): timedelta(minutes=v) for k, v in value.items()}


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

logger.info("Loading the Airbyte workspace")
airbyte_assets = build_airbyte_assets_definitions(
    workspace=airbyte,
    refresh=os.environ.get("AIRBYTE_STATE_REFRESH", "always"),  # type: ignore[arg-type]
    # Every sync step takes a slot of this Dagster pool: cap concurrent syncs against this
    # Airbyte with `dagster instance concurrency set airbyte <n>` (no limit until set).
    pool=os.environ.get("AIRBYTE_POOL", "airbyte") or None,
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
# Late data, by each connection's own Airbyte schedule (syncs the sensor reports count too).
airbyte_freshness_checks = build_airbyte_freshness_checks(
    workspace=airbyte,
    assets=airbyte_assets,
    grace=timedelta(minutes=float(os.environ.get("AIRBYTE_FRESHNESS_GRACE_MINUTES", "30"))),
    max_age_overrides=_freshness_max_ages(),
    refresh="if_missing",
)
# Refresh / clear / reset per connection, launched by hand (clear and reset ask for confirmation).
airbyte_maintenance_jobs = build_airbyte_maintenance_jobs(assets=airbyte_assets)
airbyte_freshness_sensors = (
    [build_airbyte_freshness_sensor(airbyte_freshness_checks)] if airbyte_freshness_checks else []
)


# -- dbt downstream -----------------------------------------------------------------------------

# Dagster's eager condition: requested when any upstream (an Airbyte stream, or a model built in
# the same tick) has a new materialization, never while one is still in progress or missing.
DBT_AUTOMATION_CONDITION = dg.AutomationCondition.eager()


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


def _dbt_on_path() -> None:
    """Make ``dbt`` resolvable the way dagster-dbt runs it: from PATH.

    dagster-dbt's preparer (``DbtProject.preparer``, also behind ``dagster-dbt project
    prepare-and-package``) runs a bare ``dbt``. A virtual environment started by path
    (``.venv/bin/python``, as ``make demo`` does) is not activated, so its ``bin/`` is appended,
    never put first: a ``dbt`` already on PATH is the one the user chose.
    """
    if shutil.which("dbt") is None:
        bin_dir = str(Path(sys.executable).parent)
        os.environ["PATH"] = os.pathsep.join(p for p in (os.environ.get("PATH"), bin_dir) if p)


def _prepare_manifest(project: Any, project_dir: Path) -> None:
    """``dbt parse`` once per code-server load, never in a run or step worker.

    dagster-dbt's convention is ``prepare_if_dev()``: parse on every load under ``dagster dev`` /
    ``dg dev``, and at build time (``dagster-dbt project prepare-and-package --file
    definitions.py``) elsewhere. But every run worker and step process that ``dagster dev``
    launches inherits ``DAGSTER_IS_DEV_CLI`` and loads this file again: parsing there cost each
    step several seconds for a manifest the code server had just written. A worker rebuilds
    definitions the code server already defined (Dagster's RECONSTRUCTION load): it reads that
    manifest. Outside ``dagster dev`` the manifest is prepared only when missing or older than
    the project (the demo, a first ``dagster asset materialize``).
    """
    if is_reconstruction():
        if not project.manifest_path.exists():
            raise AirbyteConfigurationError(
                f"No dbt manifest at {project.manifest_path} in this run worker: the code server "
                "prepares it, so workers need the same DBT_TARGET_PATH (a shared disk or the "
                "image); run `dagster-dbt project prepare-and-package --file definitions.py` at "
                "build time."
            )
        return
    if project.preparer.using_dagster_dev():
        logger.info("Preparing the dbt manifest (dbt parse, as under dagster dev on every load)")
        project.prepare_if_dev()
    elif _manifest_is_stale(project_dir, project.manifest_path):
        logger.info("Preparing the dbt manifest (dbt parse: missing or older than the project)")
        project.preparer.prepare(project)


def _dbt_parts() -> tuple[Any, list[dg.AssetsDefinition], dict[str, Any]]:
    """The dbt project, its assets and resources; none when dbt is switched off or unknown."""
    mode = os.environ.get("DAGSTER_AIRBYTE_DEMO_DBT", "auto").strip().lower()
    if mode in ("0", "false", "no", "off"):
        return None, [], {}
    required = mode in ("1", "true", "yes", "on")

    def skip(reason: str) -> None:
        if required:
            raise AirbyteConfigurationError(f"DAGSTER_AIRBYTE_DEMO_DBT=1 but {reason}.")
        logger.warning("Leaving the dbt models out: %s.", reason)

    try:
        from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
    except ImportError:
        skip("dagster-dbt is not installed (pip install 'dagster-airbyte-assets[dbt]')")
        return None, [], {}

    target = os.environ.get("DBT_TARGET", "duckdb")
    if target == "duckdb" and not os.environ.get("DBT_DUCKDB_PATH"):
        followed = _followed_duckdb_path()
        if followed is None:
            skip(
                "DBT_DUCKDB_PATH is not set and the workspace has no DuckDB destination on this "
                "machine (set DBT_DUCKDB_PATH, or DBT_TARGET=postgres with DBT_PG_*)"
            )
            return None, [], {}
        # dbt (a subprocess) reads the path from its environment through profiles.yml.
        os.environ["DBT_DUCKDB_PATH"] = followed

    project_dir = Path(os.environ.get("DBT_PROJECT_DIR") or ROOT / "examples" / "dbt_project")
    target_path = Path(
        os.environ.get("DBT_TARGET_PATH") or ROOT / ".dagster_airbyte_assets" / "dbt-target"
    ).resolve()
    # Run artifacts go next to the manifest, never into the project directory in the repo.
    os.environ["DBT_TARGET_PATH"] = str(target_path)
    project = DbtProject(project_dir=project_dir, target_path=target_path, target=target)
    _dbt_on_path()
    _prepare_manifest(project, project_dir)

    @dbt_assets(manifest=project.manifest_path, project=project, name="dbt_models")
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Any:
        # Sources are keyed [source name, table] = ["raw", "orders"]: the Airbyte stream keys.
        # Each table's row count and each model's typed columns, read through dbt's adapter
        # once it is built (with DuckDB after dbt exits: its write lock allows no second
        # connection). Column lineage (sqlglot over every model) is left out: ~2 s per run.
        invocation = dbt.cli(["build"], context=context)
        yield from (
            invocation.stream().fetch_row_counts().fetch_column_metadata(with_column_lineage=False)
        )

    # One group for the models (dbt's default is "default"); keys and deps stay dagster-dbt's.
    # Automation that follows Airbyte: a model builds once the streams it reads are updated,
    # whoever synced them. Syncs Airbyte's own scheduler runs reach Dagster through the sync
    # sensor as materializations, so Airbyte keeps scheduling and the models still follow.
    grouped = dbt_models.map_asset_specs(
        lambda spec: spec.replace_attributes(
            group_name="dbt", automation_condition=DBT_AUTOMATION_CONDITION
        )
    )
    return project, [grouped], {"dbt": DbtCliResource(project_dir=project)}


# A second module-level Definitions would confuse Dagster's loader: keep the parts apart.
# `dbt_project` at module level: `dagster-dbt project prepare-and-package --file definitions.py`
# finds it there.
dbt_project, dbt_model_assets, dbt_resources = _dbt_parts()

# A named job, so runs of "everything" (the schedule's, the demo's) show a Target in the UI.
sync_and_transform_job = dg.define_asset_job(
    "sync_and_transform",
    selection=dg.AssetSelection.all(),
    description="Syncs every Airbyte connection, then builds the dbt models on top.",
)
sync_and_transform = dg.ScheduleDefinition(
    name="sync_and_transform",
    job=sync_and_transform_job,
    cron_schedule=os.environ.get("DAGSTER_FULL_REFRESH_CRON", "0 6 * * *"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Syncs every Airbyte connection, then builds the dbt models on top.",
)


def _automation_sensors() -> list[dg.AutomationConditionSensorDefinition]:
    """The sensor that evaluates the models' automation condition (running by default)."""
    if not dbt_model_assets:
        return []
    return [
        dg.AutomationConditionSensorDefinition(
            "dbt_follows_airbyte",
            target=dg.AssetSelection.assets(*dbt_model_assets),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=30,
            description="Builds the dbt models whose Airbyte streams were synced, by anyone.",
        )
    ]


def _executor() -> dg.ExecutorDefinition | None:
    """``DAGSTER_AIRBYTE_DEMO_EXECUTOR``: ``multiprocess`` (Dagster's default) or ``in_process``.

    Multiprocess runs each step (a connection's sync, its checks, dbt) in a process of its own,
    in parallel: what a deployment with many connections wants. Each such process starts an
    interpreter and loads these definitions again (~5 s on 2 cores), so for the demo's three
    steps one process per run is the faster choice: ``make ui`` picks ``in_process``.
    """
    choice = os.environ.get("DAGSTER_AIRBYTE_DEMO_EXECUTOR", "multiprocess").strip().lower()
    if choice in ("", "multiprocess"):
        return None
    if choice in ("in_process", "in-process"):
        return dg.in_process_executor
    raise AirbyteConfigurationError(
        f"DAGSTER_AIRBYTE_DEMO_EXECUTOR must be 'multiprocess' or 'in_process', not {choice!r}."
    )


defs = dg.Definitions(
    executor=_executor(),
    assets=[*airbyte_assets, *dbt_model_assets],
    asset_checks=[*airbyte_drift_checks, *airbyte_freshness_checks],
    schedules=[*airbyte_schedules, sync_and_transform],
    jobs=[sync_and_transform_job, *airbyte_maintenance_jobs],
    sensors=[airbyte_sync_sensor, *airbyte_freshness_sensors, *_automation_sensors()],
    resources={"airbyte": airbyte, **dbt_resources},
)
