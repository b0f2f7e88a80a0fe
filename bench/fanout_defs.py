"""The code location of the fan-out run, reconstructed by Dagster in every step process.

Its settings come from ``BENCH_FANOUT_CONFIG`` (set by ``bench.worker``), so the run worker and
the step processes load exactly the definitions the parent loaded.
"""

from __future__ import annotations

import json
import os

import dagster as dg

from bench.sides import build_definitions, workspace_for

__all__ = ["defs"]

_cfg = json.loads(os.environ["BENCH_FANOUT_CONFIG"])
_airbyte = workspace_for(_cfg)
defs = dg.Definitions(assets=build_definitions(_cfg, _airbyte), resources={"airbyte": _airbyte})
