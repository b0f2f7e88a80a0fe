"""Dagster concurrency pools on the sync steps, against the local Airbyte over HTTP."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
from around_helpers import build_assets, workspace_for

POOL = "airbyte_local"


def _sync_jobs(server: Any) -> int:
    response = httpx.get(
        f"{server.public_api_url}/jobs",
        params={"connectionId": server.sample_connection_id, "jobType": "sync"},
        timeout=30,
    )
    response.raise_for_status()
    return len(response.json()["data"])


def _wait_until(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def test_a_full_pool_holds_the_sync_until_a_slot_frees(local_airbyte: Any, tmp_path: Path) -> None:
    workspace = workspace_for(local_airbyte)
    assets = build_assets(workspace, tmp_path, pool=POOL)
    assert [a.op.pool for a in assets] == [POOL]
    one_step = build_assets(
        workspace, tmp_path, pool=POOL, one_step=True, state_path=tmp_path / "airbyte-state.json"
    )
    assert [a.op.pool for a in one_step] == [POOL]
    assert build_assets(workspace, tmp_path)[0].op.pool is None  # unpooled unless asked

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots(POOL, 1)
        # Another sync of this Airbyte holds the pool's only slot.
        assert storage.claim_concurrency_slot(POOL, "another-run", "another-step").is_claimed
        before = _sync_jobs(local_airbyte)
        results: list[dg.ExecuteInProcessResult] = []
        runner = threading.Thread(
            target=lambda: results.append(
                dg.materialize(assets, resources={"airbyte": workspace}, instance=instance)
            )
        )
        runner.start()
        _wait_until(
            lambda: storage.get_concurrency_info(POOL).pending_step_count == 1,
            "the sync step never queued for the pool",
        )
        assert _sync_jobs(local_airbyte) == before  # held: nothing sent to Airbyte
        storage.free_concurrency_slots_for_run("another-run")
        runner.join(timeout=120)
        assert results and results[0].success
        assert _sync_jobs(local_airbyte) == before + 1  # exactly one sync, once a slot freed
        info = storage.get_concurrency_info(POOL)
        assert (info.active_slot_count, info.pending_step_count) == (0, 0)
