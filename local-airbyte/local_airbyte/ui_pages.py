"""Small read-only web pages at the paths of Airbyte's web UI, so links into Airbyte open.

Integrations link to a connection and to a job the way Airbyte's own UI routes them
(``airbyte-webapp/src/pages/routePaths.tsx`` and ``pages/connections/ConnectionsRoutes.tsx``
at main 310e6cb6):

- ``/workspaces/{workspaceId}/connections/{connectionId}`` redirects to ``.../status``
  (``ConnectionsRoutes.tsx`` ~91: the index route navigates to ``status``);
- ``.../status``: the connection, its streams and its recent syncs;
- ``.../timeline`` and ``.../timeline?jobId=&attemptNumber=&openLogs=true``: the sync history,
  or one job with its attempts, failure reasons and logs;
- ``.../job-history#{jobId}::{attemptNumber}``: the legacy logs link. The real UI turns the
  fragment into ``timeline?jobId=…&attemptNumber=…&openLogs=true`` in the browser
  (``JobHistoryToTimelineRedirect``, ``ConnectionsRoutes.tsx`` ~27-63); a server never sees a
  fragment, so this page carries the same few lines of script, and lists every job with an
  ``id="{jobId}::{attemptNumber}"`` anchor for a browser without script.

The pages read the server's own store, never the integration. Everything shown is escaped
(connection names and logs come from users and connectors), the Content-Security-Policy allows
no script but the redirect above, and connector configurations (which hold secrets) are never
shown. They need the API's credentials: none, or HTTP basic (the browser asks); under
``client-credentials`` a browser has no way to present a token, so they answer 401.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterable
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .api_errors import Unauthorized
from .auth import Authenticator
from .service import Service

__all__ = ["build_router"]

# The credentials check applies to API paths: the pages ask for what an API call needs.
_AUTH_CHECK_PATH = "/api/v1/web_ui"
_RECENT_JOBS = 20
_LISTED_JOBS = 200
_HISTORY_JOBS = 50  # with every attempt and its logs

_REDIRECT_SCRIPT = """(function () {
  var parts = window.location.hash.slice(1).split("::");
  var target = "timeline";
  if (/^[0-9]+$/.test(parts[0])) {
    target += "?jobId=" + parts[0];
    if (/^[0-9]+$/.test(parts[1] || "")) { target += "&attemptNumber=" + parts[1]; }
    target += "&openLogs=true";
  }
  window.location.replace(target);
})();"""
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_REDIRECT_SCRIPT.encode()).digest()).decode()
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{_SCRIPT_HASH}'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1a1b2e; background: #f7f7fb; }
header { background: #615eff; color: #fff; padding: 10px 24px; }
header a { color: #fff; }
main { padding: 16px 24px 40px; max-width: 1100px; }
nav a { margin-right: 16px; }
h1 { font-size: 22px; margin: 12px 0; }
h2 { font-size: 17px; margin: 24px 0 8px; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e4e4ee; }
dl { display: grid; grid-template-columns: max-content auto; gap: 4px 16px; }
dt { color: #6b6b80; }
dd { margin: 0; }
.status { font-weight: 600; }
.status-succeeded { color: #0a7d39; }
.status-failed, .status-cancelled { color: #c4163b; }
.status-running, .status-pending, .status-incomplete { color: #b36b00; }
section.attempt { background: #fff; border: 1px solid #e4e4ee; margin: 10px 0; padding: 4px 12px; }
section.attempt:target { border-color: #615eff; box-shadow: 0 0 0 2px #615eff55; }
pre.logs { background: #12121c; color: #e8e8f0; padding: 10px; overflow-x: auto;
           white-space: pre-wrap; }
.failure { color: #c4163b; }
"""


def _e(value: object) -> str:
    """``value`` as HTML text or attribute content: everything shown goes through this."""
    return escape("" if value is None else str(value), quote=True)


def _cells(*values: object) -> str:
    """Table cells of escaped text."""
    return "".join(f"<td>{_e(v)}</td>" for v in values)


def _table(headings: Iterable[str], rows: Iterable[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headings)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _fields(pairs: Iterable[tuple[str, object]]) -> str:
    """A definition list of escaped labels and values."""
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs) + "</dl>"


def _qualified(namespace: Any, name: Any) -> str:
    return f"{namespace}.{name}" if namespace else str(name)


