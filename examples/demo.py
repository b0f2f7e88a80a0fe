"""The demo behind ``make demo``: a local Airbyte, the sample workspace, every asset materialized.

1. starts the local Airbyte in the background on loopback, with its state in ``.local-airbyte/``
   (seeded with Sample Data → DuckDB the first time; a second run syncs incrementally);
2. loads ``definitions.py`` against it and materializes every asset, logging progress;
3. prints what it did (per asset: rows, time), stops the server, and exits non-zero on failure.

Runs are recorded in ``.dagster_home/``, so ``make ui`` shows them afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("DEMO_STATE_DIR", ROOT / ".local-airbyte"))
DAGSTER_HOME = Path(os.environ.get("DAGSTER_HOME", ROOT / ".dagster_home"))
PREFERRED_PORT = int(os.environ.get("DEMO_PORT", "8000"))


def _free_port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])


@contextlib.contextmanager
def local_airbyte(port: int) -> Iterator[str]:
    """Run ``dagster-airbyte-assets local-airbyte serve`` until the block ends."""
    command = [
        sys.executable,
        "-m",
        "dagster_airbyte_assets.cli",
        "local-airbyte",
        "serve",
        "--port",
        str(port),
        "--state-dir",
        str(STATE_DIR),
        "--seed",
        "sample",
    ]
    log_path = STATE_DIR.with_name(STATE_DIR.name + ".log")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            url = _wait_for_url(server, timeout=90)
            yield url
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_for_url(server: subprocess.Popen[str], timeout: float) -> str:
    assert server.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            if server.poll() is not None:
                raise SystemExit(f"The local Airbyte exited with code {server.returncode}.")
            continue
        for word in line.split():
            if word.startswith("http://"):
                return word.rstrip(".,")
    raise SystemExit("The local Airbyte did not start within 90 s.")


def main() -> int:
    port = _free_port(PREFERRED_PORT)
    DAGSTER_HOME.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(DAGSTER_HOME)
    os.environ.setdefault("DBT_DUCKDB_PATH", str(STATE_DIR / "warehouse.duckdb"))
    print(f"Starting the local Airbyte (state in {STATE_DIR}) ...", flush=True)
    with local_airbyte(port) as url:
        print(f"Local Airbyte is up at {url}", flush=True)
        os.environ["AIRBYTE_URL"] = url
        os.environ["DAGSTER_AIRBYTE_ASSETS_STATE_DIR"] = str(STATE_DIR / "dagster-state")
        sys.path.insert(0, str(ROOT))
        import dagster as dg

        from dagster_airbyte_assets.translator import MetadataKeys
        from definitions import defs

        started = time.monotonic()
        with dg.DagsterInstance.get() as instance:
            job = defs.resolve_implicit_global_asset_job_def()
            result = job.execute_in_process(
                instance=instance,
                resources=None,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            )
        elapsed = time.monotonic() - started

        print("\nWhat the demo materialized:")
        print(f"  {'asset':40} {'rows':>8} {'job':>6} {'sync time':>10}")
        materializations = result.get_asset_materialization_events()
        for event in materializations:
            mat = event.event_specific_data.materialization  # type: ignore[union-attr]
            meta = {k: v.value for k, v in mat.metadata.items()}
            rows = meta.get(MetadataKeys.ROW_COUNT, "?")
            job_id = meta.get(MetadataKeys.JOB_ID, "")
            duration = meta.get(MetadataKeys.DURATION_S)
            took = f"{duration:.1f}s" if isinstance(duration, int | float) else "-"
            print(f"  {mat.asset_key.to_user_string():40} {rows!s:>8} {job_id!s:>6} {took:>10}")
        print(f"\n{len(materializations)} assets materialized in {elapsed:.1f}s.")
        if not result.success:
            print("The demo FAILED: see the errors above.", file=sys.stderr)
            return 1
    print("Open the UI on the same workspace with: make ui")
    return 0


if __name__ == "__main__":
    sys.exit(main())
