"""Dagster definitions for an Airbyte workspace, configured from the environment.

By default they point at the local Airbyte that ``make demo`` / ``make serve`` start
(``http://127.0.0.1:8000``). Point them at a real Airbyte with environment variables
(see ``.env.example`` and the README):

- ``AIRBYTE_URL``: deployment root (``http://host:8000``) or an API base URL
  (``.../api/v1`` for the Config API, ``.../api/public/v1`` for the Public API)
- ``AIRBYTE_API``: ``config`` or ``public`` (optional; guessed from the URL)
- ``AIRBYTE_WORKSPACE_ID`` (optional when the server has exactly one workspace)
- ``AIRBYTE_USERNAME`` / ``AIRBYTE_PASSWORD`` (basic auth), ``AIRBYTE_TOKEN`` (a static bearer
  token), ``AIRBYTE_CLIENT_ID`` / ``AIRBYTE_CLIENT_SECRET`` (client credentials)
- ``AIRBYTE_STATE_REFRESH``: ``always`` (default here: every load re-reads the workspace, falling
  back to the saved state when Airbyte is down), ``if_missing`` (reloads make no API calls) or
  ``never``
"""

from __future__ import annotations

import os

import dagster as dg

from dagster_airbyte_assets import AirbyteWorkspace, build_airbyte_assets_definitions


def _secret(name: str) -> str | None:
    # EnvVar keeps the value out of the run config shown in the UI; only set it when present.
    return dg.EnvVar(name) if os.environ.get(name) else None  # type: ignore[return-value]


airbyte = AirbyteWorkspace(
    url=os.environ.get("AIRBYTE_URL", "http://127.0.0.1:8000"),
    api=os.environ.get("AIRBYTE_API") or None,
    workspace_id=os.environ.get("AIRBYTE_WORKSPACE_ID") or None,
    username=os.environ.get("AIRBYTE_USERNAME") or None,
    password=_secret("AIRBYTE_PASSWORD"),
    token=_secret("AIRBYTE_TOKEN"),
    client_id=os.environ.get("AIRBYTE_CLIENT_ID") or None,
    client_secret=_secret("AIRBYTE_CLIENT_SECRET"),
    poll_interval=float(os.environ.get("AIRBYTE_POLL_INTERVAL", "20")),
)

airbyte_assets = build_airbyte_assets_definitions(
    workspace=airbyte,
    refresh=os.environ.get("AIRBYTE_STATE_REFRESH", "always"),  # type: ignore[arg-type]
)

defs = dg.Definitions(assets=airbyte_assets, resources={"airbyte": airbyte})
