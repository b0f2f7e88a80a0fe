"""The fault suite's cases: which fault, where, through which dialect and auth; how each
materialization is run and judged against the server's own record.

A case materializes one fresh connection (the Sample Data streams, its own tables) through its
own :class:`~proxy.FaultProxy`, with one fault kind injected in one phase of the sync:

- ``start``: the call that starts the sync (Config ``POST /api/v1/connections/sync``,
  Public ``POST /api/public/v1/jobs``), its first occurrence;
- ``poll``: the first read of job data (``jobs/get``, ``jobs/list``, ``GET /jobs/{id}``...)
  while the run's job is running on the server;
- ``stats``: the first read of each job endpoint after the job ended on the server (only one
  for the 401), i.e. whatever calls bring back the final status and per-stream numbers;
- ``mixed``: a seeded schedule spreading every fault kind over every API call of the run
  (about one call in three), plus a seeded fault kind on the start call.

Parameters drawn from the case's seed: ``Retry-After`` (1 or 2 s), the HTML page (a login
page or a gateway's error page), the mixed schedule and its start fault.

Before each case the connection gets one directly started, finished sync (the "previous run",
seconds old), so a client that adopts any recent job instead of the one it started is caught.
In the start, poll and mixed cases every sync takes ``SYNC_SECONDS`` on the server, so the job
is polled while it runs, and a job the client abandons is still running when the run ends; in
the stats cases both syncs take ``STATS_SYNC_SECONDS``, so the job has clearly ended when the
waiter first looks.
The streams are incremental, so a job's numbers are the sums over its attempts.

Judgement (server side, over plain HTTP): a run that succeeds must have created exactly one
new job, reported that job's id and that job's per-stream numbers; a run that fails must fail
with a typed error (an ``AirbyteError``, or a ``dagster.Failure`` carrying one in ``.error``)
and leave no job running. Either way no job may appear after the run ended: the proxy is
drained first (a stalled start is forwarded ``STALL_SECONDS`` after it arrived, 2 s after the
client's ``request_timeout`` gave up on it), then the jobs are listed again.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
import traceback
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import stamina
from proxy import Exchange, Fault, FaultProxy, FaultSchedule, ProxyRequest, Rule
from server_side import ServerJob, ServerSide

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions
from dagster_airbyte_assets.errors import AirbyteError
from dagster_airbyte_assets.translator import MetadataKeys

__all__ = [
    "CASES",
    "SEED",
    "VIOLATIONS",
    "Case",
    "ClientLogs",
    "Outcome",
    "auth_settings",
    "is_job_read",
    "is_start",
    "judge",
    "judge_success",
    "materialize",
    "run_case",
    "run_messages",
    "typed_airbyte_error",
]

SEED = int(os.environ.get("FAULTS_SEED", "20251123"))
REQUEST_TIMEOUT = 3.0
STALL_SECONDS = REQUEST_TIMEOUT + 2.0
SYNC_SECONDS = 3.0
STATS_SYNC_SECONDS = 1.0
POLL_INTERVAL = 1.0
# A guard against a hang, far above any sync here (each takes at most SYNC_SECONDS).
POLL_TIMEOUT = 120.0
DRAIN_TIMEOUT = 4 * STALL_SECONDS + 30
# Dagster's console logger off (failures are judged and reported here, with the run's log).
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

DIALECTS = ("config", "public")
AUTH_MODES = ("none", "basic", "client-credentials")
PHASES = ("start", "poll", "stats")

# Each fault kind, built from the case's seeded random generator where it has a parameter.
FAULT_KINDS: dict[str, Callable[[random.Random], Fault]] = {
    "503": lambda rng: Fault.error(503),
    "502": lambda rng: Fault.error(502),
    "429": lambda rng: Fault.rate_limited(retry_after=rng.choice((1, 2))),
    "401": lambda rng: Fault.unauthorized(),
    "reset_before": lambda rng: Fault.reset_before(),
    "reset_after": lambda rng: Fault.reset_after(),
    "created_500": lambda rng: Fault.created_but_500(),
    "truncated": lambda rng: Fault.truncated(0.5),
    "html_200": lambda rng: Fault.html_200(rng.choice(("login", "proxy_error"))),
    "stall": lambda rng: Fault.stall(STALL_SECONDS),
    "stall_late": lambda rng: Fault.stall(STALL_SECONDS, forward_late=True),
}
MIXED_RATE = 0.03  # per fault kind and API call: about one call in three gets a fault

# What can go wrong, as counted in the report; "zero" is the acceptance for each.
VIOLATIONS = (
    "run_failed",  # outage tests only: the run must succeed
    "false_success",
    "duplicate_jobs",
    "wrong_numbers",
    "untyped_failure",
    "left_running",
    "late_job",
    "fault_not_injected",
    "harness_error",
)

_START = r"^/api/v1/connections/sync/?$|^/api/public/v1/jobs/?$"
# Every Config API call that reads a job, its attempts or its numbers (config-api.yaml).
_CONFIG_JOB_READ = (
    r"^/api/v1/(jobs/(get|get_without_logs|get_light|get_debug_info|list|list_for_workspaces"
    r"|get_last_replication_job)|attempt/(get_for_job|get_combined_stats)"
    r"|connections/(sync_progress|status|last_job_per_stream)|web_backend/connections/get)/?$"
)
_PUBLIC_JOB_READ = r"^/api/public/v1/jobs(/\d+)?/?$"


def is_start(method: str, path: str) -> bool:
    return method == "POST" and re.search(_START, path) is not None


def is_job_read(request: ProxyRequest) -> bool:
    """A call that reads job data: a status poll, a job list, attempts, sync progress."""
    if request.method == "POST" and re.search(_CONFIG_JOB_READ, request.path):
        return True
    return request.method == "GET" and re.search(_PUBLIC_JOB_READ, request.path) is not None


@dataclass(frozen=True)
class Case:
    number: int
    phase: str
    kind: str
    dialect: str
    auth: str

    @property
    def id(self) -> str:
        if self.phase == "outage":  # the kind says it (down_30s_refuse)
            return f"{self.kind}-{self.dialect}-{self.auth}"
        return f"{self.phase}-{self.kind}-{self.dialect}-{self.auth}"

    @property
    def seed(self) -> int:
        """Derived from the suite's seed and the case id (stable across processes)."""
        return zlib.crc32(f"{SEED}:{self.id}".encode())

    def __str__(self) -> str:
        return self.id


