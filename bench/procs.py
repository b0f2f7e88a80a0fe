"""Child processes for the measurements: run one, feed it, and sample its process tree's RSS.

Every side is measured in a fresh interpreter so that import caches, HTTP pools and peak memory
never leak from one measurement into the next. RSS is read from ``/proc`` (Linux), summed over
the child and all of its descendants (the multiprocess executor's step processes).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LOG_PATH", "Child", "run_worker", "tree_rss_mb"]

ROOT = Path(__file__).resolve().parent.parent
# Workers' stderr (Dagster's logs) goes here, not to the terminal; printed at the end of a run.
LOG_PATH = Path(
    os.environ.get("BENCH_LOG") or Path(tempfile.gettempdir()) / f"bench-{os.getpid()}.log"
)
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                kids.extend(int(p) for p in handle.read().split())
    except OSError:
        pass
    return kids


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_mb(pid: int) -> tuple[float, set[int]]:
    """Sum of RSS over ``pid`` and its descendants (MiB), and the pids seen."""
    pids = _tree(pid)
    return sum(_rss_bytes(p) for p in pids) / 2**20, set(pids)


@dataclass
class Child:
    """A worker process speaking JSON lines on stdout; sampled while it runs."""

    args: list[str]
    env: dict[str, str] | None = None
    sample_interval: float = 0.1
    proc: subprocess.Popen[str] = field(init=False)
    peak_tree_mb: float = 0.0
    pids: set[int] = field(default_factory=set)
    _sampler: threading.Thread | None = None

    def start(self) -> Child:
        # The caller's PYTHONPATH first (to measure another checkout of either package), then
        # this repository for the bench itself; -P keeps the working directory off sys.path.
        path = [p for p in (os.environ.get("PYTHONPATH"), str(ROOT)) if p]
        env = {**os.environ, **(self.env or {}), "PYTHONPATH": os.pathsep.join(path)}
        with LOG_PATH.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "bench.worker", *self.args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while self.proc.poll() is None:
            mb, pids = tree_rss_mb(self.proc.pid)
            self.peak_tree_mb = max(self.peak_tree_mb, mb)
            self.pids |= pids
            time.sleep(self.sample_interval)

    def read(self, timeout: float | None = None) -> dict[str, Any]:
        """The next JSON line; ``TimeoutError`` if none comes in time (the child is killed)."""
        assert self.proc.stdout is not None
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            self.kill()
            raise TimeoutError(f"worker {self.args[0]} gave no answer within {timeout}s")
        if not box or not box[0]:
            code = self.proc.wait()
            raise RuntimeError(f"worker {self.args[:2]} exited with {code} without an answer")
        result: dict[str, Any] = json.loads(box[0])
        return result

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float | None = None) -> int:
        code = self.proc.wait(timeout)
        if self._sampler is not None:
            self._sampler.join(1)
        return code

    def kill(self) -> None:
        """Kill the child and its step processes (only the tree this child started)."""
        for pid in reversed(_tree(self.proc.pid)):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        self.proc.wait()


def run_worker(
    args: list[str], *, timeout: float, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], Child]:
    """Run a one-answer worker to completion; its answer and the sampled child."""
    child = Child(args, env).start()
    try:
        answer = child.read(timeout)
    finally:
        if child.proc.poll() is None:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
    return answer, child
