"""A run launched the way the Dagster UI launches it, under ``make ui``: dbt parses once.

``examples/ui.py`` (``make ui``) starts the local Airbyte and ``dg dev``, whose code server,
run worker and every step process carry ``DAGSTER_IS_DEV_CLI``. The run is launched as
"Materialize all" does (GraphQL ``launchRun`` on the asset job, no run config), once with the
executor ``make ui`` picks (in process: the run worker runs every step) and once with Dagster's
multiprocess default (a process per step, each loading ``definitions.py`` again). Every ``dbt``
command goes through a wrapper on PATH that records it with the process that ran it, so the
test sees the cause of slow UI runs directly rather than timing them (the timing lives in
``bench/ui_launch.py``):

- ``dbt parse`` runs once per code-server load, in the code server, and again after a reload;
- never in the run worker nor in a step process, though they load ``definitions.py`` too;
- ``dbt build`` runs once, in the process that runs the dbt step, in the dev-CLI environment;
- the run succeeds with every asset materialized.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    ROOT,
    clean_environment,
    free_port,
    graphql,
    launch_materialize_all,
    location_entry,
    skip_without_dbt,
    wait_for_run,
    wait_until_loaded,
)

skip_without_dbt()

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

LOCATION = "airbyte_and_dbt"
ASSETS = {
    "raw/customers",
    "raw/products",
    "raw/orders",
    "staging/stg_customers",
    "staging/stg_products",
    "staging/stg_orders",
    "marts/customer_orders",
    "marts/daily_revenue",
}
# Records each dbt command: DAGSTER_IS_DEV_CLI, the parent's pid and command line, dbt's args.
WRAPPER = """#!/bin/sh
{{ printf '%s\\t%s\\t' "${{DAGSTER_IS_DEV_CLI:-}}" "$PPID"
  tr '\\0' ' ' < /proc/$PPID/cmdline
  printf '\\t%s\\n' "$*"; }} >> "$DBT_CALLS_LOG"
exec {dbt} "$@"
"""


@dataclass(frozen=True)
class DbtCall:
    dev_cli: str
    parent_pid: int
    parent: str
    args: str


def _dbt_calls(log: Path, command: str) -> list[DbtCall]:
    calls = []
    for line in log.read_text().splitlines() if log.exists() else []:
        dev_cli, pid, parent, args = line.split("\t")
        if args.split()[:1] == [command]:
            calls.append(DbtCall(dev_cli, int(pid), parent, args))
    return calls


@dataclass(frozen=True)
class MakeUi:
    url: str
    home: Path
    calls: Path
    process: subprocess.Popen[bytes]
    log: Path
    multiprocess: bool


@pytest.fixture(params=["make ui's", "multiprocess"])
def make_ui(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeUi]:
    """``examples/ui.py`` with a recording ``dbt`` first on PATH; stopped as Ctrl-C would."""
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("the dbt wrapper reads /proc (Linux)")
    real_dbt = Path(sys.executable).with_name("dbt")
    assert real_dbt.exists(), real_dbt
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "dbt"
    wrapper.write_text(WRAPPER.format(dbt=real_dbt))
    wrapper.chmod(0o755)
    calls = tmp_path / "dbt-calls.tsv"
    ui_port = free_port()
    env = clean_environment(
        DEMO_STATE_DIR=str(tmp_path / "local-airbyte"),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        DEMO_PORT=str(free_port()),
        DAGSTER_UI_PORT=str(ui_port),
        AIRBYTE_POLL_INTERVAL="1",
        DBT_CALLS_LOG=str(calls),
        PATH=os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
    )
    env.pop("DAGSTER_IS_DEV_CLI", None)  # dg dev sets it: the test must not
    if request.param == "multiprocess":
        env["DAGSTER_AIRBYTE_DEMO_EXECUTOR"] = "multiprocess"
    log = tmp_path / "make-ui.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "ui.py")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield MakeUi(
            f"http://127.0.0.1:{ui_port}",
            tmp_path / "dagster_home",
            calls,
            process,
            log,
            multiprocess=request.param == "multiprocess",
        )
    finally:
        process.send_signal(signal.SIGTERM)  # ui.py stops dg dev, then the local Airbyte
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _run_pids(home: Path, run_id: str) -> tuple[set[int], set[int]]:
    """The run worker's pid and the step processes' pids, from Dagster's event log."""
    import dagster as dg

    run_pids, step_pids = set(), set()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for entry in instance.all_logs(run_id):
            event: Any = entry.dagster_event
            if event is None or event.pid is None:
                continue
            if event.event_type_value == "PIPELINE_START":
                run_pids.add(event.pid)
            elif event.event_type_value == "STEP_START":
                step_pids.add(event.pid)
    return run_pids, step_pids


RELOAD_MUTATION = """
mutation Reload($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename ... on PythonError { message } } }
"""


def test_a_run_launched_from_the_ui_never_parses_dbt_in_its_workers(make_ui: MakeUi) -> None:
    wait_until_loaded(make_ui.url, LOCATION, make_ui.process, make_ui.log)
    assert "Use 'dg dev' instead" not in make_ui.log.read_text()  # make ui runs dg dev
    [parse] = _dbt_calls(make_ui.calls, "parse")  # exactly one: the code server's load
    assert parse.dev_cli == "1" and "api grpc" in parse.parent, parse

    run_id = launch_materialize_all(make_ui.url, LOCATION)
    run = wait_for_run(make_ui.url, run_id)
    assert run["status"] == "SUCCESS", make_ui.log.read_text()[-3000:]
    assert {"/".join(m["assetKey"]["path"]) for m in run["assetMaterializations"]} == ASSETS

    run_pids, step_pids = _run_pids(make_ui.home, run_id)
    assert len(run_pids) == 1
    if make_ui.multiprocess:
        # The sync, checks and dbt steps each loaded definitions.py in a process of their own.
        assert len(step_pids) >= 2 and not run_pids & step_pids
    else:
        assert step_pids == run_pids  # make ui's choice: the run worker runs every step
    assert parse.parent_pid not in run_pids | step_pids
    assert _dbt_calls(make_ui.calls, "parse") == [parse]  # no worker parsed
    [build] = _dbt_calls(make_ui.calls, "build")
    assert build.parent_pid in step_pids and build.dev_cli == "1", (build, step_pids)

    # A reload is a new code-server load: one more parse, and only one.
    before = location_entry(make_ui.url, LOCATION)
    assert before is not None
    reloaded = graphql(make_ui.url, RELOAD_MUTATION, {"name": LOCATION})
    assert reloaded["reloadRepositoryLocation"]["__typename"] == "WorkspaceLocationEntry"
    entry = wait_until_loaded(make_ui.url, LOCATION, make_ui.process, make_ui.log)
    assert entry["updatedTimestamp"] > before["updatedTimestamp"]
    parses = _dbt_calls(make_ui.calls, "parse")
    assert len(parses) == 2 and parses[1].parent_pid not in run_pids | step_pids, parses