def _all_cases() -> list[Case]:
    cases: list[Case] = []
    for p, phase in enumerate(PHASES):
        for k, kind in enumerate(FAULT_KINDS):
            for d, dialect in enumerate(DIALECTS):
                # Rotate auth so each kind meets two of the modes and every (dialect, phase)
                # pair meets all three.
                auth = AUTH_MODES[(k + p + d) % len(AUTH_MODES)]
                cases.append(Case(len(cases) + 1, phase, kind, dialect, auth))
    for dialect in DIALECTS:
        for auth in AUTH_MODES:
            cases.append(Case(len(cases) + 1, "mixed", "mixed", dialect, auth))
    return cases


CASES = _all_cases()


def auth_settings(auth: str, server: Any) -> dict[str, str]:
    if auth == "basic":
        username, password = server.basic_credentials
        return {"username": username, "password": password}
    if auth == "client-credentials":
        client_id, client_secret = server.client_credentials
        return {"client_id": client_id, "client_secret": client_secret}
    return {}


def typed_airbyte_error(exc: BaseException) -> AirbyteError | None:
    """The typed error a failed step carries, or None when it is not one of ours."""
    if isinstance(exc, AirbyteError):
        return exc
    if isinstance(exc, dg.Failure):
        error = getattr(exc, "error", None)
        if isinstance(error, AirbyteError):
            return error
        if isinstance(exc.__cause__, AirbyteError):
            return exc.__cause__
    return None


# -- the client's own words ---------------------------------------------------------------------


