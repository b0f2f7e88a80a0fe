"""dagster-airbyte's names, so a program written for dagster-airbyte 0.29 runs here unchanged.

Thin by design: each name is an alias of ours, never a second implementation.

- ``AirbyteWorkspace`` takes dagster-airbyte's settings (``rest_api_base_url``,
  ``configuration_api_base_url``, ``request_retry_delay``...; ``resource.py``) and has its
  ``sync_and_poll(context=...)``;
- ``build_airbyte_assets_definitions``, ``load_airbyte_asset_specs`` and ``@airbyte_assets`` take
  ``dagster_airbyte_translator=`` / ``connection_selector_fn=`` (``assets.py``, through
  :func:`either`); ``load_airbyte_cloud_asset_specs`` is ``load_airbyte_asset_specs``;
- the translator's props carry dagster-airbyte's fields with its values (``table_name``,
  ``stream_prefix``, ``schema``...), so ``AirbyteConnectionTableProps`` is our props class;
- :class:`LegacyKeysTranslator` builds dagster-airbyte's keys, groups and op names, so that a
  switch keeps materialization history, schedules and sensors that name those keys.
"""

from __future__ import annotations

import enum
import re
from typing import TypeVar

import dagster as dg

from dagster_airbyte_assets.client import AirbyteConnection
from dagster_airbyte_assets.errors import AirbyteConfigurationError
from dagster_airbyte_assets.translator import AirbyteStreamProps, DagsterAirbyteTranslator

__all__ = [
    "AirbyteConnectionTableProps",
    "AirbyteJobStatusType",
    "LegacyKeysTranslator",
    "either",
]

_T = TypeVar("_T")

AirbyteConnectionTableProps = AirbyteStreamProps
"""dagster-airbyte's name for the translator's input; ours carries every one of its fields."""


class AirbyteJobStatusType(enum.StrEnum):
    """dagster-airbyte's job-status enum, plus ``QUEUED``, which Airbyte reports while a job
    waits for a worker (dagster-airbyte's enum lacks it). Members equal their strings and
    ``JobStatus``'s members. ``ERROR`` is kept for code that names it; Airbyte never reports it.
    """

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"
    PENDING = "pending"
    FAILED = "failed"
    ERROR = "error"
    INCOMPLETE = "incomplete"
    QUEUED = "queued"


def either(name: str, value: _T | None, alias: str, alias_value: _T | None) -> _T | None:
    """The value given under our ``name`` or under dagster-airbyte's ``alias``; both is an error."""
    if alias_value is None:
        return value
    if value is not None and value is not alias_value:
        raise AirbyteConfigurationError(
            f"Set `{name}` or `{alias}` (dagster-airbyte's name for it), not both"
        )
    return alias_value


def _clean_name_lower(name: str) -> str:
    # dagster._utils.names.clean_name_lower, which dagster-airbyte names its ops with.
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).lower()


class LegacyKeysTranslator(DagsterAirbyteTranslator):
    """dagster-airbyte's default keys (``prefix + stream``, one part), group (``default``) and
    op names (``airbyte_<connection name>``); everything else is ours (metadata, row counts).

    Switch with it to keep the keys your history, schedules and sensors name; move to the
    schema-qualified keys later (README: "Switching from dagster-airbyte").
    """

    def get_asset_key(self, props: AirbyteStreamProps) -> dg.AssetKey:
        return dg.AssetKey(props.table_name)

    def get_group_name(self, props: AirbyteStreamProps) -> str | None:
        return None

    def get_op_name(self, connection: AirbyteConnection) -> str:
        return f"airbyte_{_clean_name_lower(connection.name)}"
