"""Twenty real syncs through a flaky Airbyte: 503s, 429s, dropped connections, latency spikes.

The fault plan is seeded, so the sequence of faults is the same on every run for the same
sequence of requests. Every sync must succeed, with exactly one Airbyte job per connection
(no duplicate trigger after an ambiguous failure) and row counts equal to the rows that landed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from reliability_helpers import (
    build_assets,
    clone_sample_connection,
    control,
    duckdb_count,
    jobs_of,
    materialized_metadata,
    sample_duckdb_path,
)

from dagster_airbyte_assets.translator import MetadataKeys

CONNECTIONS = 20
RUNS = 4
SEED = 20_251_123
FAULTS = {
    "fail_rate": 0.10,
    "fail_status": 503,
    "limit_rate": 0.05,
    "retry_after": 1,
    "drop_rate": 0.05,
    "spike_rate": 0.10,
    "spike_ms": 400,
    "seed": SEED,
}
STREAMS = ("customers", "products", "orders")


@pytest.mark.timeout(150)
def test_twenty_syncs_survive_faults_without_duplicate_jobs(
    local_airbyte: Any, tmp_path: Path
) -> None:
    ids = {
        clone_sample_connection(local_airbyte, f"faulty_{i:02d}", f"f{i:02d}_"): i
        for i in range(CONNECTIONS)
    }
    control(local_airbyte, "DELETE", "requests")
    control(local_airbyte, "POST", "faults", FAULTS)
    try:
        # Loading the workspace goes through the faults too.
        # A short request_timeout bounds how long a start whose connection dropped is looked
        # for (max(5 s, request_timeout)) before it is sent again.
        workspace, assets = build_assets(
            local_airbyte,
            tmp_path,
            poll_interval=1.0,
            request_timeout=5.0,
            connection_selector=lambda c: c.connection_id in ids,
        )
        assert len(assets) == CONNECTIONS
        # Four runs side by side (five connections each), as a busy deployment would: the
        # shared server sees concurrent triggers and polls, and the suite stays fast.
        with ThreadPoolExecutor(RUNS) as pool:
            results = list(
                pool.map(
                    lambda part: dg.materialize(
                        part, resources={"airbyte": workspace}, raise_on_error=False
                    ),
                    [assets[i::RUNS] for i in range(RUNS)],
                )
            )
        served = control(local_airbyte, "GET", "requests").json()["by_route"]
    finally:
        control(local_airbyte, "DELETE", "faults")

    for result in results:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    # Start requests beyond one per connection are the ambiguous failures that were resolved.
    assert served["POST /api/public/v1/jobs"] >= CONNECTIONS

    metadata = {k: v for result in results for k, v in materialized_metadata(result).items()}
    assert len(metadata) == CONNECTIONS * len(STREAMS)
    path = sample_duckdb_path(local_airbyte)
    for connection_id, i in ids.items():
        jobs = jobs_of(local_airbyte, connection_id)
        assert len(jobs) == 1, f"connection {i} has {len(jobs)} jobs: {jobs}"
        assert jobs[0]["status"] == "succeeded"
        for stream in STREAMS:
            table = f"f{i:02d}_{stream}"
            meta = metadata[dg.AssetKey(["raw", table])]
            assert meta[MetadataKeys.JOB_ID] == jobs[0]["id"]
            assert meta[MetadataKeys.RECORDS_SYNCED] == duckdb_count(path, "raw", table) > 0