class ClientLogs(logging.Handler):
    """While a batch of runs goes on: the integration's log lines and stamina's retries, kept
    per thread (each run's step runs on its caller's thread) for the failure reports, instead
    of flooding the test output. Use as a context manager around the batch."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._lines: dict[int, list[tuple[float, str]]] = defaultdict(list)
        self._guard = threading.Lock()
        self._logger = logging.getLogger("dagster_airbyte_assets")
        self._saved: tuple[int, bool, Any] = (0, True, ())

    def emit(self, record: logging.LogRecord) -> None:
        line = f"{record.levelname.lower()}: {record.getMessage()}"
        with self._guard:
            self._lines[record.thread or 0].append((record.created, line))

    def _on_retry(self, details: stamina.instrumentation.RetryDetails) -> None:
        line = (
            f"retry: {details.name} retry #{details.retry_num} in {details.wait_for:.2f}s "
            f"after {details.caused_by!r}"
        )
        with self._guard:
            self._lines[threading.get_ident()].append((time.time(), line))

    def take(self) -> list[tuple[float, str]]:
        """This thread's lines so far, as ``(time, line)``; forgets them."""
        with self._guard:
            return self._lines.pop(threading.get_ident(), [])

    def __enter__(self) -> ClientLogs:
        logger = self._logger
        self._saved = (logger.level, logger.propagate, stamina.instrumentation.get_on_retry_hooks())
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(self)
        stamina.instrumentation.set_on_retry_hooks([self._on_retry])
        return self

    def __exit__(self, *exc: object) -> None:
        level, propagate, hooks = self._saved
        self._logger.removeHandler(self)
        self._logger.setLevel(level)
        self._logger.propagate = propagate
        stamina.instrumentation.set_on_retry_hooks(hooks)


# -- one case -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    case: Case
    url: str = ""
    connection_id: str = ""
    succeeded: bool = False
    error: str | None = None
    typed: bool | None = None
    reported_job: int | None = None
    jobs_before: list[ServerJob] = field(default_factory=list)
    jobs_at_end: list[ServerJob] = field(default_factory=list)
    jobs_after: list[ServerJob] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    violations: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def result(self) -> str:
        """``success`` / ``typed_failure`` when clean, else the first violation."""
        if self.violations:
            return next(iter(self.violations))
        return "success" if self.succeeded else "typed_failure"

    def add(self, kind: str, detail: str) -> None:
        assert kind in VIOLATIONS, kind
        self.violations.setdefault(kind, detail)

    def report(self) -> str:
        case = self.case
        before_ids = {j.id for j in self.jobs_before}

        def jobs(listing: list[ServerJob]) -> str:
            shown = [j.describe() + ("" if j.id in before_ids else " NEW") for j in listing]
            return "; ".join(shown) or "none"

        injected = [e.describe() for e in self.exchanges if e.fault] or ["none"]
        module = "test_outage.py" if case.phase == "outage" else "test_fault_suite.py"
        lines = [
            f"case {case.id} (seed {case.seed}, suite seed {SEED}): fault {case.kind!r} in "
            f"phase {case.phase!r}; {case.dialect} dialect at {self.url}, auth {case.auth}; "
            f"connection {self.connection_id}",
            "violations:",
            *(f"  - {kind}: {detail}" for kind, detail in self.violations.items()),
            "the run: "
            + (
                f"succeeded, reporting job {self.reported_job}"
                if self.succeeded
                else f"failed with {self.error}"
            ),
            "server-side jobs of the connection:",
            f"  before the run:       {jobs(self.jobs_before)}",
            f"  when the run ended:   {jobs(self.jobs_at_end)}",
            f"  after the late wait:  {jobs(self.jobs_after)}",
            "faults injected:",
            *(f"  {line}" for line in injected),
            "every exchange through the proxy:",
            *(f"  {e.describe()}" for e in self.exchanges),
            "the client's log (last 25 lines):",
            *(f"  {line}" for line in self.log[-25:]),
            f"reproduce: pytest tests/faults/{module} -k '{case.id}' (FAULTS_SEED={SEED})",
        ]
        return "\n".join(lines)


