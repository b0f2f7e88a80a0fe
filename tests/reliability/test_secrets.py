"""Secrets never leak: sentinel values for every credential, searched for everywhere.

Sentinels stand for the basic auth password, the client secret, a Postgres source and
destination password, an S3 secret key and a REST API key. After real syncs, real failures
(a destination database that does not exist, an API that echoes the key back in its error)
and the demo, no log line (captured logging, stdout/stderr, the Dagster event log), exception
text, run event, asset metadata or server response body may contain any of them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from dagster._serdes import serialize_value
from reliability_helpers import control, free_port, tiny_http_server

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions

ROOT = Path(__file__).resolve().parents[2]
BASIC_PASSWORD = "SENTINEL-basic-password-7f3a"
CLIENT_SECRET = "SENTINEL-client-secret-91c2"
PG_PASSWORD = "SENTINEL-pg-password-44d1"
S3_SECRET = "SENTINEL-s3-secret-key-0b8e"
S3_KEY_ID = "SENTINEL-s3-key-id-2d9c"
API_KEY = "SENTINEL-rest-api-key-5e6f"
SENTINELS = (BASIC_PASSWORD, CLIENT_SECRET, PG_PASSWORD, S3_SECRET, S3_KEY_ID, API_KEY)


def _hits(text: str) -> list[str]:
    return [s for s in SENTINELS if s in text]


ECHO = {"on": False}


def _rest_api(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
    """A REST API; ``/echoes`` turns into one that echoes the key back in its 401 (bad APIs do)."""
    if path.startswith("/echoes") and ECHO["on"]:
        return 401, "application/json", json.dumps({"error": f"bad key {API_KEY}"}).encode()
    rows = [{"id": i, "name": f"item {i}"} for i in range(5)]
    return 200, "application/json", json.dumps(rows).encode()


def _response_bodies(server: Any, headers: dict[str, str]) -> str:
    """Every read endpoint's body: lists, each resource, each job with its logs."""
    ws = {"workspaceId": server.workspace_id}
    bodies = []

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{server.config_api_url}/{path}", json=body, headers=headers)
        bodies.append(response.text)
        result: dict[str, Any] = response.json()
        return result

    sources = post("sources/list", ws)["sources"]
    destinations = post("destinations/list", ws)["destinations"]
    connections = post("connections/list", ws)["connections"]
    for source in sources:
        post("sources/get", {"sourceId": source["sourceId"]})
    for destination in destinations:
        post("destinations/get", {"destinationId": destination["destinationId"]})
    for connection in connections:
        jobs = post("jobs/list", {"configTypes": ["sync"], "configId": connection["connectionId"]})
        for job in jobs["jobs"]:
            post("jobs/get", {"id": job["job"]["id"]})
    for path in ("sources", "destinations", "connections", "jobs"):
        bodies.append(httpx.get(f"{server.public_api_url}/{path}", headers=headers).text)
    assert len(bodies) > 10
    return "\n".join(bodies)