def _when(epoch: Any) -> str:
    if not isinstance(epoch, int | float):
        return "-"
    return dt.datetime.fromtimestamp(float(epoch), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(start: Any, end: Any) -> str:
    if not isinstance(start, int | float) or not isinstance(end, int | float):
        return "-"
    seconds = max(0.0, float(end) - float(start))
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _status(value: Any) -> str:
    """A status badge; ``data-status`` carries the server's word for tests and scripts."""
    text = str(value or "unknown")
    css = "".join(c for c in text if c.isalnum() or c == "_")
    return f'<span class="status status-{css}" data-status="{_e(text)}">{_e(text)}</span>'


def _records(job_or_attempt: dict[str, Any]) -> str:
    stats = job_or_attempt.get("aggregatedStats") or job_or_attempt.get("totalStats") or {}
    committed = stats.get("recordsCommitted")
    return f"{committed:,}" if isinstance(committed, int) else "-"


def _schedule(connection: dict[str, Any]) -> str:
    kind = connection.get("scheduleType") or "manual"
    data = connection.get("scheduleData") or {}
    if kind == "basic" and isinstance(data.get("basicSchedule"), dict):
        basic = data["basicSchedule"]
        return f"every {basic.get('units')} {basic.get('timeUnit')}"
    if kind == "cron" and isinstance(data.get("cron"), dict):
        cron = data["cron"]
        return f"cron {cron.get('cronExpression')} ({cron.get('cronTimeZone') or 'UTC'})"
    return str(kind)


Crumbs = list[tuple[str, str | None]]


def _page(title: str, crumbs: Crumbs, body: str, script: str = "") -> str:
    trail = " / ".join(
        f'<a href="{_e(href)}">{_e(text)}</a>' if href else _e(text) for text, href in crumbs
    )
    scripts = f"<script>{script}</script>" if script else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · Local Airbyte</title><style>{_STYLE}</style>{scripts}</head>"
        f"<body><header>Local Airbyte · {trail}</header><main>{body}</main></body></html>"
    )


def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers={**_HEADERS, **(headers or {})})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    body = f"<h1>{_e(status)}</h1><p>{_e(message)}</p>"
    return _html(_page(str(status), [("Local Airbyte", "/")], body), status, headers)


def _tabs(base: str) -> str:
    status, timeline = _e(f"{base}/status"), _e(f"{base}/timeline")
    return f'<nav><a href="{status}">Status</a><a href="{timeline}">Timeline</a></nav>'


def _jobs_table(jobs: list[dict[str, Any]], base: str) -> str:
    if not jobs:
        return "<p>No syncs yet.</p>"
    rows = []
    for job in jobs:
        job_id = job.get("id")
        link = f'<a href="{_e(f"{base}/timeline?jobId={job_id}")}">{_e(job_id)}</a>'
        timing = _cells(
            _when(job.get("createdAt")),
            _duration(job.get("startedAt"), job.get("updatedAt")),
            _records(job),
            len(job.get("attempts") or []),
        )
        rows.append(
            f'<tr data-job-id="{_e(job_id)}"><td>{link}</td>{_cells(job.get("configType"))}'
            f"<td>{_status(job.get('status'))}</td>{timing}</tr>"
        )
    return _table(("Job", "Type", "Status", "Created", "Duration", "Records", "Attempts"), rows)


def _failure(attempt: dict[str, Any]) -> str:
    failures = (attempt.get("failureSummary") or {}).get("failures") or []
    return "".join(
        f'<p class="failure">Failure ({_e(f.get("failureOrigin"))}, '
        f"{_e(f.get('failureType'))}): {_e(f.get('externalMessage'))}</p>"
        for f in failures
        if isinstance(f, dict)
    )


def _attempt(job_id: Any, attempt: dict[str, Any], number: int, opened: bool) -> str:
    """One attempt, anchored ``{jobId}::{attemptNumber}`` as the real UI's logs links are."""
    streams = [
        "<tr>"
        + _cells(
            _qualified(s.get("streamNamespace"), s.get("streamName")),
            (s.get("stats") or {}).get("recordsCommitted", "-"),
            (s.get("stats") or {}).get("bytesCommitted", "-"),
        )
        + "</tr>"
        for s in attempt.get("streamStats") or []
        if isinstance(s, dict)
    ]
    table = _table(("Stream", "Records committed", "Bytes committed"), streams) if streams else ""
    logs = "\n".join(str(line) for line in attempt.get("logLines") or [])
    ended = attempt.get("endedAt") or attempt.get("updatedAt")
    summary = (
        f"Attempt {number + 1}: {_status(attempt.get('status'))} · "
        f"{_e(_duration(attempt.get('createdAt'), ended))} · {_e(_records(attempt))} records"
    )
    return (
        f'<section class="attempt" id="{_e(f"{job_id}::{number}")}" data-attempt="{number}">'
        f"<details{' open' if opened else ''}><summary>{summary}</summary>"
        f'{_failure(attempt)}{table}<h3>Logs</h3><pre class="logs">{_e(logs)}</pre>'
        "</details></section>"
    )


