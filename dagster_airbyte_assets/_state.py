"""The saved workspace snapshot that asset definitions are built from.

Fetching a workspace costs API calls; code locations reload often and every run worker loads the
definitions again. So the fetched workspace is written to a JSON file once, and later loads
build the very same definitions from it with zero calls. Execution reads its connection ids and
stream names from the specs built from this snapshot, so the keys a run materializes are always
the keys that were loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from dagster_airbyte_assets.client import AirbyteClient, AirbyteConnection, AirbyteDestination

__all__ = [
    "STATE_DIR_ENV",
    "AirbyteWorkspaceSnapshot",
    "default_state_path",
    "fetch_workspace_snapshot",
    "is_reconstruction",
    "read_snapshot",
    "write_snapshot",
]

logger = logging.getLogger("dagster_airbyte_assets")

STATE_DIR_ENV = "DAGSTER_AIRBYTE_ASSETS_STATE_DIR"
SNAPSHOT_VERSION = 1


class AirbyteWorkspaceSnapshot(BaseModel):
    """Everything needed to build the definitions of one workspace; no credentials inside."""

    model_config = ConfigDict(frozen=True)

    version: int = SNAPSHOT_VERSION
    workspace_id: str
    api_url: str
    ui_url: str | None = None
    fetched_at: datetime
    connections: list[AirbyteConnection]
    destinations: dict[str, AirbyteDestination]

    def connection_url(self, connection_id: str) -> str | None:
        if not self.ui_url:
            return None
        return f"{self.ui_url}/workspaces/{self.workspace_id}/connections/{connection_id}/status"


def is_reconstruction() -> bool:
    """True in a run worker rebuilding definitions that a code server already loaded.

    Such a process must build exactly what the code server built, so it never fetches.
    """
    try:
        from dagster._core.definitions.definitions_load_context import (
            DefinitionsLoadContext,
            DefinitionsLoadType,
        )
    except ImportError:  # pragma: no cover - private API moved
        return False
    if not DefinitionsLoadContext.is_set():
        return False
    return DefinitionsLoadContext.get().load_type == DefinitionsLoadType.RECONSTRUCTION


def default_state_path(api_url: str, workspace_id: str | None) -> Path:
    """Where the snapshot of one (Airbyte, workspace) pair lives.

    ``$DAGSTER_AIRBYTE_ASSETS_STATE_DIR`` or ``./.dagster_airbyte_assets``; the file name hashes
    the URL and workspace so several workspaces never share a file.
    """
    base = Path(os.environ.get(STATE_DIR_ENV) or Path.cwd() / ".dagster_airbyte_assets")
    digest = hashlib.sha256(f"{api_url}|{workspace_id or ''}".encode()).hexdigest()[:16]
    return base / f"workspace-{digest}.json"


def read_snapshot(path: Path) -> AirbyteWorkspaceSnapshot | None:
    """The saved snapshot, or ``None`` when there is none (or it is from another version)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    snapshot = AirbyteWorkspaceSnapshot.model_validate_json(text)
    if snapshot.version != SNAPSHOT_VERSION:
        logger.warning("Ignoring Airbyte state %s written by another version.", path)
        return None
    return snapshot


def write_snapshot(path: Path, snapshot: AirbyteWorkspaceSnapshot) -> None:
    """Write atomically, so a reader in another process never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(snapshot.model_dump(mode="json"), handle, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch_workspace_snapshot(
    client: AirbyteClient,
    workspace_id: str,
    *,
    max_concurrency: int = 10,
    api_url: str = "",
) -> AirbyteWorkspaceSnapshot:
    """Fetch connections (with stream catalogs) and their destinations.

    Where one list call returns every connection with its catalog (the Config API's
    ``connections/list``, used in both dialects when reachable), a cold load costs a handful of
    calls whatever the workspace size. Otherwise each connection is fetched once, concurrently
    but bounded by ``max_concurrency``, and each distinct destination once.
    """
    connections = client.list_connections(workspace_id, with_schemas=True)
    incomplete = [c for c in connections if not c.has_json_schemas]
    if incomplete:
        # One probe first: where no API can give schemas (a Public-API-only deployment), one
        # more call per connection would only fetch the same data again.
        probe = client.get_connection(incomplete[0].connection_id)
        if not probe.has_json_schemas:
            incomplete = []
    if incomplete:
        with ThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
            detailed = dict(
                zip(
                    [c.connection_id for c in incomplete],
                    pool.map(lambda c: client.get_connection(c.connection_id), incomplete),
                    strict=True,
                )
            )
        connections = [detailed.get(c.connection_id, c) for c in connections]
    destinations = _fetch_destinations(client, workspace_id, connections, max_concurrency)
    return AirbyteWorkspaceSnapshot(
        workspace_id=workspace_id,
        api_url=api_url,
        ui_url=client.ui_url,
        fetched_at=datetime.now(UTC),
        connections=connections,
        destinations=destinations,
    )


def _fetch_destinations(
    client: AirbyteClient,
    workspace_id: str,
    connections: Sequence[AirbyteConnection],
    max_concurrency: int,
) -> dict[str, AirbyteDestination]:
    """Each distinct destination once: one list call, then gets for any the list missed."""
    wanted = {c.destination_id for c in connections}
    if not wanted:
        return {}
    found = {
        d.destination_id: d
        for d in client.list_destinations(workspace_id)
        if d.destination_id in wanted
    }
    missing = sorted(wanted - found.keys())
    if missing:
        with ThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
            for destination in pool.map(client.get_destination, missing):
                found[destination.destination_id] = destination
    return found
