"""A real multi-process Dagster deployment on this machine materializes the seeded workspace.

- run and event storage in PostgreSQL (``dagster-postgres``, a throw-away database);
- a gRPC code server that defines the code location: the Python API
  (``celery_code_location.py``, which fetches the workspace at load) or the component with
  ``VERSIONED_STATE_STORAGE`` (state fetched beforehand by ``dg utils refresh-defs-state`` into
  the instance's ``defs_state_storage``, which a Celery task has no access to);
- the ``dagster-celery`` executor on RabbitMQ (a throw-away vhost);
- a Celery worker started in an empty working directory, with no ``DAGSTER_HOME``, no snapshot
  file and an empty state directory.

While the run executes, the local Airbyte refuses every workspace-loading route (404) and counts
requests: the run must succeed, the worker must build the very keys the code server defined,
and Airbyte must see only the calls a sync needs. Skipped where PostgreSQL or RabbitMQ are
missing, never under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from dagster._core.events import DagsterEventType

pytestmark = [pytest.mark.distributed, pytest.mark.slow, pytest.mark.postgres]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TABLES = ("customers", "products", "orders")
# What loading a workspace calls (both dialects); a sync needs none of them.
LOADING_ROUTES = (
    r"^/api/v1/(workspaces|connections|destinations|sources)/(list|get)"
    r"|^/api/public/v1/(workspaces|connections|destinations|sources)"
)
SYNC_ROUTE = re.compile(r"/jobs|/connections/sync")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require(what: str, host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} at {host}:{port} is required under CI=true: {exc}")
        pytest.skip(f"{what} not available at {host}:{port}: {exc}")


@pytest.fixture
def rabbitmq_vhost() -> Iterator[str]:
    """A fresh RabbitMQ vhost (so this test shares no queue with anything), deleted after."""
    _require("RabbitMQ", "127.0.0.1", 5672)
    vhost = f"dab-{uuid.uuid4().hex[:10]}"
    ctl = ["rabbitmqctl", "-q"]
    try:
        subprocess.run([*ctl, "add_vhost", vhost], check=True, capture_output=True, timeout=60)
        subprocess.run(
            [*ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot create a RabbitMQ vhost with rabbitmqctl: {exc}")
        pytest.skip(f"cannot create a RabbitMQ vhost with rabbitmqctl: {exc}")
    try:
        yield vhost
    finally:
        subprocess.run([*ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


class _Process:
    """A child process whose output goes to a file, stopped with SIGTERM then SIGKILL."""

    def __init__(self, name: str, args: list[str], cwd: Path, env: dict[str, str], log: Path):
        self.name = name
        self.log = log
        self._handle = log.open("w")
        self.popen = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._handle, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.output()):
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready:\n{self.output()[-4000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._handle.close()


def _dagster_yaml(home: Path, database: Any) -> None:
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(
        f"""
storage:
  postgres:
    postgres_db:
      hostname: {database.host}
      port: {database.port}
      username: {database.user}
      password: ""
      db_name: {database.database}
      scheme: postgresql+psycopg2
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""
    )


def _environment(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRBYTE_", "DAGSTER_AIRBYTE_", "DAGSTER_HOME", "DAGSTER_CELERY"))
    }
    # This tree first (the venv may hold another checkout), then the code location's folder.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)])
    env.update(extra)  # may replace PYTHONPATH
    return env


def _jobs(server: Any) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{server.config_api_url}/jobs/list",
        json={"configTypes": ["sync"], "configId": server.sample_connection_id},
        timeout=30,
    )
    response.raise_for_status()
    return list(response.json()["jobs"])


COMPONENT_DEFINITIONS = """
import os
from pathlib import Path

import dagster as dg
from dagster_celery import celery_executor


@dg.definitions
def defs() -> dg.Definitions:
    airbyte = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    celery = celery_executor.configured(
        {"broker": os.environ.get("TEST_CELERY_BROKER", ""), "backend": "rpc://"}
    )
    return dg.Definitions.merge(
        airbyte,
        dg.Definitions(
            jobs=[dg.define_asset_job("airbyte_sync", selection=dg.AssetSelection.all())],
            executor=celery,
        ),
    )
"""

COMPONENT_YAML = """
type: dagster_airbyte_assets.component.AirbyteAssetsComponent
attributes:
  workspace:
    url: "{{ env.TEST_AIRBYTE_URL }}"
    poll_interval: 1
  defs_state:
    management_type: VERSIONED_STATE_STORAGE
    refresh_if_dev: false
"""


def _component_project(root: Path) -> Path:
    """A dg project whose component keeps its state in the instance's defs_state_storage."""
    package = root / "src" / "airbyte_celery_component"
    (package / "defs" / "airbyte").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "airbyte_celery_component"\nversion = "0.1.0"\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "airbyte_celery_component"\n'
    )
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(COMPONENT_DEFINITIONS)
    (package / "defs" / "airbyte" / "defs.yaml").write_text(COMPONENT_YAML)
    return root / "src"


