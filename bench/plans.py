"""What a run measures: sizes, repetitions, sync lengths. ``FULL`` is ``make bench``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["FULL", "MEDIUM", "PLANS", "QUICK", "DetectCase", "Plan"]


@dataclass(frozen=True)
class DetectCase:
    """Syncs of one length, after a history of syncs of another (ours predicts from history).

    Each side gets ``lanes`` connections of its own, started ``stagger`` seconds apart; each lane
    first gets ``history`` warm-up syncs of ``history_s`` seconds (started by the bench as an
    admin, not by either side), then the side materializes it ``reps`` times in a row with syncs
    of ``duration_s`` seconds.
    """

    name: str
    history_s: float
    history: int
    duration_s: float
    lanes: int = 1
    reps: int = 1
    stagger_s: float = 0.0

    @property
    def label(self) -> str:
        if self.history_s == self.duration_s:
            return f"{self.duration_s:g} s"
        return f"{self.history_s:g} s -> {self.duration_s:g} s"


@dataclass(frozen=True)
class Plan:
    name: str
    sizes: Sequence[int] = (100, 500, 1000)
    streams: int = 10
    latency_ms: int = 20
    load_reps: int = 3  # ours cold, ours reload and the floor: medians of this many
    load_cap_s: float = 240.0  # the competitor's load is stopped here
    config_dialect: bool = True  # also ours with the Config API URL (cold and reload, once)
    fast_sizes: Sequence[int] = (500,)  # also measured on the fast stub server
    growth: tuple[int, int] = (500, 1000)
    detect: Sequence[DetectCase] = (
        DetectCase("short", 2, 3, 2, lanes=1, reps=5),
        DetectCase("late", 30, 3, 36, lanes=3, reps=1, stagger_s=6),
        DetectCase("long", 120, 1, 144, lanes=1, reps=1),
    )
    # Cases one after the other (no case's start or end lands on another's: cleaner lags), or
    # all at once (each on its own server: shorter, for harness checks).
    detect_in_parallel: bool = False
    fanout_connections: int = 50
    fanout_sync_s: float = 5.0
    fanout_cap_s: float = 420.0
    theirs_poll_interval: float | None = None  # None: the competitor's default (10 s)
    quick: bool = False
    notes: list[str] = field(default_factory=list)


FULL = Plan(name="full")
MEDIUM = Plan(
    name="medium",
    sizes=(100, 200),
    load_reps=2,
    load_cap_s=120,
    fast_sizes=(200,),
    growth=(100, 200),
    detect=(
        DetectCase("short", 2, 3, 2, lanes=1, reps=3),
        DetectCase("late", 30, 3, 36, lanes=2, reps=1, stagger_s=6),
        DetectCase("long", 60, 1, 72, lanes=1, reps=1),
    ),
    detect_in_parallel=True,
    fanout_connections=10,
    fanout_cap_s=240,
    notes=["--medium: sizes and syncs below the goals' (a check of the harness, not the figures)"],
)
QUICK = Plan(
    name="quick",
    sizes=(5,),
    load_reps=1,
    load_cap_s=60,
    config_dialect=False,
    fast_sizes=(5,),
    growth=(5, 5),
    detect=(DetectCase("late", 1, 1, 1.5, lanes=1, reps=1),),
    fanout_connections=2,
    fanout_sync_s=0.5,
    fanout_cap_s=60,
    theirs_poll_interval=0.5,
    quick=True,
    notes=["--quick: smoke size, figures not meaningful; the competitor polls every 0.5 s"],
)
PLANS = {p.name: p for p in (FULL, MEDIUM, QUICK)}
