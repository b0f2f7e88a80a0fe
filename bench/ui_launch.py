"""A run launched from the Dagster UI against the same run in process (``make demo``).

Issue #12 asks that "Materialize all" in the UI take at most 1.5 times what ``make demo`` takes for
the same work. Both sides start from a fresh local Airbyte (the first sync of the sample
workspace, ~340 rows) and a fresh DAGSTER_HOME, and both time the Dagster run itself, from its
creation to its end, as Dagster records it:

- in process: ``examples/demo.py`` (``make demo``): definitions load, then the job runs in one
  process (``execute_in_process``);
- from the UI: ``examples/ui.py`` (``make ui``: ``dg dev``, its daemon, a code server) with the
  asset job launched over GraphQL as the UI's "Materialize all" does (``launchRun``, no run
  config), every process in the dev-CLI environment, with each executor
  ``DAGSTER_AIRBYTE_DEMO_EXECUTOR`` offers: ``in_process`` (what ``make ui`` picks: the run
  worker runs every step) and ``multiprocess`` (Dagster's default: a process per step). The
  time includes the queue, the run worker's start and each step process's start.

    python bench/ui_launch.py [--repeat N] [--executor in_process|multiprocess] [--repo PATH]

``--repo`` measures another checkout (its ``examples/`` and ``definitions.py``), e.g. the
code before a change. Prints one line per run and the ratio of the medians. Needs dbt (the
``dev`` extras) and free loopback ports; about 2 minutes per repetition on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXECUTORS = ("in_process", "multiprocess")
sys.path.insert(0, str(ROOT / "examples"))

# Drives the webserver as the UI does (shared with `make screenshots` and the e2e tests).
from dagster_ui import launch_materialize_all, wait_for_location, wait_for_run  # noqa: E402

# Settings meant for a real Airbyte must not reach either side.
FOREIGN_PREFIXES = ("AIRBYTE_", "DBT_", "DAGSTER_AIRBYTE_", "DEMO_", "DAGSTER_HOME", "DAGSTER_UI")


@dataclass(frozen=True)
class Timing:
    """One run as Dagster recorded it, in seconds."""

    side: str
    queued: float  # creation -> start (the UI: queue, run worker start and its load)
    running: float  # start -> end
    load: float | None = None  # definitions.py in the demo's process (not part of the run)

    @property
    def total(self) -> float:
        return self.queued + self.running


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(repo: Path, work: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_PREFIXES)}
    # Each checkout runs its own integration and server (as the shared-venv worktrees do).
    paths = [str(repo), str(repo / "local-airbyte"), env.get("PYTHONPATH", "")]
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in paths if p),
        DEMO_STATE_DIR=str(work / "local-airbyte"),
        DAGSTER_HOME=str(work / "dagster_home"),
        DEMO_PORT=str(_free_port()),
        AIRBYTE_POLL_INTERVAL="1",
        **extra,
    )
    env.pop("DAGSTER_IS_DEV_CLI", None)
    return env


def in_process(repo: Path, work: Path) -> Timing:
    """``make demo`` on a fresh state; the run's times from its DAGSTER_HOME."""
    import dagster as dg

    result = subprocess.run(
        [sys.executable, str(repo / "examples" / "demo.py")],
        cwd=repo,
        env=_environment(repo, work),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise SystemExit(f"make demo failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    loaded = re.search(
        r"loaded definitions\.py in ([0-9.]+)s|\[\s*([0-9.]+)s\] loaded", result.stdout
    )
    load = float(next(g for g in loaded.groups() if g)) if loaded else None
    with dg.DagsterInstance.from_config(str(work / "dagster_home")) as instance:
        [record] = instance.get_run_records()
        created = record.create_timestamp.timestamp()
        assert record.start_time is not None and record.end_time is not None
        return Timing(
            "in process", record.start_time - created, record.end_time - record.start_time, load
        )


def from_the_ui(repo: Path, work: Path, executor: str) -> Timing:
    """``make ui`` on a fresh state, "Materialize all" over GraphQL; the run's times."""
    ui_port = _free_port()
    url = f"http://127.0.0.1:{ui_port}"
    log = open(work / "make-ui.log", "wb")  # noqa: SIM115 - closed below, after the process
    ui = subprocess.Popen(
        [sys.executable, str(repo / "examples" / "ui.py")],
        cwd=repo,
        env=_environment(
            repo, work, DAGSTER_UI_PORT=str(ui_port), DAGSTER_AIRBYTE_DEMO_EXECUTOR=executor
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        location = wait_for_location(url, ui)["name"]
        run = wait_for_run(url, launch_materialize_all(url, location))
        if run["status"] != "SUCCESS":
            raise SystemExit(f"the run ended {run['status']}; see {work / 'make-ui.log'}")
        return Timing(
            f"UI, {executor}",
            run["startTime"] - run["creationTime"],
            run["endTime"] - run["startTime"],
        )
    finally:
        ui.send_signal(signal.SIGTERM)  # ui.py stops the Dagster services, then the Airbyte
        try:
            ui.wait(timeout=90)
        except subprocess.TimeoutExpired:
            ui.kill()
            ui.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(ui.pid, signal.SIGKILL)
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per side (default 1)")
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        action="append",
        help="executor of the UI-launched run (default: each)",
    )
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout to measure")
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    executors = args.executor or list(EXECUTORS)
    sides: list[tuple[str, Callable[[Path, Path], Timing]]] = [("in process", in_process)]
    sides += [(f"UI, {e}", functools.partial(from_the_ui, executor=e)) for e in executors]
    timings: list[Timing] = []
    for round_ in range(args.repeat):
        for _, side in sides:
            with tempfile.TemporaryDirectory(prefix="ui-launch-") as tmp:
                timing = side(repo, Path(tmp))
            timings.append(timing)
            load = f", definitions loaded in {timing.load:.1f} s first" if timing.load else ""
            print(
                f"round {round_ + 1} {timing.side:18} run {timing.total:6.1f} s "
                f"(creation->start {timing.queued:5.1f} s, start->end {timing.running:5.1f} s"
                f"{load})",
                flush=True,
            )
    medians = {
        name: statistics.median(t.total for t in timings if t.side == name) for name, _ in sides
    }
    demo = medians.pop("in process")
    print(f"\nmedian run in process (make demo): {demo:.1f} s")
    for name, value in medians.items():
        print(f"median run {name:18}: {value:.1f} s, ratio {value / demo:.2f}x")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "repo": str(repo),
                    "timings": [t.__dict__ | {"total": t.total} for t in timings],
                    "ratios": {name: value / demo for name, value in medians.items()},
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
