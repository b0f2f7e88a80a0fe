"""Acceptance: a program written for dagster-airbyte 0.29.27 runs on this package unchanged.

The same program text (``dropin_helpers.PROGRAM``: custom translator reading the props' fields,
``connection_selector_fn``, an ``@airbyte_assets`` body calling ``sync_and_poll``) is run once
with ``from dagster_airbyte import ...``, then with ``from dagster_airbyte_assets import ...`` and
``from dagster_airbyte_assets.dropin import ...``, against one local Airbyte. Both build the same keys and materialize every one of them with
exactly one new Airbyte job per connection; ours also records each stream's row count, equal to
what the server says the job committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dropin_helpers import (
    add_prefixed_connection,
    admin,
    committed_by_stream,
    dagster_airbyte_settings,
    jobs,
    load_program,
)

from dagster_airbyte_assets.translator import MetadataKeys

pytest.importorskip("dagster_airbyte")

EXPECTED_KEYS = {
    dg.AssetKey(["warehouse", "main", "customers"]),
    dg.AssetKey(["warehouse", "main", "products"]),
    dg.AssetKey(["warehouse", "main", "orders"]),
    dg.AssetKey(["warehouse", "copy", "copy_customers"]),
    dg.AssetKey(["warehouse", "copy", "copy_products"]),
}
# The top-level API (schema-qualified default keys) and the `dropin` module (dagster-airbyte's
# default keys): this program sets its own keys, so all three agree.
LIBRARIES = ("dagster_airbyte", "dagster_airbyte_assets", "dagster_airbyte_assets.dropin")
# What the program's translator writes from the props' fields.
CONNECTION = MetadataKeys.CONNECTION_ID
PROPS_METADATA = ("source_stream", "connection", "columns", "fully_qualified", "schema")


def _materializations(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict[str, Any]]:
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        found[materialization.asset_key] = {k: v.value for k, v in materialization.metadata.items()}
    return found


def test_the_same_program_runs_on_both_libraries(
    local_airbyte_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # ours keeps its workspace snapshot under the working directory
    server = local_airbyte_factory(seed="sample", test_controls=True, auth="client-credentials")
    with admin(server) as client:
        connection_ids = [server.sample_connection_id, add_prefixed_connection(server, client)]
        settings = dagster_airbyte_settings(server)
        specs_by_library = {}
        for library in LIBRARIES:
            before = {cid: {j["job"]["id"] for j in jobs(client, cid)} for cid in connection_ids}
            definitions = load_program(library, settings, server.sample_connection_id)
            specs = {spec.key: spec for spec in definitions.resolve_all_asset_specs()}
            assert set(specs) == EXPECTED_KEYS, library

            result = dg.materialize(list(definitions.assets or []), resources=definitions.resources)
            assert result.success, library
            materialized = _materializations(result)
            assert set(materialized) == EXPECTED_KEYS, library

            new_jobs = {}
            for cid in connection_ids:
                (job,) = [j["job"] for j in jobs(client, cid) if j["job"]["id"] not in before[cid]]
                assert job["status"] == "succeeded", (library, job)
                new_jobs[cid] = job["id"]
            specs_by_library[library] = specs
            if library == "dagster_airbyte":
                continue
            # Ours: every stream's records synced are what the server says its job committed
            # (``dagster/row_count`` is the table's size, where it can be known).
            for key, spec in specs.items():
                committed = committed_by_stream(client, new_jobs[spec.metadata[CONNECTION]])
                stream = spec.metadata[MetadataKeys.STREAM_NAME]
                assert materialized[key][MetadataKeys.RECORDS_SYNCED] == committed[stream], key
                assert committed[stream] > 0

    # The translator saw the same props values in both libraries.
    theirs = specs_by_library["dagster_airbyte"]
    ours = specs_by_library["dagster_airbyte_assets"]
    assert specs_by_library["dagster_airbyte_assets.dropin"] == ours
    for key in EXPECTED_KEYS:
        assert theirs[key].group_name == ours[key].group_name == "airbyte_duckdb"
        for name in PROPS_METADATA:
            assert ours[key].metadata[name] == theirs[key].metadata[name], (key, name)
        for name in ("dagster-airbyte/connection_id", "dagster-airbyte/connection_name"):
            assert ours[key].metadata[name] == theirs[key].metadata[name], (key, name)
    assert ours[dg.AssetKey(["warehouse", "main", "orders"])].metadata["schema"] == "raw"
    copy = dg.AssetKey(["warehouse", "copy", "copy_customers"])
    assert ours[copy].metadata["dagster-airbyte/stream_prefix"] == "copy_"