@pytest.mark.parametrize("api", ["python", "component"])
def test_celery_workers_build_the_code_servers_definitions_without_airbyte(
    local_airbyte: Any, pg_database: Any, rabbitmq_vhost: str, tmp_path: Path, api: str
) -> None:
    home = tmp_path / "dagster_home"
    _dagster_yaml(home, pg_database)
    broker = f"pyamqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}"
    port = _free_port()
    code_dir, worker_dir = tmp_path / "code-server", tmp_path / "worker"
    code_state, worker_state = tmp_path / "code-server-state", tmp_path / "worker-state"
    for folder in (code_dir, worker_dir, worker_state):
        folder.mkdir()
    shared = {"TEST_AIRBYTE_URL": local_airbyte.url, "TEST_CELERY_BROKER": broker}
    bin_dir = Path(sys.executable).parent
    module = "celery_code_location"
    if api == "component":
        # The code travels as an installed package would; its state is fetched beforehand by
        # Dagster's own command into the instance's defs_state_storage, as a deploy step does.
        project_src = _component_project(tmp_path / "project")
        shared["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), str(project_src)])
        module = "airbyte_celery_component.definitions"
        refresh = subprocess.run(
            [str(bin_dir / "dg"), "utils", "refresh-defs-state"],
            cwd=project_src.parent,
            env=_environment(DAGSTER_HOME=str(home), **shared),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert refresh.returncode == 0, refresh.stdout + refresh.stderr
    worker_name = f"dab-{uuid.uuid4().hex[:8]}"
    jobs_before = {job["job"]["id"] for job in _jobs(local_airbyte)}

    code_server = _Process(
        "code server",
        [
            str(bin_dir / "dagster"),
            *f"api grpc -m {module} -a defs -h 127.0.0.1 -p {port}".split(),
            "-d",
            str(code_dir),
        ],
        cwd=code_dir,
        env=_environment(
            DAGSTER_HOME=str(home), DAGSTER_AIRBYTE_ASSETS_STATE_DIR=str(code_state), **shared
        ),
        log=tmp_path / "code-server.log",
    )
    worker = _Process(
        "celery worker",
        [
            str(bin_dir / "celery"),
            *f"-A dagster_celery.app -b {broker} worker -l INFO -c 1 --prefetch-multiplier=1".split(),
            *f"-n {worker_name}@%h --without-gossip --without-mingle --without-heartbeat".split(),
        ],
        cwd=worker_dir,
        env=_environment(DAGSTER_AIRBYTE_ASSETS_STATE_DIR=str(worker_state), **shared),
        log=tmp_path / "worker.log",
    )
    try:
        code_server.wait_for(r"Started Dagster code server")
        worker.wait_for(r"ready\.")
        if api == "python":
            # The code server defined the location: it fetched the workspace and saved it.
            assert [p.name for p in code_state.iterdir()] != []

        # From now on Airbyte answers no loading call, and counts every request.
        httpx.delete(f"{local_airbyte.url}/_local/requests").raise_for_status()
        httpx.post(
            f"{local_airbyte.url}/_local/faults",
            json={"fail_rate": 1.0, "fail_status": 404, "path_regex": LOADING_ROUTES},
        ).raise_for_status()

        workspace_yaml = tmp_path / "workspace.yaml"
        workspace_yaml.write_text(
            "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
            f"      port: {port}\n      location_name: airbyte_celery\n"
        )
        launch = subprocess.run(
            [
                str(bin_dir / "dagster"),
                "job",
                "launch",
                "-w",
                str(workspace_yaml),
                "-j",
                "airbyte_sync",
            ],
            cwd=tmp_path,
            env=_environment(DAGSTER_HOME=str(home)),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert launch.returncode == 0, launch.stdout + launch.stderr

        with dg.DagsterInstance.from_config(str(home)) as instance:
            [run] = instance.get_runs()
            deadline = time.monotonic() + 240
            while not (run := instance.get_run_by_id(run.run_id)).is_finished:  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the run did not finish"
                time.sleep(0.5)
            events = instance.all_logs(run.run_id)
            failures = [
                e.message for e in events if e.is_dagster_event and e.dagster_event.is_failure
            ]  # type: ignore[union-attr]
            assert run.status == dg.DagsterRunStatus.SUCCESS, (
                failures,
                worker.output()[-3000:],
            )
            assert run.has_repository_load_data  # the code server's state went with the run

            plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)  # type: ignore[arg-type]
            planned = {
                output.properties.asset_key
                for step in plan.steps
                for output in step.outputs
                if output.properties is not None and output.properties.asset_key is not None
            }
            materialized = {
                e.dagster_event.asset_key  # type: ignore[union-attr]
                for e in events
                if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION
            }
            rows = {
                e.dagster_event.asset_key: e.dagster_event.step_materialization_data.materialization.metadata[  # type: ignore[union-attr]
                    "dagster/row_count"
                ].value
                for e in events
                if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION
            }
            in_worker = [
                e
                for e in events
                if e.dagster_event_type == DagsterEventType.ENGINE_EVENT
                and "in celery worker" in e.message
            ]

        seeded = {dg.AssetKey(["raw", table]) for table in TABLES}
        assert planned == seeded
        assert materialized == planned  # identical keys on the worker
        assert all(int(value) > 0 for value in rows.values())  # type: ignore[call-overload]
        assert in_worker, "no step ran in the Celery worker"
        hosts = {
            str(e.dagster_event.engine_event_data.metadata["Celery worker"].value)  # type: ignore[union-attr]
            for e in in_worker
        }
        assert all(host.startswith(f"{worker_name}@") for host in hosts)

        # Airbyte's side: the run made only the calls a sync needs, and exactly one sync.
        routes = httpx.get(f"{local_airbyte.url}/_local/requests").json()["by_route"]
        loading = sorted(r for r in routes if not SYNC_ROUTE.search(r))
        assert loading == [], f"workspace-loading calls during the run: {loading}"
        assert any(SYNC_ROUTE.search(r) for r in routes)
        new_jobs = [job for job in _jobs(local_airbyte) if job["job"]["id"] not in jobs_before]
        assert [job["job"]["status"] for job in new_jobs] == ["succeeded"]

        # The worker built everything from the run's reconstruction metadata: no file anywhere.
        assert list(worker_dir.iterdir()) == [] and list(worker_state.iterdir()) == []
    finally:
        httpx.delete(f"{local_airbyte.url}/_local/faults")
        worker.stop()
        code_server.stop()
