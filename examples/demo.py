"""The demo behind ``make demo``: a local Airbyte, the sample workspace, every asset materialized.

1. starts the local Airbyte in the background on loopback, with its state in ``.local-airbyte/``
   (seeded with Sample Data → DuckDB the first time; a second run syncs incrementally);
2. loads ``definitions.py`` against it and materializes every asset (the Airbyte streams, then the
   dbt models over the same DuckDB file), printing one line per asset as it completes;
3. prints what it did (per asset: rows, time), stops the server, exits non-zero on any failure.

Runs are recorded in ``.dagster_home/`` (telemetry off, tagged ``launched_by=make demo``), so
``make ui`` shows them afterwards. Environment: ``DEMO_STATE_DIR``, ``DAGSTER_HOME``,
``DEMO_PORT`` (default 8000). The demo ignores ``AIRBYTE_*``/``DBT_*`` settings meant for a real
Airbyte.

The port is what keeps the links in the metadata alive: connection and job links name the
server that ran the sync, ``http://127.0.0.1:$DEMO_PORT``, and ``make demo``, ``make ui`` and
``make serve`` serve the same state (``DEMO_STATE_DIR``) on that same port, so a link recorded by
one opens whenever any of them runs. When the port is taken by another program the demo says so
and uses a free one; the links of that run then point at a port nobody serves again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONNECTION = "Sample Data → DuckDB"  # the local Airbyte's seeded connection
STATE_DIR = Path(os.environ.get("DEMO_STATE_DIR") or ROOT / ".local-airbyte").resolve()
DAGSTER_HOME = Path(os.environ.get("DAGSTER_HOME") or ROOT / ".dagster_home").resolve()
PREFERRED_PORT = int(os.environ.get("DEMO_PORT") or "8000")
# Settings for a real Airbyte (a developer's shell or .env) must not leak into the demo.
FOREIGN_ENV = (
    "AIRBYTE_API",
    "AIRBYTE_WORKSPACE_ID",
    "AIRBYTE_USERNAME",
    "AIRBYTE_PASSWORD",
    "AIRBYTE_TOKEN",
    "AIRBYTE_CLIENT_ID",
    "AIRBYTE_CLIENT_SECRET",
    "AIRBYTE_STATE_REFRESH",
    "AIRBYTE_CRON_OVERRIDES",
    "DBT_DUCKDB_PATH",
    "DBT_PROJECT_DIR",
    "DBT_TARGET",
)


def port_is_free(port: int) -> bool:
    """Whether a server can listen on ``port`` on loopback, binding as the local Airbyte does.

    Both the local Airbyte and uvicorn bind with ``SO_REUSEADDR``: a port whose last connections
    are still in TIME_WAIT (an immediate rerun) is free for them, and must look free here.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def choose_port(preferred: int, setting: str, what: str) -> int:
    """``preferred`` when free, else a free port, announced on stdout (never a silent switch)."""
    if port_is_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    print(
        f"Port {preferred} ({setting}) is in use by another program: {what} uses port {port} "
        f"instead. Set {setting} to choose another.",
        flush=True,
    )
    return port


# Settings the demo's instance gets unless its dagster.yaml already says otherwise.
INSTANCE_SETTINGS = {
    "telemetry:": "telemetry:\n  enabled: false\n",
    # A run launched from the UI waits in the queue until the daemon's next look, every 5 s by
    # default: looking every second takes ~2 s off the average UI-launched run.
    "run_coordinator:": (
        "run_coordinator:\n"
        "  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
        "  config:\n"
        "    dequeue_interval_seconds: 1\n"
    ),
}


