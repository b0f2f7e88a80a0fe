"""Many connections at once: one Dagster run over N real connections, both sides.

50 real connections (one shared DuckDB file: the destination commits under a per-file lock),
5 s syncs, one run via ``execute_job`` of the reconstructed asset job with the default
multiprocess executor for both sides (as a code server would, the run gets the repository load
data). Ours: ``one_step=True``; theirs: one step per connection. Peak = sum of RSS over the run's
process tree sampled every 0.2 s; processes = distinct pids seen.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.detect import SIDES
from bench.plans import Plan
from bench.procs import Child
from bench.requestlog import summarize
from bench.server import BenchServer

__all__ = ["bench_fanout"]


def _ratio(theirs: float | None, ours: float | None) -> float | None:
    if theirs is None or not ours:
        return None
    return round(theirs / ours, 1)


def bench_fanout(plan: Plan) -> dict[str, Any]:
    n = plan.fanout_connections
    row: dict[str, Any] = {"connections": n, "sync_s": plan.fanout_sync_s}
    with BenchServer() as bs, tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        ids = bs.sample_connections(n, "fanout")
        for connection_id in ids:
            bs.sync_duration(connection_id, plan.fanout_sync_s)
        for side in SIDES:
            state_dir = Path(tmp) / side
            state_dir.mkdir()
            cfg = bs.worker_config(
                side,
                connection_ids=ids,
                state_dir=str(state_dir),
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
            requests = bs.log.requests(side)
            row[side] = {
                "wall_s": round(answer["seconds"], 2),
                "capped": capped,
                "ok": answer["ok"],
                "materializations": answer.get("materializations"),
                "peak_mb": round(child.peak_tree_mb, 1),
                "processes": len(child.pids),
                "requests": len(requests),
                "server_ms_mean": summarize(requests)["server_ms_mean"],
            }
            print(
                f"  fanout {side}: {row[side]['wall_s']}s, {row[side]['processes']} processes, "
                f"peak {row[side]['peak_mb']} MB" + (" (capped)" if capped else ""),
                flush=True,
            )
    row["ratio_wall"] = _ratio(row["theirs"]["wall_s"], row["ours"]["wall_s"])
    row["ratio_peak_mb"] = _ratio(row["theirs"]["peak_mb"], row["ours"]["peak_mb"])
    return row