def _run_text(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> str:
    """The whole event log of the run, serialized: messages, metadata, errors, run config."""
    logs = instance.all_logs(result.run_id)
    assert logs
    run = instance.get_run_by_id(result.run_id)
    return "\n".join([serialize_value(entry) for entry in logs] + [serialize_value(run)])


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_no_secret_in_syncs_failures_logs_or_responses(
    local_airbyte_factory: Any,
    pg_database: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    ECHO["on"] = False
    server = local_airbyte_factory(
        auth="client-credentials",
        client_credentials=("local-client", CLIENT_SECRET),
        test_controls=True,
    )
    workspace = AirbyteWorkspace(
        url=server.config_api_url,
        client_id="local-client",
        client_secret=CLIENT_SECRET,
        poll_interval=1.0,
    )
    client = workspace.get_client()
    ws = server.workspace_id
    sources = {d.name: d.definition_id for d in client.list_source_definitions()}
    dests = {d.name: d.definition_id for d in client.list_destination_definitions()}
    pg = {
        "host": pg_database.host,
        "port": pg_database.port,
        "username": pg_database.user,
        "password": PG_PASSWORD,
    }
    with pg_database.connect() as con:
        con.execute("CREATE TABLE accounts (id integer primary key, owner text)")
        con.execute("INSERT INTO accounts VALUES (1, 'ada'), (2, 'grace')")

    with tiny_http_server(_rest_api) as api:
        sample = client.create_source(ws, "Sample", sources["Sample Data"], {})
        postgres = client.create_source(
            ws, "PG source", sources["Postgres"], {**pg, "database": pg_database.database}
        )
        rest = client.create_source(
            ws, "API", sources["REST API"], {"url": f"{api}/items", "api_key": API_KEY}
        )
        duck = client.create_destination(
            ws,
            "Duck",
            dests["DuckDB"],
            {"destination_path": str(tmp_path / "w.duckdb"), "schema": "raw"},
        )
        pg_dest = client.create_destination(
            ws,
            "PG dest",
            dests["Postgres"],
            {**pg, "database": pg_database.database, "schema": "s"},
        )
        bad_pg_dest = client.create_destination(
            ws, "PG nowhere", dests["Postgres"], {**pg, "database": "no_such_db", "schema": "s"}
        )
        s3 = client.create_destination(
            ws,
            "S3",
            dests["S3"],
            {
                "s3_bucket_name": "bucket",
                "s3_bucket_path": "bronze",
                "s3_bucket_region": "us-east-1",
                "s3_endpoint": (tmp_path / "s3").as_uri(),
                "access_key_id": S3_KEY_ID,
                "secret_access_key": S3_SECRET,
                "format": {"format_type": "Parquet"},
            },
        )
        good = [
            client.create_connection(
                postgres.source_id, duck.destination_id, name="pg", prefix="pg_"
            ),
            client.create_connection(
                rest.source_id, duck.destination_id, name="api", prefix="api_"
            ),
            client.create_connection(sample.source_id, pg_dest.destination_id, name="to pg"),
            client.create_connection(sample.source_id, s3.destination_id, name="to s3"),
        ]
        bad = [
            client.create_connection(
                sample.source_id, bad_pg_dest.destination_id, name="to nowhere", prefix="x_"
            )
        ]
        echo_source = client.create_source(
            ws, "Echo API", sources["REST API"], {"url": f"{api}/echoes", "api_key": API_KEY}
        )
        bad.append(
            client.create_connection(
                echo_source.source_id, duck.destination_id, name="api echo", prefix="echo_"
            )
        )
        # Discovery saw a good API; from now on it echoes the key back in its 401.
        ECHO["on"] = True
        assets = build_airbyte_assets_definitions(
            workspace=workspace, state_path=tmp_path / "state.json"
        )
        with dg.DagsterInstance.ephemeral() as instance:
            result = dg.materialize(
                assets, resources={"airbyte": workspace}, instance=instance, raise_on_error=False
            )
            run_text = _run_text(instance, result)
    assert not result.success
    failed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert len(failed) == 2, failed
    failures = [
        str(e.step_failure_data.error and e.step_failure_data.error.to_string())
        for e in result.all_events
        if e.is_step_failure
    ]
    assert any("no_such_db" in f for f in failures), failures
    assert any("401" in f for f in failures), failures

    token = httpx.post(
        f"{server.public_api_url}/applications/token",
        json={"client_id": "local-client", "client_secret": CLIENT_SECRET},
    ).json()["access_token"]
    bodies = _response_bodies(server, {"Authorization": f"Bearer {token}"})
    captured = capfd.readouterr()
    everything = {
        "captured logging": caplog.text,
        "stdout": captured.out,
        "stderr": captured.err,
        "run events and metadata": run_text,
        "step failures": "\n".join(failures),
        "server responses": bodies,
        "reprs": repr(workspace) + repr(client) + repr(client.http_client.auth),
    }
    leaks = {where: _hits(text) for where, text in everything.items() if _hits(text)}
    assert leaks == {}
    assert len(good) == 4


@pytest.mark.timeout(60)
def test_no_basic_auth_password_in_syncs_or_failures(
    local_airbyte_factory: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    server = local_airbyte_factory(
        auth="basic",
        basic_credentials=("airbyte", BASIC_PASSWORD),
        seed="sample",
        test_controls=True,
        max_attempts=1,
    )
    workspace = AirbyteWorkspace(
        url=server.config_api_url, username="airbyte", password=BASIC_PASSWORD, poll_interval=1.0
    )
    assets = build_airbyte_assets_definitions(workspace=workspace, state_path=tmp_path / "s.json")
    texts = [repr(workspace), repr(workspace.get_client().http_client.auth)]
    with dg.DagsterInstance.ephemeral() as instance:
        ok = dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
        assert ok.success
        texts.append(_run_text(instance, ok))
        control(
            server,
            "POST",
            f"connections/{server.sample_connection_id}/fail_next_attempts",
            {"count": 1, "message": "boom"},
        )
        failed = dg.materialize(
            assets, resources={"airbyte": workspace}, instance=instance, raise_on_error=False
        )
        assert not failed.success
        texts.append(_run_text(instance, failed))
    # A wrong password: the error names the setting, never the value tried.
    wrong = AirbyteWorkspace(url=server.config_api_url, username="airbyte", password=API_KEY)
    with pytest.raises(Exception) as caught:
        wrong.verify()
    texts += [str(caught.value), repr(caught.value), repr(wrong)]
    auth = httpx.BasicAuth("airbyte", BASIC_PASSWORD)
    for path in ("connections/list", "sources/list", "destinations/list"):
        texts.append(
            httpx.post(
                f"{server.config_api_url}/{path}",
                json={"workspaceId": server.workspace_id},
                auth=auth,
            ).text
        )
    captured = capfd.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert [t for t in texts if _hits(t)] == []


@pytest.mark.timeout(120)
def test_no_secret_in_the_demo(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DEMO_STATE_DIR": str(tmp_path / "state"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "DEMO_PORT": str(free_port()),
        "AIRBYTE_POLL_INTERVAL": "1",
        # The demo's server has no auth; the client still sends these on every request.
        "AIRBYTE_USERNAME": "airbyte",
        "AIRBYTE_PASSWORD": BASIC_PASSWORD,
    }
    demo = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "assets materialized" in demo.stdout
    assert _hits(demo.stdout) == [] and _hits(demo.stderr) == []
    # Every file the demo wrote: the server log, its state, Dagster's run storage and event log.
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".db") for p in written)
    leaking = [str(p) for p in written if any(s.encode() in p.read_bytes() for s in SENTINELS)]
    assert leaking == []


# -- sentinels for every credential of the resource, in everything Dagster keeps or shows -------

URL_SECRET = "SENTINEL-url-userinfo-8a2f"
PASSWORD_SECRET = "SENTINEL-password-61be"
TOKEN_SECRET = "SENTINEL-token-d07c"
CLIENT_SECRET_2 = "SENTINEL-client-secret-4f93"
RESOURCE_SENTINELS = (URL_SECRET, PASSWORD_SECRET, TOKEN_SECRET, CLIENT_SECRET_2)

SENTINEL_DEFS = """
import os

import dagster as dg

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions
from dagster_airbyte_assets.errors import AirbyteConfigurationError

url = os.environ["AIRBYTE_URL"]
airbyte = AirbyteWorkspace(
    url=url,
    client_id="local-client",
    client_secret=dg.EnvVar("AB_CLIENT_SECRET"),
    poll_interval=1.0,
)
with_token = AirbyteWorkspace(url=url, token=dg.EnvVar("AB_TOKEN"))
with_password = AirbyteWorkspace(
    url=url + "/api/v1", username="airbyte", password=dg.EnvVar("AB_PASSWORD")
)
with_plain = AirbyteWorkspace(url=url, token="plain-token-not-a-sentinel")
try:
    AirbyteWorkspace(url=os.environ["AB_URL_WITH_CREDENTIALS"])
except AirbyteConfigurationError as exc:
    print(f"refused: {exc!r}", flush=True)  # what a user's script would log
defs = dg.Definitions(
    assets=build_airbyte_assets_definitions(workspace=airbyte, state_path=os.environ["STATE_PATH"]),
    resources={
        "airbyte": airbyte,
        "with_token": with_token,
        "with_password": with_password,
        "with_plain": with_plain,
    },
)
"""

RESOURCES_QUERY = """
query ($selector: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $selector) {
    __typename
    ... on ResourceDetailsList { results { name configuredValues { key value type } } }
  }
}
"""


def _graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]


