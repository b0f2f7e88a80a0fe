"""Definition loading: ours (cold and reload), the floor, and the competitor, per size.

Per size N (N connections x 10 streams on a fresh local Airbyte with injected latency):

- ours cold (empty state directory: fetches and saves), ours reload (same directory, a new
  process) and the floor (bare Dagster building ours' specs, :mod:`bench.floor`), interleaved
  ``load_reps`` times; medians of wall and CPU time and of peak RSS;
- ours with the Config API URL, cold and reload, once;
- the competitor, cold once (stopped at ``load_cap_s``), and at the first size a second fresh
  process (its "reload": it keeps no state across processes);
- at the sizes in ``fast_sizes``, both sides again on the fast stub (:mod:`bench.stub`), which
  replays the local Airbyte's recorded answers with no latency and no work.

The server's own time per request comes from the request log; "requests' time" of a load is the
time covered by its requests as the server saw them (injected latency plus handler time,
overlapping requests counted once).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.plans import Plan
from bench.procs import Child
from bench.requestlog import Request, summarize, union_seconds
from bench.server import BenchServer
from bench.stub import StubServer

__all__ = ["bench_load"]

_URL_FIELDS = ("url", "config_api_url", "public_api_url")


def _say(message: str) -> None:
    print(message, flush=True)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def _run(cfg: dict[str, Any], mode: str, cap: float) -> tuple[dict[str, Any] | None, float]:
    """One measurement in a fresh process: its answer (None if stopped at ``cap``) and the
    sampled peak RSS of its tree (the only memory figure left when it is stopped)."""
    child = Child([mode, json.dumps(cfg)]).start()
    try:
        answer: dict[str, Any] | None = child.read(cap)
    except TimeoutError:
        answer = None
    finally:
        if child.proc.poll() is None:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
    return answer, child.peak_tree_mb


def _requests_seconds(requests: list[Request], latency_s: float) -> float:
    return union_seconds((r.started - latency_s, r.started + r.seconds) for r in requests)


def _measure(
    log_owner: BenchServer | StubServer, cfg: dict[str, Any], cap: float, latency_s: float
) -> dict[str, Any]:
    """A load by one side, with what the server saw of it."""
    log_owner.log.clear()
    answer, sampled_mb = _run(cfg, "load", cap)
    requests = log_owner.log.requests(cfg["side"])
    result: dict[str, Any] = {
        "capped": answer is None,
        # Stopped at the cap: its time so far, so a ratio against it is a lower bound.
        "wall_s": cap,
        "requests": len(requests),
        "requests_s": round(_requests_seconds(requests, latency_s), 4),
        "server": summarize(requests),
        # At the cap, the peak reached so far (a lower bound), so the figure stays a number.
        "peak_mb": round(answer["peak_mb"], 1) if answer else round(sampled_mb, 1),
    }
    if answer is not None:
        result.update(
            wall_s=round(answer["seconds"], 4),
            cpu_s=round(answer["cpu_seconds"], 4),
            gc_cpu_s=round(answer["gc_cpu_seconds"], 4),
            base_mb=round(answer["base_mb"], 1),
            assets=answer["assets"],
            multi_assets=answer["multi_assets"],
            fingerprint=answer["fingerprint"],
        )
    return result


def _floor(path: Path, url: str) -> dict[str, Any]:
    answer, _ = _run({"path": str(path), "url": url}, "floor", 600)
    if answer is None:  # pragma: no cover - the floor is bounded by ours
        raise RuntimeError("the floor did not finish")
    return {
        "wall_s": round(answer["seconds"], 4),
        "cpu_s": round(answer["cpu_seconds"], 4),
        "gc_cpu_s": round(answer["gc_cpu_seconds"], 4),
        "parse_s": round(answer["parse_seconds"], 4),
        "peak_mb": round(answer["peak_mb"], 1),
        "base_mb": round(answer["base_mb"], 1),
        "assets": answer["assets"],
        "multi_assets": answer["multi_assets"],
        "fingerprint": answer["fingerprint"],
        "fallbacks": answer["fallbacks"],
        "fallback_count": answer["fallback_count"],
    }


def _fresh(path: Path) -> str:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path)


def _medians(samples: list[dict[str, Any]], prefix: str, row: dict[str, Any]) -> None:
    done = [s for s in samples if not s.get("capped")]
    for name in ("wall_s", "cpu_s", "gc_cpu_s", "peak_mb", "requests_s"):
        values = [s[name] for s in done if name in s]
        if values:
            row[f"{prefix}_{name}"] = _median(values)


def _load_size(plan: Plan, n: int, tmp: Path) -> dict[str, Any]:
    latency_s = plan.latency_ms / 1000
    row: dict[str, Any] = {"connections": n, "streams": n * plan.streams}
    samples: dict[str, list[dict[str, Any]]] = {"ours_cold": [], "ours_reload": [], "floor": []}
    fast = n in plan.fast_sizes
    floor_input = tmp / "floor.jsonl"
    with BenchServer() as bs:
        bs.bulk(n, plan.streams)
        bs.latency(plan.latency_ms)
        if fast:
            bs.log.start_recording()
        for rep in range(plan.load_reps):
            state = _fresh(tmp / f"ours-{rep}")
            cfg = bs.worker_config("ours", state_dir=state)
            if rep == 0:
                cfg["dump_floor"] = str(floor_input)
            samples["ours_cold"].append(_measure(bs, cfg, plan.load_cap_s, latency_s))
            samples["ours_reload"].append(
                _measure(bs, {**cfg, "dump_floor": None}, plan.load_cap_s, latency_s)
            )
            samples["floor"].append(_floor(floor_input, bs.server.url))
        if plan.config_dialect:
            config_cfg = bs.worker_config(
                "ours", dialect="config", state_dir=_fresh(tmp / "ours-config")
            )
            samples["ours_config_cold"] = [_measure(bs, config_cfg, plan.load_cap_s, latency_s)]
            samples["ours_config_reload"] = [_measure(bs, config_cfg, plan.load_cap_s, latency_s)]
        theirs_cfg = bs.worker_config("theirs")
        samples["theirs_cold"] = [_measure(bs, theirs_cfg, plan.load_cap_s, latency_s)]
        if n == plan.sizes[0] and not plan.quick and not samples["theirs_cold"][0]["capped"]:
            # A new process (code server restart, run worker without a code server) starts the
            # competitor's load from scratch: measured once.
            samples["theirs_reload"] = [_measure(bs, theirs_cfg, plan.load_cap_s, latency_s)]
        answers = bs.log.recorded() if fast else {}
        local_url = bs.server.url
    if fast:
        # The local Airbyte is stopped: a request that leaks to it fails instead of counting.
        samples.update(_fast(plan, answers, local_url, theirs_cfg, tmp))
    _summarize_size(row, samples)
    row["samples"] = samples
    return row


def _fast(
    plan: Plan,
    answers: dict[Any, Any],
    local_url: str,
    template: dict[str, Any],
    tmp: Path,
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {"fast_ours": [], "fast_theirs": []}
    with StubServer(answers, local_url) as stub:
        urls = {k: template[k].replace(local_url, stub.url) for k in _URL_FIELDS}
        for rep in range(plan.load_reps):
            cfg = {**template, **urls, "side": "ours", "state_dir": _fresh(tmp / f"fast-{rep}")}
            found["fast_ours"].append(_measure(stub, cfg, plan.load_cap_s, 0.0))
        cfg = {**template, **urls, "side": "theirs"}
        found["fast_theirs"].append(_measure(stub, cfg, plan.load_cap_s, 0.0))
        found["fast_misses"] = [{"requests": len(stub.misses), "first": stub.misses[:5]}]
    return found


def _median_without_gc(samples: list[dict[str, Any]]) -> float | None:
    return _median(
        [s["cpu_s"] - s["gc_cpu_s"] for s in samples if "cpu_s" in s and "gc_cpu_s" in s]
    )


def _ratio(theirs: float | None, ours: float | None) -> float | None:
    if theirs is None or not ours:
        return None
    return round(theirs / ours, 2)


def _summarize_size(row: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> None:
    cold, reload, floor = samples["ours_cold"], samples["ours_reload"], samples["floor"]
    _medians(cold, "ours_cold", row)
    _medians(reload, "ours_reload", row)
    _medians(floor, "floor", row)
    row["ours_assets"] = cold[0].get("assets")
    row["ours_multi_assets"] = cold[0].get("multi_assets")
    row["ours_requests"] = cold[0]["requests"]
    row["ours_reload_requests"] = max(s["requests"] for s in reload)
    row["ours_server_ms_mean"] = cold[0]["server"]["server_ms_mean"]
    row["ours_base_mb"] = cold[0].get("base_mb")
    row["floor_base_mb"] = floor[0]["base_mb"]
    row["floor_assets"] = floor[0]["assets"]
    row["floor_matches_ours"] = floor[0]["fingerprint"] == cold[0].get("fingerprint")
    row["floor_fallbacks"] = floor[0]["fallback_count"]
    row["reload_matches_cold"] = all(
        s.get("fingerprint") == cold[0].get("fingerprint") for s in reload
    )
    if "ours_config_cold" in samples:
        config, config_reload = samples["ours_config_cold"][0], samples["ours_config_reload"][0]
        row["ours_config_s"] = config.get("wall_s")
        row["ours_config_requests"] = config["requests"]
        row["ours_config_reload_s"] = config_reload.get("wall_s")
        row["ours_config_reload_requests"] = config_reload["requests"]

    theirs = samples["theirs_cold"][0]
    row["theirs_capped"] = theirs["capped"]
    row["theirs_s"] = theirs.get("wall_s")
    row["theirs_cpu_s"] = theirs.get("cpu_s")
    row["theirs_requests"] = theirs["requests"]
    row["theirs_peak_mb"] = theirs["peak_mb"]
    row["theirs_assets"] = theirs.get("assets")
    row["theirs_server_ms_mean"] = theirs["server"]["server_ms_mean"]
    row["theirs_server_s"] = theirs["server"]["server_s_total"]
    row["theirs_requests_s"] = theirs["requests_s"]
    if "theirs_reload" in samples:
        row["theirs_reload_s"] = samples["theirs_reload"][0].get("wall_s")
        row["theirs_reload_requests"] = samples["theirs_reload"][0]["requests"]
    # Against a stopped competitor the ratio is a lower bound (its time so far is the cap).
    row["ratio_s"] = _ratio(row["theirs_s"], row.get("ours_cold_wall_s"))

    # Against the floor: reload in CPU and wall time, cold against the floor plus requests.
    row["reload_vs_floor_cpu"] = _ratio(row.get("ours_reload_cpu_s"), row.get("floor_cpu_s"))
    row["reload_vs_floor_wall"] = _ratio(row.get("ours_reload_wall_s"), row.get("floor_wall_s"))
    # The same without the cyclic GC's time on either side (when its full collections fall due
    # is a matter of thresholds): medians of each run's CPU minus its GC time.
    row["reload_vs_floor_cpu_without_gc"] = _ratio(
        _median_without_gc(reload), _median_without_gc(floor)
    )
    floor_plus = (row.get("floor_wall_s") or 0) + (row.get("ours_cold_requests_s") or 0)
    row["cold_vs_floor_plus_requests"] = _ratio(row.get("ours_cold_wall_s"), floor_plus)
    row["cold_vs_floor_cpu"] = _ratio(row.get("ours_cold_cpu_s"), row.get("floor_cpu_s"))
    row["peak_vs_floor"] = _ratio(row.get("ours_cold_peak_mb"), row.get("floor_peak_mb"))
    row["reload_peak_vs_floor"] = _ratio(row.get("ours_reload_peak_mb"), row.get("floor_peak_mb"))

    if "fast_ours" in samples:
        fast_ours, fast_theirs = samples["fast_ours"], samples["fast_theirs"][0]
        fast: dict[str, Any] = {}
        _medians(fast_ours, "ours", fast)
        fast["ours_requests"] = fast_ours[0]["requests"]
        fast["ours_server_ms_mean"] = fast_ours[0]["server"]["server_ms_mean"]
        fast["theirs_capped"] = fast_theirs["capped"]
        fast["theirs_s"] = fast_theirs.get("wall_s")
        fast["theirs_cpu_s"] = fast_theirs.get("cpu_s")
        fast["theirs_requests"] = fast_theirs["requests"]
        fast["theirs_server_ms_mean"] = fast_theirs["server"]["server_ms_mean"]
        fast["ratio_s"] = _ratio(fast["theirs_s"], fast.get("ours_wall_s"))
        fast["misses"] = samples["fast_misses"][0]["requests"]
        fast["same_specs"] = fast_ours[0].get("fingerprint") == cold[0].get("fingerprint") and (
            theirs["capped"] or fast_theirs.get("fingerprint") == theirs.get("fingerprint")
        )
        row["fast"] = fast


def _growth(sizes: dict[str, Any], low: int, high: int) -> dict[str, Any]:
    a, b = sizes.get(str(low)), sizes.get(str(high))
    if a is None or b is None or low == high:
        return {}
    return {
        "from": low,
        "to": high,
        "ours_reload_cpu": _ratio(b.get("ours_reload_cpu_s"), a.get("ours_reload_cpu_s")),
        "ours_reload_gc_cpu_s": [a.get("ours_reload_gc_cpu_s"), b.get("ours_reload_gc_cpu_s")],
        "floor_gc_cpu_s": [a.get("floor_gc_cpu_s"), b.get("floor_gc_cpu_s")],
        "ours_reload_wall": _ratio(b.get("ours_reload_wall_s"), a.get("ours_reload_wall_s")),
        "ours_cold_wall": _ratio(b.get("ours_cold_wall_s"), a.get("ours_cold_wall_s")),
        "floor_cpu": _ratio(b.get("floor_cpu_s"), a.get("floor_cpu_s")),
        "floor_wall": _ratio(b.get("floor_wall_s"), a.get("floor_wall_s")),
    }


def bench_load(plan: Plan) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    for n in plan.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
            row = _load_size(plan, n, Path(tmp))
        sizes[str(n)] = row
        _say(
            f"  load N={n}: ours cold {row.get('ours_cold_wall_s')}s/{row['ours_requests']} calls, "
            f"reload {row.get('ours_reload_cpu_s')}s CPU, floor {row.get('floor_cpu_s')}s CPU, "
            f"theirs {row['theirs_s'] or '>' + str(plan.load_cap_s)}s/{row['theirs_requests']} "
            "calls" + (f"; fast: x{row['fast']['ratio_s']}" if "fast" in row else "")
        )
    return {
        "sizes": sizes,
        "growth": _growth(sizes, *plan.growth),
        "latency_ms": plan.latency_ms,
        "streams_per_connection": plan.streams,
        "reps": plan.load_reps,
        "cap_s": plan.load_cap_s,
    }