def _arm(
    proxy: FaultProxy, case: Case, side: ServerSide, connection_id: str, before: set[int]
) -> None:
    """Give the case's proxy its rule (or schedule), from the case's seed."""
    rng = random.Random(case.seed)
    if case.phase == "mixed":
        kinds = sorted(FAULT_KINDS)
        proxy.set_schedule(
            FaultSchedule(
                case.seed, [(FAULT_KINDS[k](rng), MIXED_RATE) for k in kinds], path=r"^/api/"
            )
        )
        # However the client's calls line up with the draws, it meets at least one fault.
        kind = rng.choice(kinds)
        proxy.add_rule(
            Rule(FAULT_KINDS[kind](rng), method="POST", path=_START, name=f"{kind} on the start")
        )
        return
    fault = FAULT_KINDS[case.kind](rng)
    if case.phase == "start":
        proxy.add_rule(
            Rule(fault, method="POST", path=_START, name=f"{case.kind} on the start call")
        )
        return

    def new_jobs() -> list[ServerJob]:
        return [j for j in side.jobs(connection_id) if j.id not in before]

    if case.phase == "poll":

        def running(request: ProxyRequest) -> bool:
            return is_job_read(request) and any(not j.terminal for j in new_jobs())

        # The first read while the job runs: any waiter makes at least one.
        proxy.add_rule(Rule(fault, when=running, name=f"{case.kind} on a job read while running"))
        return

    # Stats: the first read of each job endpoint once the job has ended, so that the fault
    # meets both the call that sees the end and the one that fetches the numbers, whichever
    # endpoints the client uses (retries of a faulted call then pass).
    faulted: set[str] = set()
    lock = threading.Lock()

    def first_read_per_endpoint_after_the_end(request: ProxyRequest) -> bool:
        if not is_job_read(request):
            return False
        jobs = new_jobs()
        if not jobs or not all(j.terminal for j in jobs):
            return False
        endpoint = request.method + " " + re.sub(r"/\d+", "/{id}", request.path)
        with lock:
            if endpoint in faulted:
                return False
            faulted.add(endpoint)
            return True

    proxy.add_rule(
        Rule(
            fault,
            times=1 if case.kind == "401" else None,  # one 401 per run
            when=first_read_per_endpoint_after_the_end,
            name=f"{case.kind} on the first read of each job endpoint after the end",
        )
    )


def materialize(
    assets: list[dg.AssetsDefinition],
    settings: dict[str, Any],
    instance: dg.DagsterInstance,
    outcome: Outcome,
) -> dg.ExecuteInProcessResult | None:
    """Run the assets with a fresh resource (no client state carries over between runs);
    on failure, note the error and whether it is typed, and return None."""
    try:
        return dg.materialize(
            assets,
            resources={"airbyte": AirbyteWorkspace(**settings)},
            instance=instance,
            run_config=QUIET_RUN,
        )
    except Exception as exc:
        typed = typed_airbyte_error(exc)
        outcome.typed = typed is not None
        shown = typed if typed is not None else exc
        outcome.error = f"{type(exc).__name__} ({type(shown).__name__}): {shown}"
        return None


def run_messages(instance: dg.DagsterInstance) -> list[tuple[float, str]]:
    """What the steps logged to their runs (``context.log``), as ``(time, line)``."""
    lines = []
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            if entry.user_message and not entry.is_dagster_event:
                level = logging.getLevelName(entry.level).lower()
                lines.append((entry.timestamp, f"{level}: {entry.user_message}"))
    return lines


def run_case(case: Case, server: Any, side: ServerSide, tmp: Path, logs: ClientLogs) -> Outcome:
    """Materialize the case's connection through a faulty proxy and judge it server side."""
    outcome = Outcome(case)
    started = time.monotonic()
    try:
        _run(case, server, side, tmp, logs, outcome)
    except Exception:
        outcome.add("harness_error", traceback.format_exc())
    outcome.seconds = time.monotonic() - started
    return outcome


