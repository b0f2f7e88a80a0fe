"""One side of one measurement, in a fresh interpreter: ``python -m bench.worker MODE JSON``.

Answers are JSON lines on the original stdout; everything else (Dagster's logs, prints) goes to
stderr so that it can never corrupt an answer. Modes:

- ``load``: build the definitions once and report wall and CPU time, asset count, peak memory
  and a fingerprint of the specs; ours can also write its specs down for the floor.
- ``floor``: bare Dagster building the specs ours wrote down (:mod:`bench.floor`).
- ``detect``: build, say ``ready``, wait for ``go``, then materialize ``reps`` times and report
  when each materialization was recorded.
- ``fanout``: one Dagster run over every connection with the default multiprocess executor.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import tempfile
import time
import warnings
from typing import Any

from bench.sides import build_definitions, workspace_for

__all__ = ["main"]

_ANSWERS = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)


def _answer(payload: dict[str, Any]) -> None:
    _ANSWERS.write(json.dumps(payload) + "\n")
    _ANSWERS.flush()


def _peak_mb() -> float:
    """Peak RSS of this process: ``VmHWM``, which exec resets (``ru_maxrss`` can carry the
    forking parent's peak over exec, which would charge the bench's own memory to a side)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


class _GcClock:
    """CPU seconds the cyclic garbage collector took while installed.

    Reported next to each side's CPU time: when a full collection falls due depends on
    thresholds (how many objects were allocated since the last one), not on who allocated
    them, so the same work can pay one collection more or less; the time without it is the
    steadier comparison.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started

    def __enter__(self) -> _GcClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def _load(cfg: dict[str, Any]) -> None:
    import dagster  # noqa: F401  (imports are not part of the load time)

    from bench.floor import describe, fingerprint

    if cfg["side"] == "ours":
        import dagster_airbyte_assets  # noqa: F401
    else:
        import dagster_airbyte  # noqa: F401
    base_mb = _peak_mb()
    workspace = workspace_for(cfg)
    with _GcClock() as collector:
        wall, cpu = time.perf_counter(), time.process_time()
        assets = build_definitions(cfg, workspace)
        seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = _peak_mb()
    if cfg.get("dump_floor"):
        with open(cfg["dump_floor"], "w") as handle:
            for line in describe(assets):
                handle.write(line + "\n")
    _answer(
        {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "gc_cpu_seconds": collector.seconds,
            "assets": sum(len(a.keys) for a in assets),
            "multi_assets": len(assets),
            "peak_mb": peak_mb,
            "base_mb": base_mb,
            "fingerprint": fingerprint(assets, cfg["url"]),
        }
    )


def _floor(cfg: dict[str, Any]) -> None:
    import dagster  # noqa: F401  (imports are not part of the build time)

    from bench.floor import build, fingerprint

    base_mb = _peak_mb()
    with open(cfg["path"]) as lines, _GcClock() as collector:
        wall, cpu = time.perf_counter(), time.process_time()
        result = build(lines)
        seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = _peak_mb()
    _answer(
        {
            # Reading and parsing the plain input is not Dagster's work: left out.
            "seconds": seconds - result.parse_wall,
            "cpu_seconds": cpu_seconds - result.parse_cpu,
            "gc_cpu_seconds": collector.seconds,  # none while parsing: paused there
            "parse_seconds": result.parse_wall,
            "assets": sum(len(a.keys) for a in result.assets),
            "multi_assets": len(result.assets),
            "peak_mb": peak_mb,
            "base_mb": base_mb,
            "fingerprint": fingerprint(result.assets, cfg["url"]),
            "fallbacks": sorted(set(result.fallbacks))[:20],
            "fallback_count": len(result.fallbacks),
        }
    )


def _materialize_once(assets: list[Any], workspace: Any) -> dict[str, Any]:
    import dagster as dg

    instance = dg.DagsterInstance.ephemeral()
    started = time.time()
    result = dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
    ended = time.time()
    records = instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    stamps = [r.event_log_entry.timestamp for r in records]
    return {
        "ok": result.success,
        "started": started,
        "ended": ended,
        "first_materialization": min(stamps) if stamps else None,
        "materializations": len(stamps),
    }


def _detect(cfg: dict[str, Any]) -> None:
    workspace = workspace_for(cfg)
    assets = build_definitions(cfg, workspace)
    _answer({"ready": True, "poll_interval": getattr(workspace, "poll_interval", None)})
    sys.stdin.readline()  # "go": every lane of both sides starts together
    time.sleep(cfg.get("stagger", 0.0))
    runs = [_materialize_once(assets, workspace) for _ in range(cfg["reps"])]
    _answer({"runs": runs})


def _fanout(cfg: dict[str, Any]) -> None:
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository

    os.environ["BENCH_FANOUT_CONFIG"] = json.dumps(cfg)
    repo = ReconstructableRepository.for_module("bench.fanout_defs", "defs")
    # As a code server would: load once, then hand the load data (the competitor's
    # reconstruction metadata) to the run, so step processes need not fetch the workspace again.
    repo_def = repo.get_definition()
    repo = repo.with_repository_load_data(repo_def.repository_load_data)
    job = ReconstructableJob(repo, "__ASSET_JOB")
    with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.local_temp(home) as instance:
        started = time.time()
        result = dg.execute_job(job, instance=instance)
        ended = time.time()
        count = len(
            instance.get_records_for_run(
                result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records
        )
    _answer({"ok": result.success, "seconds": ended - started, "materializations": count})


def main() -> None:
    warnings.simplefilter("ignore")  # both libraries' beta/preview warnings, once per object
    mode, cfg = sys.argv[1], json.loads(sys.argv[2])
    {"load": _load, "floor": _floor, "detect": _detect, "fanout": _fanout}[mode](cfg)


if __name__ == "__main__":
    main()
