"""A browser opens the links a real materialization wrote into its metadata.

The stream assets carry ``airbyte/connection_url``; a Dagster materialization against the local
Airbyte records ``airbyte/job_url`` (``.../job-history#{job}::{attempt}``, the real UI's legacy logs link). A
headless Chromium opens each, runs the page's script (the job-history page turns the fragment
into ``timeline?jobId=…``, as Airbyte's web app does) and the resulting DOM must show that
job's status as the server reports it, its attempts (the first one failed, with a reason that is
HTML, shown as text) and the connection by its name (HTML too, never run).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from ui_helpers import Elements, chromium, config_post, dump_dom

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions
from dagster_airbyte_assets.translator import MetadataKeys

pytestmark = pytest.mark.slow

NAME = "Shop <script>document.title='pwned'</script> → DuckDB"
REASON = "<img src=x onerror=\"document.title='pwned'\"> upstream timeout"


def test_metadata_links_open_the_job_and_connection_pages(
    local_airbyte: Any, tmp_path: Path
) -> None:
    chromium()  # skip (or fail under CI) before any work when there is no browser
    cid = local_airbyte.sample_connection_id
    connection = config_post(local_airbyte, "connections/get", {"connectionId": cid})
    connection["name"] = NAME
    config_post(local_airbyte, "connections/update", connection)
    httpx.post(
        f"{local_airbyte.url}/_local/connections/{cid}/fail_next_attempts",
        json={"count": 1, "message": REASON},
    ).raise_for_status()

    workspace = AirbyteWorkspace(url=local_airbyte.url, poll_interval=1.0)
    assets = build_airbyte_assets_definitions(
        workspace=workspace, state_path=tmp_path / "airbyte-state.json"
    )
    result = dg.materialize(assets, resources={"airbyte": workspace})
    assert result.success
    metadata = [
        {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}  # type: ignore[union-attr]
        for event in result.get_asset_materialization_events()
    ]
    job_links = {m[MetadataKeys.JOB_URL] for m in metadata}
    # The connection link lives on the asset definitions (the asset page), not on each event.
    connection_links = {
        spec.metadata[MetadataKeys.CONNECTION_URL].value for a in assets for spec in a.specs
    }
    assert len(job_links) == 1 and len(connection_links) == 1, metadata
    job_link, connection_link = job_links.pop(), connection_links.pop()
    assert isinstance(job_link, str) and job_link.startswith(local_airbyte.url)

    anchor = re.fullmatch(r".*/job-history#(\d+)::(\d+)", job_link)
    assert anchor is not None, job_link
    job_id, attempt = int(anchor[1]), int(anchor[2])
    job = config_post(local_airbyte, "jobs/get", {"id": job_id})
    expected = [job["job"]["status"], *(a["attempt"]["status"] for a in job["attempts"])]
    assert expected == ["succeeded", "failed", "succeeded"]  # what the page must show

    dom = dump_dom(job_link, tmp_path / "profile-job")
    page = Elements(dom)
    # The DOM is the timeline page the script redirected to, for this job.
    assert [h["data-job-id"] for h in page.with_attribute("data-job-id")] == [str(job_id)]
    assert [s["data-status"] for s in page.with_attribute("data-status")] == expected
    sections = page.with_attribute("data-attempt")
    assert [s["id"] for s in sections] == [f"{job_id}::0", f"{job_id}::1"]
    opened = [("open" in d) for d in page.tags("details")]
    assert opened == [n == attempt for n in range(len(sections))]  # the linked attempt is open
    assert REASON in page.text  # the failure reason as text...
    assert page.tags("img") == [] and page.tags("script") == []  # ...never as markup
    assert _title(dom) == f"Job {job_id} · Local Airbyte"  # no handler ran to rename it

    dom = dump_dom(connection_link, tmp_path / "profile-connection")
    page = Elements(dom)
    assert [h["data-connection-id"] for h in page.with_attribute("data-connection-id")] == [cid]
    assert NAME in page.text and page.tags("script") == []
    rows = [r["data-job-id"] for r in page.with_attribute("data-job-id")]
    assert rows == [str(job_id)]
    assert _title(dom) == f"{NAME} · Local Airbyte"  # the name's script never ran


def _title(dom: str) -> str:
    found = re.search(r"<title>(.*?)</title>", dom, flags=re.S)
    assert found is not None
    return html.unescape(found[1])
