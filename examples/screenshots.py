"""``make screenshots``: the README's pictures, taken from the real UI by headless Chromium.

1. starts ``examples/ui.py`` (what ``make ui`` runs: the local Airbyte and ``dg dev``) on a
   fresh state in a temporary directory, on free ports, so nothing of yours is touched;
2. presses "Materialize all" over GraphQL, as the UI does, and waits for the run;
3. photographs, with Debian's ``chromium --headless --screenshot``: the asset lineage, an
   Airbyte stream's asset page, the run, and the local Airbyte's page behind the run's job link
   (``docs/*.png``). ``--virtual-time-budget`` lets each page fetch and render before the shot;
4. stops everything.

Environment: ``CHROMIUM`` (default: ``chromium`` on PATH), ``SCREENSHOT_SIZE`` (``1600,1000``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dagster_ui import graphql, launch_materialize_all, wait_for_location, wait_for_run

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SIZE = os.environ.get("SCREENSHOT_SIZE", "1600,1000")
# The flags that keep a headless Chromium from reaching the network on its own.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
JOB_LINK_QUERY = """
query Asset($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
    assetMaterializations(limit: 1) { metadataEntries {
        label ... on UrlMetadataEntry { url } } } } } }
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chromium() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        raise SystemExit("Chromium is needed: apt-get install -y chromium (or set CHROMIUM).")
    return found


def shoot(url: str, target: Path, profile: Path, budget_ms: int = 20000) -> None:
    """Save a PNG of ``url`` once it has rendered (virtual time lets its fetches finish)."""
    command = [
        _chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={SIZE}",
        f"--virtual-time-budget={budget_ms}",
        f"--screenshot={target}",
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if result.returncode != 0 or not target.exists():
        raise SystemExit(f"Chromium could not take {target.name}:\n{result.stderr[-2000:]}")
    print(f"  {target.relative_to(ROOT)}  <- {url}", flush=True)


def _job_link(url: str) -> str:
    """The job link the last sync of raw/orders recorded (what a user clicks)."""
    asset = graphql(url, JOB_LINK_QUERY, {"key": {"path": ["raw", "orders"]}})["assetOrError"]
    [materialization] = asset["assetMaterializations"]
    for entry in materialization["metadataEntries"]:
        if entry["label"] == "airbyte/job_url":
            return str(entry["url"])
    raise SystemExit("raw/orders' materialization has no airbyte/job_url")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        work = Path(tmp)
        ui_port = _free_port()
        ui_url = f"http://127.0.0.1:{ui_port}"
        env = {
            **os.environ,
            "DEMO_STATE_DIR": str(work / "local-airbyte"),
            "DAGSTER_HOME": str(work / "dagster_home"),
            "DEMO_PORT": str(_free_port()),
            "DAGSTER_UI_PORT": str(ui_port),
            "AIRBYTE_POLL_INTERVAL": "1",
        }
        print("Starting `make ui` on a fresh state ...", flush=True)
        with open(work / "make-ui.log", "wb") as log:
            ui = subprocess.Popen(
                [sys.executable, str(ROOT / "examples" / "ui.py")],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            location = wait_for_location(ui_url, ui)["name"]
            print("Materializing every asset from the UI's API ...", flush=True)
            run_id = launch_materialize_all(ui_url, location)
            run = wait_for_run(ui_url, run_id)
            if run["status"] != "SUCCESS":
                raise SystemExit(f"the run ended {run['status']}; see {work / 'make-ui.log'}")
            print("Taking the screenshots:", flush=True)
            DOCS.mkdir(exist_ok=True)
            shots = [
                (f"{ui_url}/asset-groups", "asset-graph.png"),
                (f"{ui_url}/assets/raw/orders", "asset-page.png"),
                (f"{ui_url}/runs/{run_id}", "run-page.png"),
                (_job_link(ui_url), "airbyte-job-page.png"),
            ]
            for number, (url, name) in enumerate(shots):
                shoot(url, DOCS / name, work / f"profile-{number}")
        finally:
            ui.send_signal(signal.SIGTERM)  # ui.py stops dg dev, then the local Airbyte
            try:
                ui.wait(timeout=90)
            except subprocess.TimeoutExpired:
                ui.kill()
                ui.wait()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(ui.pid, signal.SIGKILL)
    print("Done: look at docs/*.png before committing them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