def prepare_dagster_home(home: Path) -> None:
    """Create ``home`` with a ``dagster.yaml``: telemetry off, queued runs started promptly."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    text = config.read_text() if config.exists() else ""
    missing = [block for key, block in INSTANCE_SETTINGS.items() if key not in text]
    if missing:
        separator = "\n" if text and not text.endswith("\n") else ""
        config.write_text(text + separator + "".join(missing))


def demo_environment(state_dir: Path, airbyte_url: str) -> dict[str, str]:
    """The variables ``definitions.py`` needs to target the demo's local Airbyte and dbt."""
    return {
        "AIRBYTE_URL": airbyte_url,
        "AIRBYTE_POLL_INTERVAL": os.environ.get("AIRBYTE_POLL_INTERVAL", "2"),
        "DAGSTER_AIRBYTE_ASSETS_STATE_DIR": str(state_dir / "dagster-state"),
        "DBT_TARGET_PATH": str(state_dir / "dbt-target"),
        "DAGSTER_AIRBYTE_DEMO_DBT": "1",  # the demo is not complete without its dbt models
        # The sample connection is manual in Airbyte: give its tables a day before they are late.
        "AIRBYTE_FRESHNESS_MAX_AGE": json.dumps({SAMPLE_CONNECTION: 24 * 60}),
    }


@contextlib.contextmanager
def local_airbyte(state_dir: Path, port: int) -> Iterator[str]:
    """Run ``dagster-airbyte-assets local-airbyte serve --seed sample`` until the block ends."""
    command = [
        sys.executable,
        "-m",
        "dagster_airbyte_assets.cli",
        "local-airbyte",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--seed",
        "sample",
    ]
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "server.log", "a") as log:
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            yield _wait_for_url(server, log, timeout=90)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_for_url(server: subprocess.Popen[str], log: Any, timeout: float) -> str:
    """The URL the server announces; its stdout keeps draining into the log afterwards."""
    assert server.stdout is not None
    stdout = server.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # a full pipe would block the server: always keep reading
        for line in stdout:
            lines.put(line)
            log.write(line)
            log.flush()
        lines.put(None)

    threading.Thread(target=pump, daemon=True, name="local-airbyte-stdout").start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            server.wait()
            raise SystemExit(
                f"The local Airbyte exited with code {server.returncode}; see {log.name}."
            )
        for word in line.split():
            if word.startswith("http://"):
                return word.rstrip(".,")
    raise SystemExit(f"The local Airbyte did not start within {timeout:.0f} s; see {log.name}.")


# -- progress and summary -----------------------------------------------------------------------


@dataclass
class AssetLine:
    key: str
    kind: str  # "airbyte" or "dbt"
    rows: int | None
    seconds: float


