"""``make screenshots``: the README's pictures, taken from the real UI by headless Chromium.

1. starts ``examples/ui.py`` (what ``make ui`` runs: the local Airbyte and ``dg dev``) on a
   fresh state in a temporary directory, on free ports, so nothing of yours is touched;
2. presses "Materialize all" over GraphQL, as the UI does, and waits for the run;
3. photographs, with Debian's headless ``chromium`` driven over the DevTools protocol
   (``chromium_pipe.py``): the asset lineage, an Airbyte stream's asset page, the run, and the
   local Airbyte's page behind the run's job link (``docs/*.png``). Each shot waits until the
   page shows the text it is about, never for a fixed time alone;
4. stops everything.

Environment: ``CHROMIUM`` (default: ``chromium`` on PATH).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chromium_pipe import Chromium
from dagster_ui import graphql, launch_materialize_all, wait_for_location, wait_for_run

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
WIDTH, HEIGHT = 1600, 1100
JOB_LINK_QUERY = """
query Asset($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
    assetMaterializations(limit: 1) { metadataEntries {
        label ... on UrlMetadataEntry { url } } } } } }
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _click(browser: Chromium, icon: str, nth: int = 0) -> None:
    """Click the ``nth`` button showing Dagster's icon ``icon`` (icons carry aria-labels)."""
    clicked = browser.evaluate(
        "(() => { const buttons = [...document.querySelectorAll('button')].filter("
        f"b => b.querySelector('[aria-label=' + {json.dumps(json.dumps(icon))} + ']'));"
        f" if (buttons.length <= {nth}) return false; buttons[{nth}].click(); return true; }})()"
    )
    if not clicked:
        raise SystemExit(f"no button with the icon {icon!r} on {browser.evaluate('location.href')}")


def lineage(browser: Chromium, ui_url: str, target: Path) -> None:
    """The global lineage with both groups open, fitted to the window."""
    url = f"{ui_url}/asset-groups"
    browser.open(url, ("sample_data_duckdb", "dbt"))
    browser.press("e", "KeyE", alt=True)  # the UI's shortcut "expand all groups" (kept)
    browser.settle(1)
    browser.open(url, ("customers", "stg_orders", "customer_orders", "daily_revenue"))
    _click(browser, "panel_show_right", nth=1)  # fold the asset tree beside the graph
    for _ in range(3):
        _click(browser, "zoom_out")
        browser.settle(0.4)
    browser.settle()
    browser.screenshot(target)


def asset_page(browser: Chromium, ui_url: str, target: Path) -> None:
    browser.open(f"{ui_url}/assets/raw/orders", ("Row count", "Columns", "airbyte/job_url"))
    browser.settle()
    browser.screenshot(target)


def run_page(browser: Chromium, ui_url: str, run_id: str, target: Path) -> None:
    browser.open(f"{ui_url}/runs/{run_id}", ("Success", "dbt_models", "RUN_SUCCESS"))
    browser.settle()
    browser.screenshot(target)


def airbyte_job_page(browser: Chromium, job_link: str, target: Path) -> None:
    """The page a user reaches from the metadata's job link (its script opens the timeline)."""
    browser.open(job_link, ("Attempt 1", "succeeded", "Sync succeeded."))
    browser.settle(0.5)
    browser.screenshot(target)


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
            # What "Skip" on Dagster's first-visit community dialog records, so it stays away.
            graphql(ui_url, "mutation { setNuxSeen }")
            job_link = _job_link(ui_url)
            print("Taking the screenshots:", flush=True)
            DOCS.mkdir(exist_ok=True)
            with Chromium(work / "profile", WIDTH, HEIGHT) as browser:
                shots = {
                    "asset-graph.png": lambda t: lineage(browser, ui_url, t),
                    "asset-page.png": lambda t: asset_page(browser, ui_url, t),
                    "run-page.png": lambda t: run_page(browser, ui_url, run_id, t),
                    "airbyte-job-page.png": lambda t: airbyte_job_page(browser, job_link, t),
                }
                for name, take in shots.items():
                    take(DOCS / name)
                    print(f"  docs/{name}", flush=True)
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