def _run(
    case: Case, server: Any, side: ServerSide, tmp: Path, logs: ClientLogs, outcome: Outcome
) -> None:
    connection_id = side.clone_sample_connection(
        f"fault case {case.number:03d}", f"f{case.number:03d}_"
    )
    outcome.connection_id = connection_id
    if case.phase == "stats":
        # This run and the previous one take a set second, so the waiter's first check (a
        # margin past the history's median) comes clearly after the end, never on it: an
        # instant sync could end between the rule's look at the server and the read itself.
        side.set_sync_duration(connection_id, STATS_SYNC_SECONDS)
    side.sync_and_wait(connection_id)  # the previous run: a recent, finished job to not adopt
    if case.phase in ("start", "poll", "mixed"):
        side.set_sync_duration(connection_id, SYNC_SECONDS)

    with FaultProxy(server.url) as proxy:
        url = f"{proxy.url}/api/v1" if case.dialect == "config" else proxy.url
        outcome.url = url
        settings: dict[str, Any] = {
            "url": url,
            "request_timeout": REQUEST_TIMEOUT,
            "poll_interval": POLL_INTERVAL,
            "poll_timeout": POLL_TIMEOUT,
            **auth_settings(case.auth, server),
        }
        # Loading goes through the proxy too, before any fault is armed: it is not under test.
        assets = build_airbyte_assets_definitions(
            workspace=AirbyteWorkspace(**settings),
            state_path=tmp / f"state-{case.number:03d}.json",
            connection_selector=lambda c: c.connection_id == connection_id,
        )
        assert len(assets) == 1, f"expected the case's one connection, got {len(assets)}"
        streams = {
            spec.key: str(spec.metadata[MetadataKeys.STREAM_NAME]) for spec in assets[0].specs
        }
        proxy.reset()
        outcome.jobs_before = side.jobs(connection_id)
        before = {j.id for j in outcome.jobs_before}
        _arm(proxy, case, side, connection_id, before)

        instance = dg.DagsterInstance.ephemeral()
        result = materialize(assets, settings, instance, outcome)
        run_ended = time.time()
        outcome.jobs_at_end = side.jobs(connection_id)
        drained = proxy.wait_idle(DRAIN_TIMEOUT)
        outcome.jobs_after = side.jobs(connection_id)
        outcome.exchanges = proxy.exchanges
        outcome.log = [line for _, line in sorted(run_messages(instance) + logs.take())]
        instance.dispose()
    side.cancel_running(connection_id)  # whatever a faulty run left behind stops here

    if not drained:
        outcome.add("harness_error", f"the proxy still held requests after {DRAIN_TIMEOUT}s")
    judge(outcome, result, streams, before, run_ended)
    if not any(e.fault for e in outcome.exchanges):
        outcome.add(
            "fault_not_injected",
            f"no request matched the {case.phase!r} rule; the case tested nothing "
            f"({len(outcome.exchanges)} exchanges)",
        )


def judge(
    outcome: Outcome,
    result: dg.ExecuteInProcessResult | None,
    streams: dict[dg.AssetKey, str],
    before: set[int],
    run_ended: float,
) -> None:
    """Judge a finished run on the server's record (``outcome.jobs_*``, ``exchanges``).

    Success: exactly one new job, reported with its numbers. Failure: typed, no job left
    running, at most one job created. Either way: no job created after the run ended.
    """
    outcome.succeeded = result is not None and result.success
    new_at_end = [j for j in outcome.jobs_at_end if j.id not in before]
    new_after = [j for j in outcome.jobs_after if j.id not in before]

    if outcome.succeeded:
        assert result is not None
        judge_success(outcome, result, streams, before, new_at_end)
    else:
        if not outcome.typed:
            outcome.add("untyped_failure", f"the step failed with {outcome.error}")
        if len(new_at_end) > 1:
            outcome.add(
                "duplicate_jobs",
                f"the failed run created {len(new_at_end)} jobs: "
                + ", ".join(j.describe() for j in new_at_end),
            )

    running = [j for j in new_at_end if not j.terminal and j.id != outcome.reported_job]
    if running:
        outcome.add(
            "left_running",
            f"the run {'succeeded' if outcome.succeeded else 'failed'} while "
            + ", ".join(j.describe() for j in running)
            + " was still running on the server",
        )
    at_end_ids = {j.id for j in new_at_end}
    late = [j for j in new_after if j.id not in at_end_ids]
    late_starts = [
        e
        for e in outcome.exchanges
        if is_start(e.method, e.path)
        and e.forwarded_at is not None
        and e.forwarded_at > run_ended
        and e.upstream_status is not None
        and e.upstream_status < 300
    ]
    if late or late_starts:
        detail = ", ".join(j.describe() for j in late) or "a job"
        starts = "; ".join(e.describe() for e in late_starts)
        outcome.add(
            "late_job",
            f"{detail} appeared after the run ended"
            + (
                f" (start request(s) reaching the server after the run: {starts})" if starts else ""
            ),
        )


