"""Smoke test of ``python -m bench --quick``: every scenario runs at a tiny size, both sides.

No timing is asserted (CI machines vary); what is checked is that both libraries really ran
against the local Airbyte and that ``results.json`` keeps the shape the README table is built from.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LOAD_KEYS = {
    "ours_s",
    "ours_requests",
    "ours_reload_requests",
    "ours_peak_mb",
    "theirs_s",
    "theirs_requests",
    "theirs_peak_mb",
}
DETECT_KEYS = {"ours_p50_s", "ours_calls_per_min", "theirs_p50_s", "theirs_calls_per_min"}
FANOUT_KEYS = {"ours_wall_s", "ours_peak_mb", "theirs_wall_s", "theirs_peak_mb"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
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
        timeout=170,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Definition loading" in completed.stdout
    loaded: dict[str, object] = json.loads(out.read_text())
    return loaded


def test_metadata_keys(results: dict[str, object]) -> None:
    assert {"machine", "date", "versions"} <= results.keys()
    versions = results["versions"]
    assert isinstance(versions, dict)
    assert versions["dagster-airbyte"] == "0.29.27"


def test_load_shape_and_zero_call_reload(results: dict[str, object]) -> None:
    load = results["load"]
    assert isinstance(load, dict) and list(load) == ["5"]
    row = load["5"]
    assert row.keys() >= LOAD_KEYS
    assert all(_number(row[k]) for k in LOAD_KEYS)
    # Both sides built an asset per stream (5 connections x 10 streams) from real API calls.
    assert row["ours_assets"] == row["theirs_assets"] == 50
    assert row["ours_requests"] > 0 and row["theirs_requests"] > 0
    assert row["ours_reload_requests"] == 0


def test_detect_shape(results: dict[str, object]) -> None:
    detect = results["detect"]
    assert isinstance(detect, dict) and detect
    for row in detect.values():
        assert row.keys() >= DETECT_KEYS
        assert all(_number(row[k]) for k in DETECT_KEYS)
        # A materialization cannot precede the job's end on the server.
        assert row["ours_p50_s"] >= 0 and row["theirs_p50_s"] >= 0


def test_fanout_shape(results: dict[str, object]) -> None:
    fanout = results["fanout"]
    assert isinstance(fanout, dict)
    assert fanout.keys() >= FANOUT_KEYS
    assert all(_number(fanout[k]) for k in FANOUT_KEYS)
    assert fanout["ours_ok"] and fanout["theirs_ok"]
    # Every stream of every connection was materialized by both sides (2 x 3 streams).
    assert fanout["ours_materializations"] == fanout["theirs_materializations"] == 6