class Progress(logging.Handler):
    """Turns Dagster's events into one line per asset (and per failure), as they happen."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.out = sys.stdout  # kept: the run's own output (dbt's log) is redirected elsewhere
        self.assets: list[AssetLine] = []
        self.checks_passed = 0
        self.checks_warned: list[str] = []
        self.checks_failed: list[str] = []
        self.failures: list[str] = []
        self.job_links: list[str] = []  # Airbyte's page of each job, from the metadata
        self.load_seconds = 0.0
        self.run_seconds = 0.0
        self._started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if event is None:
            return
        kind = event.event_type_value
        step = event.step_key or ""
        if kind == "STEP_START":
            self._started[step] = time.monotonic()
            self._say(f"  … {step}")
        elif kind == "STEP_SUCCESS":
            seconds = time.monotonic() - self._started.get(step, time.monotonic())
            self._say(f"  ✓ {step} done in {seconds:.1f}s")
        elif kind == "ASSET_MATERIALIZATION":
            self._materialized(event, step)
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if evaluation.passed:
                self.checks_passed += 1
            elif evaluation.severity.value == "WARN":
                self.checks_warned.append(name)
                self._say(f"  ! check {name} warned")
            else:
                self.checks_failed.append(name)
                self._say(f"  ✗ check {name} FAILED")
        elif kind == "STEP_FAILURE":
            error = event.event_specific_data.error
            message = error.message.strip().splitlines()[0] if error else "unknown error"
            self.failures.append(f"{step}: {message}")
            self._say(f"  ✗ {step} FAILED: {message}")

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def _materialized(self, event: Any, step: str) -> None:
        from dagster_airbyte_assets.translator import MetadataKeys

        materialization = event.event_specific_data.materialization
        meta = {k: v.value for k, v in materialization.metadata.items()}
        key = materialization.asset_key.to_user_string()
        is_airbyte = MetadataKeys.CONNECTION_ID in meta or MetadataKeys.JOB_ID in meta
        # A stream: the records this sync moved; a dbt model: the rows its table holds.
        rows = meta.get(MetadataKeys.RECORDS_SYNCED if is_airbyte else MetadataKeys.ROW_COUNT)
        link = meta.get(MetadataKeys.JOB_URL)
        if isinstance(link, str) and link not in self.job_links:
            self.job_links.append(link)
        # dbt reports each model's own build time; a sync's time is the step's (sync + wait).
        built_in = meta.get("Execution Duration")
        seconds = (
            float(built_in)
            if isinstance(built_in, int | float)
            else time.monotonic() - self._started.get(step, time.monotonic())
        )
        line = AssetLine(
            key,
            "airbyte" if is_airbyte else "dbt",
            rows if isinstance(rows, int) else None,
            seconds,
        )
        self.assets.append(line)
        if line.rows is None:
            rows_text = "built"
        else:  # a stream: what this sync moved; a dbt model: the rows it holds
            rows_text = f"{line.rows:,} rows" + (" synced" if line.kind == "airbyte" else "")
        self._say(f"    {key:32} {rows_text:>18}  {seconds:6.1f}s")


def _print_summary(progress: Progress) -> None:
    print("\nWhat the demo materialized:")
    print(f"  {'asset':32} {'kind':8} {'rows':>10} {'time':>8}")
    for line in progress.assets:
        rows = f"{line.rows:,}" if line.rows is not None else "-"
        print(f"  {line.key:32} {line.kind:8} {rows:>10} {line.seconds:7.1f}s")
    synced = sum(line.rows or 0 for line in progress.assets if line.kind == "airbyte")
    print(
        f"\n{len(progress.assets)} assets materialized in {progress.run_seconds:.1f}s (after "
        f"{progress.load_seconds:.1f}s loading definitions.py); Airbyte moved {synced:,} rows "
        "(streams: rows synced this run; dbt models: rows in the table, as dagster-dbt's "
        "fetch_row_counts() reports them; it leaves views uncounted)."
    )
    checks = progress.checks_passed + len(progress.checks_warned) + len(progress.checks_failed)
    print(
        f"{checks} asset checks: {progress.checks_passed} passed, "
        f"{len(progress.checks_warned)} warned, {len(progress.checks_failed)} failed."
    )


class LoadProgress(logging.Handler):
    """Prints what loading ``definitions.py`` is doing (its INFO lines), with the time so far."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        print(f"  [{time.monotonic() - self.started:5.1f}s] {message}", flush=True)

    def emit(self, record: logging.LogRecord) -> None:
        self.say(record.getMessage())


def load_definitions() -> Any:
    """Import ``definitions.py`` (the first time ~20 s, mostly ``dbt parse``), saying what runs."""
    progress = LoadProgress()
    logger = logging.getLogger("dagster_airbyte_assets")
    previous_level = logger.level
    logger.addHandler(progress)
    logger.setLevel(logging.INFO)
    try:
        progress.say("importing Dagster and dagster-dbt")
        import dagster  # noqa: F401

        with contextlib.suppress(ImportError):
            import dagster_dbt  # noqa: F401

        sys.path.insert(0, str(ROOT))
        from definitions import defs
    finally:
        logger.removeHandler(progress)
        logger.setLevel(previous_level)
    progress.say("loaded definitions.py")
    _describe_automation()
    return defs