def _resource_snapshot(url: str, log: Path, server: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The resource page's data, once the code location has loaded."""
    selector = {"repositoryLocationName": "defs.py", "repositoryName": "__repository__"}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster-webserver exited:\n{log.read_text()[-3000:]}")
        try:
            data = _graphql(url, RESOURCES_QUERY, {"selector": selector})
        except (httpx.HTTPError, AssertionError):
            time.sleep(1)
            continue
        answer = data["allTopLevelResourceDetailsOrError"]
        if answer["__typename"] == "ResourceDetailsList":
            return {r["name"]: r["configuredValues"] for r in answer["results"]}
        time.sleep(1)
    pytest.fail(f"the code location did not load:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_resource_secret_sentinels_appear_nowhere(
    local_airbyte_factory: Any, tmp_path: Path
) -> None:
    server = local_airbyte_factory(
        seed="sample",
        auth="client-credentials",
        client_credentials=("local-client", CLIENT_SECRET_2),
        test_controls=True,
    )
    (tmp_path / "defs.py").write_text(SENTINEL_DEFS)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    state = tmp_path / "state.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRBYTE_", "DAGSTER_"))},
        "AIRBYTE_URL": server.url,
        "AB_CLIENT_SECRET": CLIENT_SECRET_2,
        "AB_TOKEN": TOKEN_SECRET,
        "AB_PASSWORD": PASSWORD_SECRET,
        "AB_URL_WITH_CREDENTIALS": f"http://airbyte:{URL_SECRET}@127.0.0.1:{server.port}",
        "STATE_PATH": str(state),
        "DAGSTER_HOME": str(home),
    }
    bin_dir = Path(sys.executable).parent
    # 1. A real run through the CLI: the state file, the event log database, stdout/stderr.
    run = subprocess.run(
        [str(bin_dir / "dagster"), "asset", "materialize", "-f", "defs.py", "--select", "*"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "refused: AirbyteConfigurationError(" in run.stdout + run.stderr
    assert "set `username` and `password`" in run.stdout + run.stderr
    assert state.exists() and any(p.suffix == ".db" for p in home.rglob("*"))

    # 2. The UI: the resource page as the webserver serves it over GraphQL.
    port = free_port()
    log = tmp_path / "webserver.log"
    with open(log, "wb") as out:
        webserver = subprocess.Popen(
            [
                str(bin_dir / "dagster-webserver"),
                "-f",
                "defs.py",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        resources = _resource_snapshot(f"http://127.0.0.1:{port}", log, webserver)
    finally:
        webserver.terminate()
        try:
            webserver.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(webserver.pid, signal.SIGKILL)
            webserver.wait()
    shown = {
        name: {v["key"]: (v["type"], v["value"]) for v in values}
        for name, values in resources.items()
    }
    assert shown["airbyte"]["client_secret"] == ("ENV_VAR", "AB_CLIENT_SECRET")
    assert shown["with_token"]["token"] == ("ENV_VAR", "AB_TOKEN")
    assert shown["with_password"]["password"] == ("ENV_VAR", "AB_PASSWORD")
    # A plain string is masked on the resource page (the field is marked secret)...
    assert shown["with_plain"]["token"][0] == "SECRET"
    assert "plain-token-not-a-sentinel" not in json.dumps(resources)
    # ...but Dagster keeps it in the code location's snapshot (the job's config defaults),
    # hence the warning at load that the README describes.
    assert "AirbyteWorkspace.token is a plain string" in run.stdout + run.stderr

    # 3. Everything written or shown, searched for every sentinel.
    written = [p for p in [*home.rglob("*"), state, log] if p.is_file()]
    texts = {
        "ui resource snapshot": json.dumps(resources),
        "stdout": run.stdout,
        "stderr": run.stderr,
        "reprs": repr(
            AirbyteWorkspace(url=server.url, client_id="c", client_secret=CLIENT_SECRET_2)
        )
        + repr(AirbyteWorkspace(url=server.url, token=TOKEN_SECRET).get_client().http_client.auth)
        + repr(AirbyteWorkspace(url=server.url, username="u", password=PASSWORD_SECRET)),
    }
    leaks = {where: [s for s in RESOURCE_SENTINELS if s in text] for where, text in texts.items()}
    leaks.update(
        {str(p): [s for s in RESOURCE_SENTINELS if s.encode() in p.read_bytes()] for p in written}
    )
    assert {where: found for where, found in leaks.items() if found} == {}


def test_a_plain_string_secret_is_warned_about_once_naming_envvar(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_airbyte_assets import resource as resource_module

    monkeypatch.setattr(resource_module, "_WARNED", set())
    caplog.set_level(logging.WARNING, "dagster_airbyte_assets")
    AirbyteWorkspace(url="http://localhost:8000", token="plain-token-value")
    AirbyteWorkspace(url="http://localhost:8000", token="plain-token-value")
    warnings = [r.getMessage() for r in caplog.records if "plain string" in r.getMessage()]
    assert len(warnings) == 1
    assert "AirbyteWorkspace.token" in warnings[0] and "dg.EnvVar('AIRBYTE_TOKEN')" in warnings[0]
    assert "plain-token-value" not in caplog.text
    # An EnvVar is no plain string, also once Dagster resolves it for a run.
    caplog.clear()
    monkeypatch.setenv("AB_TOKEN_FOR_TEST", "resolved-token-value")
    AirbyteWorkspace(
        url="http://localhost:8000", client_id="c", client_secret=dg.EnvVar("AB_TOKEN_FOR_TEST")
    )
    AirbyteWorkspace(
        url="http://localhost:8000", client_id="c", client_secret="resolved-token-value"
    )
    assert "plain string" not in caplog.text


def test_a_plain_string_secret_stays_in_dagsters_snapshot_which_is_why_it_is_warned() -> None:
    """What the README says the UI reads: the resource page masks the field, the snapshot keeps
    the value as a config default. So the only safe way is an EnvVar."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    plain = AirbyteWorkspace(url="http://localhost:8000", token="plain-value-in-snapshot")
    defs = dg.Definitions(resources={"airbyte": plain})
    snap = RepositorySnap.from_def(defs.get_repository_def())
    (resource,) = [r for r in snap.resources if r.name == "airbyte"]
    assert {f.name: f.is_secret for f in resource.config_field_snaps}["token"] is True
    assert "plain-value-in-snapshot" in serialize_value(snap)