def _connection_body(
    store: Any, connection: dict[str, Any], base: str, jobs: list[dict[str, Any]], total: int
) -> str:
    source = store.get("sources", str(connection.get("sourceId"))) or {}
    destination = store.get("destinations", str(connection.get("destinationId"))) or {}
    streams = []
    for item in (connection.get("syncCatalog") or {}).get("streams") or []:
        stream, config = item.get("stream") or {}, item.get("config") or {}
        if config.get("selected", True):
            cells = _cells(
                _qualified(stream.get("namespace"), stream.get("name")),
                config.get("syncMode"),
                config.get("destinationSyncMode"),
                ".".join(config.get("cursorField") or []),
                ", ".join(".".join(k) for k in config.get("primaryKey") or []),
            )
            streams.append(f"<tr>{cells}</tr>")
    namespace = (connection.get("namespaceDefinition"), connection.get("namespaceFormat"))
    fields = _fields(
        [
            ("Source", f"{source.get('name')} ({source.get('sourceName')})"),
            ("Destination", f"{destination.get('name')} ({destination.get('destinationName')})"),
            ("Status", connection.get("status")),
            ("Schedule", _schedule(connection)),
            ("Namespace", " ".join(str(part) for part in namespace if part)),
            ("Stream prefix", connection.get("prefix") or "-"),
            ("Connection id", connection.get("connectionId")),
        ]
    )
    headings = ("Stream", "Sync mode", "Destination sync mode", "Cursor", "Primary key")
    return (
        f'{_tabs(base)}<h1 data-connection-id="{_e(connection.get("connectionId"))}">'
        f"{_e(connection.get('name'))}</h1>{fields}<h2>Streams</h2>{_table(headings, streams)}"
        f"<h2>Recent syncs ({len(jobs)} of {total})</h2>{_jobs_table(jobs, base)}"
    )


def _job_body(job: dict[str, Any], base: str, selected_attempt: str) -> str:
    attempts = [a for a in job.get("attempts") or [] if isinstance(a, dict)]
    # The linked attempt is opened (``openLogs``); without one, the last.
    selected = int(selected_attempt) if selected_attempt.isdigit() else len(attempts) - 1
    sections = "".join(
        _attempt(job["id"], attempt, number, number == selected)
        for number, attempt in enumerate(attempts)
    )
    fields = _fields(
        [
            ("Type", job.get("configType")),
            ("Created", _when(job.get("createdAt"))),
            ("Duration", _duration(job.get("startedAt"), job.get("updatedAt"))),
            ("Records committed", _records(job)),
            ("Attempts", len(attempts)),
        ]
    )
    return (
        f'{_tabs(base)}<h1 data-job-id="{_e(job["id"])}">Job {_e(job["id"])}: '
        f"{_status(job.get('status'))}</h1>{fields}"
        f"<h2>Attempts</h2>{sections or '<p>No attempt has started yet.</p>'}"
    )


