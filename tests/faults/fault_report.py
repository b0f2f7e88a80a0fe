"""Counts of the fault suite's outcomes, per fault kind, printed after the run and, when
``FAULTS_WRITE_LAST_RUN=1``, written to ``tests/faults/last-run.json`` (for the README's
reliability section; never in normal CI)."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fault_cases import CASES, SEED, VIOLATIONS, Outcome

__all__ = ["LAST_RUN", "LEDGER", "WRITE_ENV", "Ledger"]

WRITE_ENV = "FAULTS_WRITE_LAST_RUN"
LAST_RUN = Path(__file__).with_name("last-run.json")
_RESULTS = ("success", "typed_failure", *VIOLATIONS)


class Ledger:
    """Every outcome of this session (fault cases and outage tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: list[Outcome] = []

    def record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    @staticmethod
    def _count(outcomes: list[Outcome]) -> dict[str, int]:
        """Cases, clean successes and typed failures, and the cases with each violation."""
        row: Counter[str] = Counter({name: 0 for name in ("cases", *_RESULTS)})
        for outcome in outcomes:
            row["cases"] += 1
            if not outcome.violations:
                row["success" if outcome.succeeded else "typed_failure"] += 1
            for violation in outcome.violations:
                row[violation] += 1
        return dict(row)

    def _tally(self, key: str) -> dict[str, dict[str, int]]:
        groups: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in self.outcomes:
            groups[str(getattr(outcome.case, key))].append(outcome)
        return {group: self._count(groups[group]) for group in sorted(groups)}

    def totals(self) -> dict[str, int]:
        return self._count(self.outcomes)

    def table(self, key: str = "kind") -> str:
        """Per fault kind (or ``phase``...): cases, clean successes and typed failures, and
        each violation."""
        columns = ("cases", *_RESULTS)
        short = {
            "typed_failure": "typed_fail",
            "run_failed": "run_failed",
            "false_success": "false_succ",
            "duplicate_jobs": "duplicates",
            "wrong_numbers": "wrong_nums",
            "untyped_failure": "untyped",
            "left_running": "left_run",
            "late_job": "late_job",
            "fault_not_injected": "not_inj",
            "harness_error": "harness",
        }
        title = "fault kind" if key == "kind" else key
        header = f"{title:<26}" + "".join(f"{short.get(c, c):>11}" for c in columns)
        lines = [header]
        rows = {**self._tally(key), "TOTAL": self.totals()}
        for group, row in rows.items():
            lines.append(f"{group:<26}" + "".join(f"{row.get(c, 0):>11}" for c in columns))
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed": SEED,
            "materializations": len(self.outcomes),
            # A partial run (-k) is marked as such: only a full one belongs in the README.
            "complete_matrix": {o.case.id for o in self.outcomes} >= {c.id for c in CASES},
            "totals": self.totals(),
            "by_fault_kind": self._tally("kind"),
            "by_phase": self._tally("phase"),
            "by_dialect": self._tally("dialect"),
            "by_auth": self._tally("auth"),
            "cases": [
                {
                    "id": o.case.id,
                    "result": o.result,
                    "violations": sorted(o.violations),
                    "seconds": round(o.seconds, 1),
                }
                for o in sorted(self.outcomes, key=lambda o: o.case.id)
            ],
        }

    def write(self, path: Path = LAST_RUN) -> None:
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")


LEDGER = Ledger()


def should_write() -> bool:
    return os.environ.get(WRITE_ENV, "").lower() in ("1", "true", "yes")
