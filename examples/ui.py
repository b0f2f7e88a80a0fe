"""``make ui``: the local Airbyte of the demo plus ``dg dev`` on the same workspace.

Starts the local Airbyte in the background (the demo's state dir, so the demo's syncs and runs
are there, and its pages behind the metadata links), then ``dg dev -w workspace.yaml`` on
http://127.0.0.1:3000 with the environment ``definitions.py`` needs. ``dg dev`` is what Dagster
recommends over ``dagster dev`` (which warns so); with ``-w`` it runs the same server on our
``workspace.yaml``, no dg project needed. Ctrl-C (or SIGTERM) stops both. Environment:
``DEMO_STATE_DIR``, ``DAGSTER_HOME``, ``DEMO_PORT`` (the Airbyte's, default 8000) and
``DAGSTER_UI_PORT`` (3000); a port taken by another program is replaced by a free one, and the
output says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The sibling module, importable once its folder is on the path (as when run as a script).
from demo import (
    DAGSTER_HOME,
    FOREIGN_ENV,
    PREFERRED_PORT,
    ROOT,
    STATE_DIR,
    choose_port,
    demo_environment,
    local_airbyte,
    prepare_dagster_home,
)

UI_PORT = int(os.environ.get("DAGSTER_UI_PORT") or "3000")


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: dg dev first, then the Airbyte


def _stop(ui: subprocess.Popen[bytes]) -> None:
    """One SIGINT (dg dev then stops its webserver, daemon and code servers), then force."""
    ui.send_signal(signal.SIGINT)
    try:
        ui.wait(timeout=60)
    except subprocess.TimeoutExpired:
        ui.kill()
        ui.wait()
    # dg dev runs in its own session: whatever it left behind goes with its group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(ui.pid, signal.SIGKILL)


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # A shell starting us in the background ignores SIGINT; children would inherit that and
    # dg dev could not be stopped cleanly. A Python handler is reset to default on exec.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in FOREIGN_ENV:
        os.environ.pop(name, None)
    prepare_dagster_home(DAGSTER_HOME)
    ui_port = choose_port(UI_PORT, "DAGSTER_UI_PORT", "the Dagster UI")
    airbyte_port = choose_port(PREFERRED_PORT, "DEMO_PORT", "the local Airbyte")
    print(f"Starting the local Airbyte (state in {STATE_DIR}) ...", flush=True)
    with local_airbyte(STATE_DIR, airbyte_port) as url:
        env = {**os.environ, "DAGSTER_HOME": str(DAGSTER_HOME)}
        env.update(demo_environment(STATE_DIR, url))
        env.pop("DAGSTER_AIRBYTE_DEMO_DBT")  # "auto": the UI still opens if dbt cannot load
        # One process per run: the demo's three steps each in a process of their own would
        # spend longer starting (an interpreter and these definitions, ~5 s each on 2 cores)
        # than working. A deployment keeps Dagster's multiprocess default.
        env.setdefault("DAGSTER_AIRBYTE_DEMO_EXECUTOR", "in_process")
        dg = Path(sys.executable).with_name("dg")
        command = [
            str(dg) if dg.exists() else "dg",
            "dev",
            "-w",
            str(ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(ui_port),
        ]
        print(
            f"Local Airbyte is up at {url}.\n"
            f"Dagster UI: http://127.0.0.1:{ui_port} (asset graph: "
            f"http://127.0.0.1:{ui_port}/asset-groups). Ctrl-C stops both.",
            flush=True,
        )
        # Its own session: Ctrl-C reaches us alone and we forward exactly one SIGINT (a second
        # one would cut dg dev's own shutdown short).
        ui = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        try:
            return ui.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            _stop(ui)
            print("Stopping the local Airbyte.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
