"""``python -m bench [--quick] [--out PATH] [--only load,detect,fanout]``: ours vs dagster-airbyte.

Every scenario runs both sides against one local Airbyte (client-credentials auth), each side
in fresh child processes, prints a table with ratios (theirs / ours), and the whole run is
written to ``bench/results.json`` (shape documented in ``bench/README.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.procs import LOG_PATH, Child
from bench.server import BenchServer

__all__ = ["Plan", "main"]

SIDES = ("ours", "theirs")


@dataclass(frozen=True)
class DetectCase:
    duration: float
    lanes: int  # concurrent connections per side, started `stagger` seconds apart
    reps: int  # sequential syncs per lane
    stagger: float = 8.0


@dataclass(frozen=True)
class Plan:
    sizes: Sequence[int] = (100, 500, 1000)
    streams: int = 10
    latency_ms: int = 20
    load_cap_s: float = 240.0
    detect: Sequence[DetectCase] = (DetectCase(2, 1, 5), DetectCase(60, 3, 1))
    fanout_connections: int = 50
    fanout_sync_s: float = 5.0
    fanout_cap_s: float = 420.0
    theirs_poll_interval: float | None = None  # None: the competitor's default (10 s)
    quick: bool = False
    notes: list[str] = field(default_factory=list)


FULL = Plan()
QUICK = Plan(
    sizes=(5,),
    load_cap_s=60,
    detect=(DetectCase(1, 1, 1),),
    fanout_connections=2,
    fanout_sync_s=0.5,
    fanout_cap_s=60,
    theirs_poll_interval=0.5,
    quick=True,
    notes=["--quick: smoke size, figures not meaningful; the competitor polls every 0.5 s"],
)


def _say(message: str) -> None:
    print(message, flush=True)


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    _say(f"\n{title}")
    _say("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        _say("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _ratio(theirs: float | None, ours: float | None) -> float | None:
    if theirs is None or not ours:
        return None
    return round(theirs / ours, 1)


# -- definition loading ---------------------------------------------------------------------------


def _load_once(
    bs: BenchServer, cfg: dict[str, Any], cap: float
) -> tuple[dict[str, Any] | None, int, float]:
    """One load in a fresh process: its answer (None if capped), API calls, sampled peak MiB."""
    bs.reset_counts()
    child = Child(["load", json.dumps(cfg)]).start()
    try:
        answer: dict[str, Any] | None = child.read(cap)
    except TimeoutError:
        # Stopped at the cap: keep the memory it had reached (a lower bound), so the figure
        # is still a number.
        answer = None
    finally:
        if child.proc.poll() is None:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
    return answer, bs.counts_by_side()[cfg["side"]], child.peak_tree_mb


def bench_load(plan: Plan) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for index, n in enumerate(plan.sizes):
        with BenchServer() as bs, tempfile.TemporaryDirectory() as tmp:
            bs.bulk(n, plan.streams)
            bs.latency(plan.latency_ms)
            row: dict[str, Any] = {"connections": n, "streams": n * plan.streams}
            for dialect in ("public", "config"):
                state = str(Path(tmp) / f"{dialect}.json")
                cfg = bs.worker_config("ours", dialect=dialect, state_path=state)
                cold, calls, _ = _load_once(bs, cfg, plan.load_cap_s)
                warm, reload_calls, _ = _load_once(bs, cfg, plan.load_cap_s)
                if cold is None or warm is None:
                    raise RuntimeError(f"our {dialect} load at N={n} exceeded the cap")
                key = "ours" if dialect == "public" else "ours_config"
                row[f"{key}_s"] = round(cold["seconds"], 4)
                row[f"{key}_requests"] = calls
                row[f"{key}_reload_s"] = round(warm["seconds"], 4)
                row[f"{key}_reload_requests"] = reload_calls
                row[f"{key}_peak_mb"] = round(cold["peak_mb"], 1)
                row[f"{key}_base_mb"] = round(cold["base_mb"], 1)
                row[f"{key}_assets"] = cold["assets"]
            cfg = bs.worker_config("theirs")
            cold, calls, sampled_mb = _load_once(bs, cfg, plan.load_cap_s)
            row["theirs_capped"] = cold is None
            row["theirs_s"] = round(cold["seconds"], 3) if cold else plan.load_cap_s
            row["theirs_requests"] = calls
            # At the cap: the peak reached so far (a lower bound), so the figure stays a number.
            row["theirs_peak_mb"] = round(cold["peak_mb"], 1) if cold else round(sampled_mb, 1)
            row["theirs_base_mb"] = round(cold["base_mb"], 1) if cold else None
            row["theirs_assets"] = cold["assets"] if cold else None
            if index == 0 and cold is not None and not plan.quick:
                # A new process (code server restart, run worker without a code server)
                # starts the competitor's load from scratch: measure it once.
                warm, reload_calls, _ = _load_once(bs, cfg, plan.load_cap_s)
                row["theirs_reload_requests"] = reload_calls
                row["theirs_reload_s"] = round(warm["seconds"], 3) if warm else None
            row["ratio_s"] = _ratio(row["theirs_s"], row["ours_s"])
            row["ratio_config_s"] = _ratio(row["theirs_s"], row["ours_config_s"])
            row["ratio_requests"] = _ratio(row["theirs_requests"], row["ours_requests"])
            results[str(n)] = row
            _say(
                f"  load N={n}: ours {row['ours_s']}s/{row['ours_requests']} calls "
                f"(config {row['ours_config_s']}s/{row['ours_config_requests']}), theirs "
                f"{row['theirs_s']}s/{row['theirs_requests']} calls"
                + (" (capped)" if row["theirs_capped"] else "")
            )
    _table(
        f"Definition loading ({plan.streams} streams per connection, {plan.latency_ms} ms "
        "latency per request; wall time of the build call, peak RSS of the process)",
        [
            "N",
            "ours s",
            "calls",
            "reload calls",
            "ours(config) s",
            "calls",
            "theirs s",
            "calls",
            "x time",
            "x time(cfg)",
            "ours MB",
            "theirs MB",
        ],
        [
            [
                n,
                r["ours_s"],
                r["ours_requests"],
                r["ours_reload_requests"],
                r["ours_config_s"],
                r["ours_config_requests"],
                f"{r['theirs_s']}{'+' if r['theirs_capped'] else ''}",
                r["theirs_requests"],
                r["ratio_s"],
                r["ratio_config_s"],
                r["ours_peak_mb"],
                r["theirs_peak_mb"],
            ]
            for n, r in results.items()
        ],
    )
    return results


# -- sync detection -------------------------------------------------------------------------------


def _detect_case(bs: BenchServer, case: DetectCase, plan: Plan, tmp: Path) -> dict[str, Any]:
    label = f"detect{int(case.duration)}"
    ids = bs.sample_connections(2 * case.lanes, label)
    for connection_id in ids:
        bs.sync_duration(connection_id, case.duration)
    lanes: list[tuple[str, str, Child]] = []
    for lane in range(case.lanes):
        for offset, side in enumerate(SIDES):
            connection_id = ids[2 * lane + offset]
            cfg = bs.worker_config(
                side,
                connection_ids=[connection_id],
                state_path=str(tmp / f"{label}-{lane}.json"),
                reps=case.reps,
                # Ours predicts the end from earlier syncs: give it one. The competitor's
                # waiting does not depend on history, so it skips the warm-up.
                warm=1 if side == "ours" else 0,
                stagger=lane * case.stagger,
                poll_interval=plan.theirs_poll_interval if side == "theirs" else None,
            )
            lanes.append((side, connection_id, Child(["detect", json.dumps(cfg)]).start()))
    warm_timeout = 120 + 3 * case.duration
    for _, _, child in lanes:
        child.read(warm_timeout)
    bs.reset_counts()
    for _, _, child in lanes:
        child.send({"go": True})
    run_timeout = 120 + case.lanes * case.stagger + case.reps * (case.duration + 30)
    runs = {id(child): child.read(run_timeout)["runs"] for _, _, child in lanes}
    calls = bs.counts_by_side()
    for _, _, child in lanes:
        child.wait(30)

    per_side: dict[str, dict[str, list[float]]] = {
        s: {"lag": [], "end_lag": [], "wait": []} for s in SIDES
    }
    for side, connection_id, child in lanes:
        lane_runs = runs[id(child)]
        jobs = bs.job_ids(connection_id)[-len(lane_runs) :]
        for run, job_id in zip(lane_runs, jobs, strict=True):
            timeline = bs.timeline(job_id)
            if (
                not run["ok"]
                or timeline["status"] != "succeeded"
                or not run["first_materialization"]
            ):
                raise RuntimeError(f"{side} sync of {connection_id} did not succeed: {run}")
            per_side[side]["lag"].append(run["first_materialization"] - timeline["endedAt"])
            per_side[side]["end_lag"].append(run["ended"] - timeline["endedAt"])
            per_side[side]["wait"].append(run["first_materialization"] - timeline["createdAt"])
    row: dict[str, Any] = {"runs_per_side": case.lanes * case.reps}
    for side in SIDES:
        waiting_min = sum(per_side[side]["wait"]) / 60
        row[f"{side}_p50_s"] = round(statistics.median(per_side[side]["lag"]), 3)
        row[f"{side}_calls_per_min"] = round(calls[side] / waiting_min, 1)
        row[f"{side}_calls"] = calls[side]
        row[f"{side}_lags_s"] = [round(v, 3) for v in per_side[side]["lag"]]
        row[f"{side}_end_of_materialize_p50_s"] = round(
            statistics.median(per_side[side]["end_lag"]), 3
        )
    row["ratio_p50"] = _ratio(row["theirs_p50_s"], row["ours_p50_s"])
    row["ratio_calls_per_min"] = _ratio(row["theirs_calls_per_min"], row["ours_calls_per_min"])
    return row


def bench_detect(plan: Plan) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with BenchServer() as bs, tempfile.TemporaryDirectory() as tmp:
        for case in plan.detect:
            row = _detect_case(bs, case, plan, Path(tmp))
            results[f"{case.duration:g}"] = row
            _say(
                f"  detect {case.duration:g}s: ours p50 {row['ours_p50_s']}s "
                f"({row['ours_calls_per_min']}/min), theirs p50 {row['theirs_p50_s']}s "
                f"({row['theirs_calls_per_min']}/min)"
            )
    _table(
        "Sync detection (job succeeded on the server -> first materialization event; median; "
        "calls per minute of waiting)",
        ["sync s", "runs", "ours p50 s", "theirs p50 s", "x", "ours calls/min", "theirs", "x"],
        [
            [
                d,
                r["runs_per_side"],
                r["ours_p50_s"],
                r["theirs_p50_s"],
                r["ratio_p50"],
                r["ours_calls_per_min"],
                r["theirs_calls_per_min"],
                r["ratio_calls_per_min"],
            ]
            for d, r in results.items()
        ],
    )
    return results


# -- many connections at once ---------------------------------------------------------------------


def bench_fanout(plan: Plan) -> dict[str, Any]:
    n = plan.fanout_connections
    row: dict[str, Any] = {"connections": n, "sync_s": plan.fanout_sync_s}
    with BenchServer() as bs, tempfile.TemporaryDirectory() as tmp:
        ids = bs.sample_connections(n, "fanout")
        for connection_id in ids:
            bs.sync_duration(connection_id, plan.fanout_sync_s)
        for side in SIDES:
            cfg = bs.worker_config(
                side,
                connection_ids=ids,
                state_path=str(Path(tmp) / "fanout.json"),
                one_step=side == "ours",
                poll_interval=plan.theirs_poll_interval if side == "theirs" else None,
            )
            bs.reset_counts()
            child = Child(["fanout", json.dumps(cfg)], sample_interval=0.2).start()
            started = time.monotonic()
            try:
                answer = child.read(plan.fanout_cap_s)
                child.wait(60)
                capped = False
            except TimeoutError:
                answer, capped = {"ok": False, "seconds": time.monotonic() - started}, True
            row[f"{side}_wall_s"] = round(answer["seconds"], 2)
            row[f"{side}_capped"] = capped
            row[f"{side}_ok"] = answer["ok"]
            row[f"{side}_materializations"] = answer.get("materializations")
            row[f"{side}_peak_mb"] = round(child.peak_tree_mb, 1)
            row[f"{side}_processes"] = len(child.pids)
            row[f"{side}_requests"] = bs.counts_by_side()[side]
            _say(
                f"  fanout {side}: {row[f'{side}_wall_s']}s, {row[f'{side}_processes']} "
                f"processes, peak {row[f'{side}_peak_mb']} MB" + (" (capped)" if capped else "")
            )
    row["ratio_wall"] = _ratio(row["theirs_wall_s"], row["ours_wall_s"])
    row["ratio_peak_mb"] = _ratio(row["theirs_peak_mb"], row["ours_peak_mb"])
    _table(
        f"Many connections at once ({n} connections, ~{plan.fanout_sync_s:g} s syncs, one run; "
        "peak = sum of RSS over the process tree, sampled every 0.2 s)",
        ["side", "wall s", "processes", "peak MB", "API calls", "materializations"],
        [
            [
                s,
                row[f"{s}_wall_s"],
                row[f"{s}_processes"],
                row[f"{s}_peak_mb"],
                row[f"{s}_requests"],
                row[f"{s}_materializations"],
            ]
            for s in SIDES
        ],
    )
    return row


# -- entry point ----------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    memory_gib = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    memory_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _versions() -> dict[str, str]:
    names = ("dagster-airbyte-assets", "dagster-airbyte", "dagster", "httpx", "requests")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke test)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    parser.add_argument("--only", default="load,detect,fanout", help="comma-separated scenarios")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    scenarios: dict[str, Callable[[Plan], dict[str, Any]]] = {
        "load": bench_load,
        "detect": bench_detect,
        "fanout": bench_fanout,
    }
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - scenarios.keys()
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": _machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "settings": {
            "quick": args.quick,
            "auth": "client-credentials (both sides)",
            "theirs_poll_interval_s": plan.theirs_poll_interval or 10.0,
            "memory": "load: peak RSS (VmHWM) of the loading process; fanout: sampled sum of "
            "RSS over the run's process tree",
            "notes": plan.notes,
        },
    }
    for name in wanted:
        _say(f"[{name}]")
        results[name] = scenarios[name](plan)
    results["total_s"] = round(time.monotonic() - started, 1)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    _say(f"\nwrote {args.out} in {results['total_s']} s (worker logs: {LOG_PATH})")
    return 0
