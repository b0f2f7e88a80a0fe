"""``python -m bench``: ours vs dagster-airbyte 0.29.27, and ours vs the floors.

Scenarios (``--only``): ``load`` (definition loading against the local Airbyte, the floor of bare
Dagster, and the fast stub server), ``detect`` (seeing a sync end, and the calls it costs) and
``fanout`` (many connections in one run). Each side runs in fresh child processes against
servers in this process. The run is printed, written to ``bench/results.json``, and a run of the
full plan to the default path also regenerates the README's bench block from it. ``--readme``
only regenerates that block from an existing results file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.detect import bench_detect
from bench.fanout import bench_fanout
from bench.load import bench_load
from bench.plans import PLANS, Plan
from bench.procs import LOG_PATH
from bench.report import goals, print_tables, update_readme

__all__ = ["main"]

DEFAULT_OUT = Path(__file__).with_name("results.json")
README = Path(__file__).resolve().parent.parent / "README.md"
SCENARIOS: dict[str, Callable[[Plan], dict[str, Any]]] = {
    "load": bench_load,
    "detect": bench_detect,
    "fanout": bench_fanout,
}


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
    names = ("dagster-airbyte-assets", "local-airbyte", "dagster-airbyte", "dagster", "httpx")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _commit() -> str | None:
    """The measured code's commit (``+dirty`` with uncommitted changes), if this is a checkout."""
    root = README.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke size (CI), < 1 min")
    size.add_argument("--medium", action="store_true", help="a few minutes: checks the harness")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="where to write the results")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument(
        "--readme", action="store_true", help="only regenerate the README block from --out"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.readme:
        update_readme(README, json.loads(out.read_text()))
        print(f"regenerated the bench block of {README} from {out}")
        return 0
    plan = PLANS["quick" if args.quick else "medium" if args.medium else "full"]
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - SCENARIOS.keys()
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": _machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "commit": _commit(),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "settings": {
            "plan": plan.name,
            "quick": plan.quick,
            "auth": "client-credentials (both sides)",
            "theirs_poll_interval_s": plan.theirs_poll_interval or 10.0,
            "time": "wall = perf_counter around the definitions call; CPU = process_time of "
            "the loading process over the same span; medians over fresh processes",
            "memory": "load: peak RSS (VmHWM) of the loading process; fanout: sampled sum of "
            "RSS over the run's process tree",
            "notes": plan.notes,
        },
    }
    for name in wanted:
        print(f"[{name}]", flush=True)
        results[name] = SCENARIOS[name](plan)
    results["goals"] = goals(results)
    results["total_s"] = round(time.monotonic() - started, 1)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_tables(results)
    print(f"\nwrote {out} in {results['total_s']} s (worker logs: {LOG_PATH})")
    if plan.name == "full" and out.resolve() == DEFAULT_OUT.resolve() and len(wanted) == 3:
        update_readme(README, results)
        print(f"regenerated the bench block of {README}")
    return 0