def _describe_automation() -> None:
    """What keeps the data fresh: the freshness checks and the models' automation condition."""
    import definitions

    checked = sorted(
        key.asset_key.to_user_string()
        for check in definitions.airbyte_freshness_checks
        for key in check.check_keys
    )
    if checked:
        print(
            f"  freshness: {len(checked)} checks ({', '.join(checked)}) from the connections' "
            "Airbyte schedules or AIRBYTE_FRESHNESS_MAX_AGE (sensor airbyte_freshness_sensor)",
            flush=True,
        )
    models = [spec.key for a in definitions.dbt_model_assets for spec in a.specs]
    if models:
        condition = definitions.DBT_AUTOMATION_CONDITION
        print(
            f"  automation: {len(models)} dbt models build when their Airbyte streams are "
            f"synced, by Dagster or by Airbyte's scheduler (AutomationCondition "
            f"{condition.get_label() or condition.name}, sensor dbt_follows_airbyte)",
            flush=True,
        )


# The job definitions.py names for "every asset": the demo's runs show it as their Target.
JOB_NAME = "sync_and_transform"
RUN_TAGS = {"launched_by": "make demo"}


def materialize_everything(progress: Progress, run_log: Path) -> bool:
    """Load ``definitions.py`` and run every asset (and check) in this process.

    What the run prints itself (dbt's log lines) goes to ``run_log``, not the terminal.
    """
    import dagster as dg

    loading = time.monotonic()
    defs = load_definitions()
    progress.load_seconds = time.monotonic() - loading

    @dg.logger
    def progress_logger(_: Any) -> logging.Logger:
        logger = logging.Logger("demo_progress", level=logging.DEBUG)
        logger.addHandler(progress)
        return logger

    with_progress = dg.Definitions.merge(
        defs, dg.Definitions(loggers={"progress": progress_logger})
    )
    job = with_progress.get_job_def(JOB_NAME)
    print(f"Materializing every asset (job {JOB_NAME}):", flush=True)
    with (
        dg.DagsterInstance.get() as instance,
        open(run_log, "w") as log,
        contextlib.redirect_stdout(log),
    ):
        running = time.monotonic()
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags=RUN_TAGS,
            # Only our logger: Dagster's console logger would print every event.
            run_config={"loggers": {"progress": {}}},
        )
        progress.run_seconds = time.monotonic() - running
    return bool(result.success)


def main() -> int:
    warnings.filterwarnings("ignore")  # beta/preview notices from Dagster are noise here
    for name in FOREIGN_ENV:
        os.environ.pop(name, None)
    prepare_dagster_home(DAGSTER_HOME)
    os.environ["DAGSTER_HOME"] = str(DAGSTER_HOME)
    port = choose_port(PREFERRED_PORT, "DEMO_PORT", "the local Airbyte")
    if port != PREFERRED_PORT:
        print(
            f"  The links this run records point at port {port}, which nothing serves once the "
            f"demo ends (`make ui` serves this state on port {PREFERRED_PORT}).",
            flush=True,
        )
    print(f"Starting the local Airbyte (state in {STATE_DIR}) ...", flush=True)
    progress = Progress()
    run_log = STATE_DIR / "last-run.log"
    with local_airbyte(STATE_DIR, port) as url:
        print(f"Local Airbyte is up at {url}; loading definitions.py:", flush=True)
        os.environ.update(demo_environment(STATE_DIR, url))
        try:
            success = materialize_everything(progress, run_log)
        except Exception as exc:  # definitions failed to load: say so without a wall of text
            print(f"  ✗ loading definitions.py failed: {type(exc).__name__}: {exc}", flush=True)
            success = False
    print("Local Airbyte stopped.", flush=True)
    _print_summary(progress)
    if not success or progress.failures or progress.checks_failed:
        print(
            f"The demo FAILED: see the lines marked ✗ above, dbt's output in {run_log} and the "
            f"server's log in {STATE_DIR / 'server.log'}.",
            file=sys.stderr,
        )
        return 1
    for link in progress.job_links:
        print(
            f"\nAirbyte's page of this sync: {link}\n  (served while `make ui` or `make serve` runs)"
        )
    print(
        "\nOpen the Dagster UI on the same workspace with `make ui` (http://127.0.0.1:3000);"
        "\nrun `make demo` again to sync incrementally."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
