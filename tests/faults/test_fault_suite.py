"""The fault-injection acceptance suite: real materializations through a faulty proxy.

72 materializations (``fault_cases.CASES``): every fault kind in every phase (start, poll,
stats) in both dialects, auth rotating over none / basic / client credentials, plus six runs
under a seeded schedule of mixed faults. Each one is judged on the server's record (see
``fault_cases``): a success is exactly one new job reported with that job's numbers; a failure
is a typed error with no job left running; never a job after the run. Zero false successes and
zero late jobs is the acceptance.

The selected cases run a few at a time (``FAULTS_CONCURRENCY``, default 4: each case mostly
waits on syncs, stalls and backoff) in one module-scoped fixture; each case is then its own
test, so ``-k start-created_500`` runs and reports just that. ``FAULTS_SEED`` changes the seed
(default fixed, so CI is reproducible). Outcomes per fault kind are printed after the session.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fault_cases import (
    AUTH_MODES,
    CASES,
    DIALECTS,
    FAULT_KINDS,
    PHASES,
    Case,
    ClientLogs,
    Outcome,
    run_case,
)
from fault_report import LEDGER

pytestmark = [pytest.mark.faults, pytest.mark.timeout(1800)]

CONCURRENCY = max(1, int(os.environ.get("FAULTS_CONCURRENCY", "4")))


def _selected_cases(request: pytest.FixtureRequest) -> list[Case]:
    cases = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if (
            getattr(item, "module", None) is request.module
            and callspec is not None
            and "case" in callspec.params
        ):
            cases.append(callspec.params["case"])
    return cases


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest,
    airbyte_servers: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Outcome]:
    """Run every selected case (the stalls first: they take longest) and keep the outcomes."""
    cases = sorted(_selected_cases(request), key=lambda c: ("stall" not in c.kind, c.number))
    tmp = tmp_path_factory.mktemp("fault-suite")
    for auth in {case.auth for case in cases}:
        airbyte_servers.get(auth)
    with (
        ClientLogs() as logs,
        ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="fault-case") as pool,
    ):
        results = list(
            pool.map(
                lambda case: run_case(
                    case,
                    airbyte_servers.get(case.auth),
                    airbyte_servers.side(case.auth),
                    tmp,
                    logs,
                ),
                cases,
            )
        )
    for outcome in results:
        LEDGER.record(outcome)
    return {outcome.case.id: outcome for outcome in results}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fault_case(case: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.id]
    if outcome.violations:
        pytest.fail(outcome.report(), pytrace=False)


def test_the_matrix_covers_every_fault_phase_dialect_and_auth() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)
    cells = Counter((c.kind, c.phase, c.dialect) for c in CASES if c.phase != "mixed")
    assert set(cells) == {
        (kind, phase, dialect) for kind in FAULT_KINDS for phase in PHASES for dialect in DIALECTS
    }
    for dialect in DIALECTS:
        for phase in (*PHASES, "mixed"):
            auths = {c.auth for c in CASES if c.dialect == dialect and c.phase == phase}
            assert auths == set(AUTH_MODES), (dialect, phase, auths)
    for kind in FAULT_KINDS:
        assert len({c.auth for c in CASES if c.kind == kind}) >= 2, kind
