"""Sync detection: how soon each side sees a sync end, and how many calls it spends doing so.

Every case runs on its own local Airbyte (so each side's calls in a case are counted exactly);
cases run one after the other in a full run, at the same time in ``--medium``. Per case and per
side: ``lanes`` real Sample Data -> DuckDB connections; each first gets its history (warm-up
syncs started by the bench as an admin, which neither side's counters see, of ``history_s``
seconds: ours predicts a sync's end from the connection's recent durations on the server), then
the side's worker materializes it ``reps`` times with syncs of ``duration_s`` seconds. Syncs are
progressive (records flow during them, so ``connections/sync_progress`` grows as on a real
Airbyte, saved every 10 s as Airbyte saves them): a side that predicts the end from progress can.

Lag = the first ``ASSET_MATERIALIZATION`` event's timestamp in the Dagster instance minus the
float time the server saved the job as ``succeeded`` (``/_local/jobs/{id}/timeline``). Calls are
every API call of the side on the case's server from the start signal on (starting, waiting,
results, tokens), per sync and per minute of waiting (job creation -> materialization), and the
most calls of one connection in any 60 seconds.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plans import DetectCase, Plan
from bench.procs import Child
from bench.requestlog import Request, per_minute_max, summarize
from bench.server import BenchServer

__all__ = ["SIDES", "bench_detect"]

SIDES = ("ours", "theirs")


@dataclass
class _Lane:
    side: str
    connection_id: str
    child: Child
    poll_interval: float | None = None


def _say(message: str) -> None:
    print(message, flush=True)


def _start_lanes(
    bs: BenchServer, case: DetectCase, plan: Plan, ids: list[str], tmp: Path
) -> list[_Lane]:
    lanes = []
    for lane in range(case.lanes):
        for offset, side in enumerate(SIDES):
            connection_id = ids[2 * lane + offset]
            state_dir = tmp / f"{side}-{lane}"
            state_dir.mkdir()
            cfg = bs.worker_config(
                side,
                connection_ids=[connection_id],
                state_dir=str(state_dir),
                reps=case.reps,
                stagger=lane * case.stagger_s,
                poll_interval=plan.theirs_poll_interval if side == "theirs" else None,
            )
            lanes.append(_Lane(side, connection_id, Child(["detect", json.dumps(cfg)]).start()))
    return lanes


def _warm_up(bs: BenchServer, case: DetectCase, ids: list[str]) -> None:
    """The history ours predicts from: ``history`` syncs per connection, connections at once."""

    def history(connection_id: str) -> None:
        for _ in range(case.history):
            bs.run_sync(connection_id, timeout=120 + 3 * case.history_s)

    with ThreadPoolExecutor(len(ids)) as pool:
        list(pool.map(history, ids))


def _lane_requests(
    case: DetectCase, lane: _Lane, side_requests: list[Request], job_ids: list[int]
) -> list[Request]:
    if case.lanes == 1:
        return side_requests  # the side's only connection: every call is this lane's
    names = {lane.connection_id, *(str(j) for j in job_ids)}
    return [r for r in side_requests if names.intersection(r.ids)]


def _run_case(case: DetectCase, plan: Plan) -> dict[str, Any]:
    with BenchServer() as bs, tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp:
        ids = bs.sample_connections(2 * case.lanes, f"detect_{case.name}")
        for connection_id in ids:
            bs.sync_duration(connection_id, case.history_s, progressive=True)
        lanes = _start_lanes(bs, case, plan, ids, Path(tmp))
        try:
            _warm_up(bs, case, ids)
            for lane in lanes:
                lane.poll_interval = lane.child.read(300).get("poll_interval")
            for connection_id in ids:
                bs.sync_duration(connection_id, case.duration_s, progressive=True)
            bs.reset_counts()
            for lane in lanes:
                lane.child.send({"go": True})
            timeout = 120 + case.lanes * case.stagger_s + case.reps * (case.duration_s + 60)
            runs = [lane.child.read(timeout)["runs"] for lane in lanes]
            requests = bs.log.requests()
            for lane in lanes:
                lane.child.wait(30)
        except BaseException:
            for lane in lanes:
                if lane.child.proc.poll() is None:
                    lane.child.kill()
            raise
        return _case_row(bs, case, lanes, runs, requests)


def _case_row(
    bs: BenchServer,
    case: DetectCase,
    lanes: list[_Lane],
    runs: list[list[dict[str, Any]]],
    requests: list[Request],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "label": case.label,
        "history_s": case.history_s,
        "history": case.history,
        "duration_s": case.duration_s,
        "syncs_per_side": case.lanes * case.reps,
    }
    for side in SIDES:
        side_requests = [r for r in requests if r.side == side]
        lags: list[float] = []
        waits: list[float] = []
        waiting_calls = 0
        per_minute: list[int] = []
        attributed: set[int] = set()
        poll_interval = None
        windows: list[tuple[float, float]] = []
        for lane, lane_runs in zip(lanes, runs, strict=True):
            if lane.side != side:
                continue
            poll_interval = lane.poll_interval
            jobs = bs.job_ids(lane.connection_id)[-len(lane_runs) :]
            for run, job_id in zip(lane_runs, jobs, strict=True):
                timeline = bs.timeline(job_id)
                if not run["ok"] or timeline["status"] != "succeeded":
                    raise RuntimeError(f"{side} sync of {lane.connection_id} failed: {run}")
                if not run["first_materialization"]:
                    raise RuntimeError(f"{side} recorded no materialization: {run}")
                lags.append(run["first_materialization"] - timeline["endedAt"])
                waits.append(run["first_materialization"] - timeline["createdAt"])
                windows.append((timeline["createdAt"], run["first_materialization"]))
            mine = _lane_requests(case, lane, side_requests, jobs)
            # Calls while the job ran (after the call that created it, up to the event).
            waiting_calls += sum(1 for r in mine if any(a < r.started <= b for a, b in windows))
            windows.clear()
            attributed.update(id(r) for r in mine)
            per_minute.append(per_minute_max(r.started for r in mine))
        syncs = len(lags)
        calls = len(side_requests)
        mean_wait = sum(waits) / syncs
        row[side] = {
            "lag_p50_s": round(statistics.median(lags), 3),
            "lags_s": [round(v, 3) for v in lags],
            "calls": calls,
            "calls_per_sync": round(calls / syncs, 2),
            "calls_per_min": round(calls / (sum(waits) / 60), 2),
            "per_minute_max": max(per_minute),
            "unattributed_calls": sum(1 for r in side_requests if id(r) not in attributed),
            "mean_wait_s": round(mean_wait, 2),
            "poll_interval_s": poll_interval,
            "waiting_calls_per_sync": round(waiting_calls / syncs, 2),
            # 1.0 = one call per poll_interval of waiting, on average: all calls, and the calls
            # made while the job ran (what a long sync's cost tends to, its start and results
            # being a fixed few calls).
            "calls_per_poll_interval": (
                round(calls / syncs / (mean_wait / poll_interval), 2) if poll_interval else None
            ),
            "waiting_calls_per_poll_interval": (
                round(waiting_calls / syncs / (mean_wait / poll_interval), 2)
                if poll_interval
                else None
            ),
            "server": summarize(side_requests),
        }
    row["lag_ratio"] = (
        round(row["theirs"]["lag_p50_s"] / row["ours"]["lag_p50_s"], 1)
        if row["ours"]["lag_p50_s"] > 0
        else None
    )
    return row


def bench_detect(plan: Plan) -> dict[str, Any]:
    workers = len(plan.detect) if plan.detect_in_parallel else 1
    with ThreadPoolExecutor(workers) as pool:
        futures = {case.name: pool.submit(_run_case, case, plan) for case in plan.detect}
        cases = {name: future.result() for name, future in futures.items()}
    for name, row in cases.items():
        ours, theirs = row["ours"], row["theirs"]
        _say(
            f"  detect {name} ({row['label']}): ours p50 {ours['lag_p50_s']}s, "
            f"{ours['calls_per_sync']} calls/sync; theirs p50 {theirs['lag_p50_s']}s, "
            f"{theirs['calls_per_sync']} calls/sync"
        )
    return {"cases": cases}