def judge_success(
    outcome: Outcome,
    result: dg.ExecuteInProcessResult,
    streams: dict[dg.AssetKey, str],
    before: set[int],
    new_jobs: list[ServerJob],
) -> None:
    """A success must be exactly one new, succeeded job, reported with its own numbers."""
    materialized: dict[dg.AssetKey, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        materialized[mat.asset_key] = {k: v.value for k, v in mat.metadata.items()}
    reported = {meta.get(MetadataKeys.JOB_ID) for meta in materialized.values()}
    outcome.reported_job = next(iter(reported)) if len(reported) == 1 else None
    new_ids = sorted(j.id for j in new_jobs)
    created = f"new job(s) on the server: {new_ids}" if new_ids else "the server has no new job"
    if outcome.reported_job in before:
        outcome.add(
            "false_success",
            f"the run reported job {outcome.reported_job}, which existed before the run (it "
            f"adopted the previous run's job); {created}",
        )
        return
    if outcome.reported_job not in new_ids:
        outcome.add(
            "false_success",
            f"the run reported job(s) {sorted(map(str, reported))}, not a job of this run; "
            f"{created}",
        )
        return
    if len(new_jobs) > 1:
        outcome.add(
            "duplicate_jobs",
            f"{len(new_jobs)} new jobs for one materialization: "
            + ", ".join(j.describe() for j in new_jobs),
        )
    job = next(j for j in new_jobs if j.id == outcome.reported_job)
    if job.status != "succeeded" or job.config_type != "sync":
        outcome.add(
            "false_success",
            f"the run succeeded but the server says {job.describe()}",
        )
        return
    problems = []
    missing = sorted(key.to_user_string() for key in streams if key not in materialized)
    if missing:
        problems.append(f"no materialization for {missing}")
    for key, name in streams.items():
        meta = materialized.get(key)
        if meta is None:
            continue
        truth = job.streams.get(name)
        if truth is None:
            problems.append(f"{name}: the server has no numbers for this stream")
            continue
        if meta.get(MetadataKeys.STATS_REPORTED) is not True:
            problems.append(f"{name}: stats_reported={meta.get(MetadataKeys.STATS_REPORTED)}")
        pairs = [
            (MetadataKeys.RECORDS_SYNCED, truth.records_committed, True),
            (MetadataKeys.BYTES_COMMITTED, truth.bytes_committed, False),
            (MetadataKeys.RECORDS_EMITTED, truth.records_emitted, False),
        ]
        for meta_key, expected, required in pairs:
            if meta_key not in meta and not required:
                continue
            if meta.get(meta_key) != expected:
                problems.append(
                    f"{name}: {meta_key}={meta.get(meta_key)!r}, server says {expected!r}"
                )
        if MetadataKeys.ATTEMPTS in meta and meta[MetadataKeys.ATTEMPTS] != job.attempts:
            problems.append(
                f"{name}: {MetadataKeys.ATTEMPTS}={meta[MetadataKeys.ATTEMPTS]}, server says "
                f"{job.attempts}"
            )
    if problems:
        outcome.add("wrong_numbers", f"job {job.id}: " + "; ".join(problems))