def build_router(service: Service, authenticator: Authenticator) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    store = service.store

    def refused(request: Request) -> HTMLResponse | None:
        """A 401 page unless the request carries what an API call would need."""
        if authenticator.mode == "none":
            return None
        try:
            authenticator.check(_AUTH_CHECK_PATH, request.headers.get("authorization"))
        except Unauthorized:
            if authenticator.mode == "basic":
                challenge = {"WWW-Authenticate": 'Basic realm="airbyte"'}
                return _error(401, "Sign in with the API's username and password.", challenge)
            return _error(
                401,
                "This server runs with --auth client-credentials: a browser cannot present a "
                "token. Start it with --auth none or basic to browse these pages.",
            )
        return None

    def find(workspace_id: str, connection_id: str) -> dict[str, Any] | None:
        connection = store.get("connections", connection_id)
        if connection is None or str(connection.get("workspaceId")) != workspace_id:
            return None
        return connection

    def missing(workspace_id: str, connection_id: str) -> HTMLResponse:
        return _error(404, f"No connection {connection_id} in workspace {workspace_id}.")

    def crumbs(workspace_id: str, connection: dict[str, Any] | None = None) -> Crumbs:
        workspace = store.get("workspaces", workspace_id) or {}
        name = str(workspace.get("name") or workspace_id)
        trail: Crumbs = [(name, f"/workspaces/{workspace_id}/connections")]
        if connection is not None:
            cid = connection["connectionId"]
            title = str(connection.get("name") or cid)
            trail.append((title, f"/workspaces/{workspace_id}/connections/{cid}/status"))
        return trail

    @router.get("/", response_class=HTMLResponse)
    def root(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        workspaces = store.list("workspaces")
        if not workspaces:
            return _error(404, "This server has no workspace yet.")
        return RedirectResponse(f"/workspaces/{workspaces[0]['workspaceId']}/connections", 302)

    @router.get("/workspaces/{workspace_id}/connections", response_class=HTMLResponse)
    def connections(workspace_id: str, request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        if store.get("workspaces", workspace_id) is None:
            return _error(404, f"No workspace {workspace_id}.")
        rows = []
        for connection in store.list("connections", [workspace_id]):
            cid = connection["connectionId"]
            last = store.last_job(cid)
            href = _e(f"/workspaces/{workspace_id}/connections/{cid}/status")
            rows.append(
                f'<tr data-connection-id="{_e(cid)}">'
                f'<td><a href="{href}">{_e(connection.get("name"))}</a></td>'
                f"{_cells(connection.get('status'), _schedule(connection))}"
                f"<td>{_status(last.get('status')) if last else 'never synced'}</td></tr>"
            )
        body = f"<h1>Connections</h1>{_table(('Name', 'Status', 'Schedule', 'Last sync'), rows)}"
        return _html(_page("Connections", crumbs(workspace_id), body))

    @router.get("/workspaces/{workspace_id}/connections/{connection_id}")
    def connection_index(workspace_id: str, connection_id: str, request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        target = f"/workspaces/{workspace_id}/connections/{connection_id}/status"
        return RedirectResponse(target, 302, headers=_HEADERS)

    @router.get(
        "/workspaces/{workspace_id}/connections/{connection_id}/status",
        response_class=HTMLResponse,
    )
    def status(workspace_id: str, connection_id: str, request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        connection = find(workspace_id, connection_id)
        if connection is None:
            return missing(workspace_id, connection_id)
        base = f"/workspaces/{workspace_id}/connections/{connection_id}"
        jobs, total = store.list_jobs(connection_ids=[connection_id], limit=_RECENT_JOBS)
        body = _connection_body(store, connection, base, jobs, total)
        title = str(connection.get("name") or connection_id)
        return _html(_page(title, crumbs(workspace_id, connection), body))

    @router.get(
        "/workspaces/{workspace_id}/connections/{connection_id}/timeline",
        response_class=HTMLResponse,
    )
    def timeline(workspace_id: str, connection_id: str, request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        connection = find(workspace_id, connection_id)
        if connection is None:
            return missing(workspace_id, connection_id)
        base = f"/workspaces/{workspace_id}/connections/{connection_id}"
        trail = crumbs(workspace_id, connection)
        raw_job = request.query_params.get("jobId")
        if raw_job is None:
            jobs, total = store.list_jobs(connection_ids=[connection_id], limit=_LISTED_JOBS)
            body = f"{_tabs(base)}<h1>Timeline</h1><p>{total} jobs, newest first.</p>"
            return _html(_page("Timeline", trail, body + _jobs_table(jobs, base)))
        job = store.get_job(int(raw_job)) if raw_job.isdigit() else None
        if job is None or job.get("connectionId") != connection_id:
            return _error(404, f"No job {raw_job} for connection {connection_id}.")
        body = _job_body(job, base, request.query_params.get("attemptNumber", ""))
        return _html(_page(f"Job {job['id']}", [*trail, (f"Job {job['id']}", None)], body))

    @router.get(
        "/workspaces/{workspace_id}/connections/{connection_id}/job-history",
        response_class=HTMLResponse,
    )
    def job_history(workspace_id: str, connection_id: str, request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        connection = find(workspace_id, connection_id)
        if connection is None:
            return missing(workspace_id, connection_id)
        base = f"/workspaces/{workspace_id}/connections/{connection_id}"
        jobs, total = store.list_jobs(connection_ids=[connection_id], limit=_HISTORY_JOBS)
        sections = "".join(
            f"<h2>Job {_e(job['id'])}: {_status(job.get('status'))}</h2>"
            + "".join(
                _attempt(job["id"], attempt, number, False)
                for number, attempt in enumerate(job.get("attempts") or [])
            )
            for job in jobs
        )
        body = f"{_tabs(base)}<h1>Job history</h1><p>{total} jobs, newest first.</p>{sections}"
        page = _page("Job history", crumbs(workspace_id, connection), body, _REDIRECT_SCRIPT)
        return _html(page)

    return router
