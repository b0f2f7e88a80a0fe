"""Smoke test of ``python -m bench --quick``: every scenario runs at a tiny size, both sides.

No timing is asserted (CI machines vary); what is checked is that both libraries really ran
against the local Airbyte, that the floor rebuilt exactly ours' specs, that the fast stub served
every request from the local Airbyte's recorded answers, and that ``results.json`` keeps the
shape the printed tables and the README block are built from.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.report import README_END, README_START, update_readme

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if importlib.util.find_spec("dagster_airbyte") is None:
        message = "the competitor is not installed: pip install -e '.[bench]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("bench") / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "BENCH_LOG": str(out.with_suffix(".log"))},
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for title in ("Definition loading", "Against the floor", "Fast server", "Sync detection"):
        assert title in completed.stdout
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_run_metadata(results: dict[str, Any]) -> None:
    assert {"machine", "date", "versions", "settings", "total_s"} <= results.keys()
    assert results["versions"]["dagster-airbyte"] == "0.29.27"
    assert results["settings"]["plan"] == "quick"


def test_load_both_sides_and_the_floor_built_the_same_assets(results: dict[str, Any]) -> None:
    row = results["load"]["sizes"]["5"]
    # 5 connections x 10 streams, from real API calls on both sides.
    assert row["ours_assets"] == row["theirs_assets"] == row["floor_assets"] == 50
    assert row["ours_multi_assets"] == 5
    assert row["ours_requests"] > 0 and row["theirs_requests"] > 0
    assert row["ours_reload_requests"] == 0
    # The floor rebuilt ours' specs exactly, without falling back to serdes.
    assert row["floor_matches_ours"] is True
    assert row["floor_fallbacks"] == 0
    assert row["reload_matches_cold"] is True
    for key in (
        "ours_cold_wall_s",
        "ours_cold_cpu_s",
        "ours_reload_cpu_s",
        "floor_cpu_s",
        "floor_peak_mb",
        "ours_cold_peak_mb",
        "ours_cold_requests_s",
        "reload_vs_floor_cpu",
        "cold_vs_floor_plus_requests",
        "peak_vs_floor",
        "theirs_s",
        "theirs_server_ms_mean",
        "ours_server_ms_mean",
        "ratio_s",
    ):
        assert _number(row[key]), key


def test_fast_server_replayed_every_request(results: dict[str, Any]) -> None:
    row = results["load"]["sizes"]["5"]
    fast = row["fast"]
    assert fast["misses"] == 0
    # Same requests as on the local Airbyte, and the same assets built from the answers.
    assert fast["ours_requests"] == row["ours_requests"]
    assert fast["theirs_requests"] == row["theirs_requests"]
    assert fast["same_specs"] is True
    assert _number(fast["ratio_s"]) and _number(fast["theirs_server_ms_mean"])


def test_detect_both_sides_saw_their_syncs(results: dict[str, Any]) -> None:
    case = results["detect"]["cases"]["late"]
    assert case["syncs_per_side"] == 1
    for side in ("ours", "theirs"):
        figures = case[side]
        # A materialization cannot precede the job's end on the server.
        assert figures["lag_p50_s"] >= 0
        # Starting the sync and seeing it end take at least two calls on the server.
        assert figures["calls"] >= 2 and figures["per_minute_max"] >= 2
        # Seeing the job end takes at least one call after the one that created it.
        assert figures["waiting_calls_per_sync"] >= 1
        assert _number(figures["calls_per_min"]) and _number(figures["server"]["server_ms_mean"])
        assert figures["poll_interval_s"] is not None


def test_fanout_materialized_everything(results: dict[str, Any]) -> None:
    fanout = results["fanout"]
    for side in ("ours", "theirs"):
        assert fanout[side]["ok"] is True
        # Every stream of every connection (2 x 3 streams).
        assert fanout[side]["materializations"] == 6
        assert fanout[side]["requests"] > 0


def test_quick_run_judges_no_goal(results: dict[str, Any]) -> None:
    found = results["goals"]
    assert {g["goal"].split(" ")[0] for g in found} >= {"Reload", "Cold", "Never"}
    assert all(g["met"] is None for g in found)


def test_readme_block_is_regenerated_from_results(results: dict[str, Any], tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    original = (ROOT / "README.md").read_text()
    readme.write_text(original)
    update_readme(readme, results)
    text = readme.read_text()
    before, _, rest = text.partition(README_START)
    block, _, after = rest.partition(README_END)
    assert before == original.partition(README_START)[0]
    assert after == original.partition(README_END)[2]
    assert "**Goals**" in block and "**Against the floor**" in block
    assert f"Measured {results['date'][:10]}" in block and "(quick plan" in block
