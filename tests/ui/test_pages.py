"""The local Airbyte's read-only pages at the paths of Airbyte's web UI, over HTTP.

The links the integration writes into metadata (``.../connections/{id}/status`` and
``.../job-history#{job}::{attempt}``) must open a page showing what the server's store holds:
the connection, its jobs, each attempt with its failure reason and logs. Connection names and
logs are user and connector text, so every test here feeds them HTML and checks it comes back
as text; connector secrets never appear.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from ui_helpers import Elements, config_post

HOSTILE_NAME = 'Shop <script>document.title="pwned"</script> & "co" → DuckDB'
HOSTILE_REASON = '<img src=x onerror="alert(1)"> the source said no'
SECRET = "motherduck-sentinel-5f0c1e"


def _sync(server: Any, connection_id: str) -> dict[str, Any]:
    job_id = config_post(server, "connections/sync", {"connectionId": connection_id})["job"]["id"]
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = config_post(server, "jobs/get", {"id": job_id})["job"]
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


@pytest.fixture
def hostile(local_airbyte: Any) -> dict[str, Any]:
    """The sample connection renamed with HTML, and a job whose first attempt failed with HTML."""
    cid = local_airbyte.sample_connection_id
    connection = config_post(local_airbyte, "connections/get", {"connectionId": cid})
    connection["name"] = HOSTILE_NAME
    config_post(local_airbyte, "connections/update", connection)
    httpx.post(
        f"{local_airbyte.url}/_local/connections/{cid}/fail_next_attempts",
        json={"count": 1, "message": HOSTILE_REASON},
    ).raise_for_status()
    job = _sync(local_airbyte, cid)
    assert job["status"] == "succeeded"
    base = f"{local_airbyte.url}/workspaces/{local_airbyte.workspace_id}/connections/{cid}"
    return {"server": local_airbyte, "cid": cid, "job": job, "base": base}


def _get(url: str, **kw: Any) -> httpx.Response:
    response = httpx.get(url, timeout=30, **kw)
    assert response.headers["content-type"].startswith("text/html"), response.text[:300]
    return response


def _no_raw_html(text: str) -> None:
    """The hostile strings never reach the page as markup."""
    assert "<script>document" not in text
    assert "<img" not in text
    assert "onerror=" not in text.replace("onerror=&quot;", "")


def test_connection_status_page_shows_the_connection_and_its_syncs(hostile: dict[str, Any]) -> None:
    response = _get(f"{hostile['base']}/status")
    assert response.status_code == 200
    _no_raw_html(response.text)
    page = Elements(response.text)
    assert HOSTILE_NAME in page.text  # the name, as text
    assert page.tags("script") == []  # this page has no script at all
    assert {"customers", "products", "orders"} <= set(page.texts)
    rows = {row["data-job-id"] for row in page.with_attribute("data-job-id")}
    assert rows == {str(hostile["job"]["id"])}
    statuses = [a["data-status"] for a in page.with_attribute("data-status")]
    assert statuses == ["succeeded"]
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_job_page_shows_status_attempts_reason_and_logs(hostile: dict[str, Any]) -> None:
    job_id = hostile["job"]["id"]
    response = _get(f"{hostile['base']}/timeline?jobId={job_id}&attemptNumber=0&openLogs=true")
    assert response.status_code == 200
    _no_raw_html(response.text)
    page = Elements(response.text)
    heading = page.with_attribute("data-job-id")
    assert [h["data-job-id"] for h in heading] == [str(job_id)]
    # The job's status first, then each attempt's, as the server reports them.
    statuses = [a["data-status"] for a in page.with_attribute("data-status")]
    assert statuses == [hostile["job"]["status"], "failed", "succeeded"]
    attempts = [a["id"] for a in page.with_attribute("data-attempt")]
    assert attempts == [f"{job_id}::0", f"{job_id}::1"]
    assert HOSTILE_REASON in page.text  # the failure reason, escaped, and in the logs too
    assert f"Attempt failed: {HOSTILE_REASON}" in page.text
    assert "Sync succeeded." in page.text
    # attemptNumber=0 opens that attempt, as the real UI opens its logs.
    details = page.tags("details")
    assert ["open" in d for d in details] == [True, False]


def test_job_history_link_carries_only_the_hashed_redirect_script(hostile: dict[str, Any]) -> None:
    job_id = hostile["job"]["id"]
    response = _get(f"{hostile['base']}/job-history")
    assert response.status_code == 200
    _no_raw_html(response.text)
    scripts = re.findall(r"<script>(.*?)</script>", response.text, flags=re.S)
    assert len(scripts) == 1 and "timeline" in scripts[0]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = response.headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in policy  # nothing else may run
    # Without script the anchors of the legacy link still lead to the attempt.
    anchors = {a["id"] for a in Elements(response.text).with_attribute("data-attempt")}
    assert {f"{job_id}::0", f"{job_id}::1"} == anchors


def test_index_routes_redirect_as_the_real_ui_does(local_airbyte: Any) -> None:
    ws, cid = local_airbyte.workspace_id, local_airbyte.sample_connection_id
    index = httpx.get(f"{local_airbyte.url}/workspaces/{ws}/connections/{cid}")
    assert index.status_code == 302
    assert index.headers["location"] == f"/workspaces/{ws}/connections/{cid}/status"
    root = httpx.get(f"{local_airbyte.url}/")
    assert root.status_code == 302
    assert root.headers["location"] == f"/workspaces/{ws}/connections"
    listing = _get(f"{local_airbyte.url}/workspaces/{ws}/connections")
    rows = Elements(listing.text).with_attribute("data-connection-id")
    assert [r["data-connection-id"] for r in rows] == [cid]
    assert "never synced" in listing.text


def test_unknown_ids_get_an_escaped_404_page(local_airbyte: Any) -> None:
    ws, cid = local_airbyte.workspace_id, local_airbyte.sample_connection_id
    base = f"{local_airbyte.url}/workspaces"
    other_ws = str(uuid.uuid4())
    assert _get(f"{base}/{other_ws}/connections/{cid}/status").status_code == 404
    assert _get(f"{base}/{other_ws}/connections").status_code == 404
    hostile_id = '"><i>x'
    missing = _get(f"{base}/{ws}/connections/{hostile_id}/status")
    assert missing.status_code == 404
    assert "<i>" not in missing.text and "&quot;&gt;&lt;i&gt;x" in missing.text
    for job in ("abc", "999999", "-1"):
        assert _get(f"{base}/{ws}/connections/{cid}/timeline?jobId={job}").status_code == 404


def test_connector_secrets_never_appear(hostile: dict[str, Any]) -> None:
    server = hostile["server"]
    connection = config_post(server, "connections/get", {"connectionId": hostile["cid"]})
    destination = config_post(
        server, "destinations/get", {"destinationId": connection["destinationId"]}
    )
    settings = {**destination["connectionConfiguration"], "motherduck_api_key": SECRET}
    config_post(
        server,
        "destinations/update",
        {
            "destinationId": destination["destinationId"],
            "name": destination["name"],
            "connectionConfiguration": settings,
        },
    )
    ws = server.workspace_id
    pages = [
        f"{server.url}/workspaces/{ws}/connections",
        f"{hostile['base']}/status",
        f"{hostile['base']}/timeline",
        f"{hostile['base']}/timeline?jobId={hostile['job']['id']}",
        f"{hostile['base']}/job-history",
    ]
    for url in pages:
        response = _get(url)
        assert response.status_code == 200, url
        assert SECRET not in response.text, url


def test_pages_ask_for_the_api_credentials(local_airbyte_factory: Any) -> None:
    server = local_airbyte_factory(seed="sample", auth="basic")
    url = (
        f"{server.url}/workspaces/{server.workspace_id}/connections/"
        f"{server.sample_connection_id}/status"
    )
    refused = _get(url)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic")
    assert _get(url, auth=("airbyte", "wrong")).status_code == 401
    assert _get(url, auth=("airbyte", "password")).status_code == 200

    tokens = local_airbyte_factory(seed="sample", auth="client-credentials")
    url = (
        f"{tokens.url}/workspaces/{tokens.workspace_id}/connections/"
        f"{tokens.sample_connection_id}/status"
    )
    refused = _get(url)
    assert refused.status_code == 401 and "--auth none or basic" in refused.text
