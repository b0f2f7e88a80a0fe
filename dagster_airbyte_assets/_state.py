"""The workspace state definitions are built from, and how it reaches every Dagster process.

Fetching a workspace costs API calls, and every Dagster process that loads the definitions (code
server, run worker, step worker, Celery task) must build exactly the same assets. So the state
is fetched once, where the code location is *defined*, and handed to every process that
*reconstructs* it through Dagster's own mechanism: the reconstruction metadata of the code
location (``DefinitionsLoadContext``, the protocol of Dagster's ``StateBackedDefinitionsLoader``
that dagster-airbyte and dagster-fivetran use). Dagster stores it with each run's execution plan
and ships it inside every step it launches (a Celery task message carries it), so a worker needs
no file, no shared disk and no route to Airbyte to build the definitions.

Where the code location is defined (a code server, ``dagster dev``, a script), the snapshot comes
from one of two storages, per ``refresh``:

- a JSON file (``state_path``, or ``$DAGSTER_AIRBYTE_ASSETS_STATE_DIR`` /
  ``./.dagster_airbyte_assets``): written after every fetch, read instead of fetching
  (``"if_missing"``), or the only source (``"never"``: images built with the state baked in);
- Airbyte itself (``"always"``, or when the file is missing), falling back to the file when
  Airbyte is unreachable.

This module owns the snapshot, its path, that policy and the metadata protocol; ``assets.py``
builds specs from a snapshot and ``component.py`` stores the same snapshot in Dagster's
``defs_state`` storages instead of the file. The schedules handed over to Dagster are recorded
in the Dagster instance's ``defs_state_storage`` (``save_handed_over``), also read here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from uuid import uuid4

from dagster._core.definitions.definitions_load_context import (
    DefinitionsLoadContext,
    DefinitionsLoadType,
)
from dagster._core.storage.defs_state.base import DefsStateStorage
from dagster.components import DefsStateConfig
from dagster_shared.serdes.objects.models.defs_state_info import DefsStateManagementType
from pydantic import BaseModel, ConfigDict, ValidationError

from dagster_airbyte_assets.client import (
    AirbyteClient,
    AirbyteConnection,
    AirbyteDestination,
    AirbyteSchedule,
)
from dagster_airbyte_assets.errors import AirbyteConfigurationError, AirbyteError

if TYPE_CHECKING:
    from dagster_airbyte_assets.resource import AirbyteWorkspace

__all__ = [
    "METADATA_PREFIX",
    "REFRESH_ENV",
    "STATE_DIR_ENV",
    "AirbyteWorkspaceSnapshot",
    "RefreshPolicy",
    "decode_state",
    "encode_state",
    "fetch_workspace_snapshot",
    "handed_over_state_key",
    "is_reconstruction",
    "latest_handed_over",
    "load_handed_over",
    "load_workspace_snapshot",
    "parse_snapshot_json",
    "read_snapshot",
    "reconstructed_state",
    "recorded_state",
    "save_handed_over",
    "snapshot_json",
    "snapshot_metadata_key",
    "snapshot_path",
    "workspace_digest",
    "write_snapshot",
]

logger = logging.getLogger("dagster_airbyte_assets")

STATE_DIR_ENV = "DAGSTER_AIRBYTE_ASSETS_STATE_DIR"
REFRESH_ENV = "DAGSTER_AIRBYTE_ASSETS_REFRESH"
SNAPSHOT_VERSION = 1
METADATA_PREFIX = "dagster_airbyte_assets"

RefreshPolicy = Literal["if_missing", "always", "never"]


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


# -- names --------------------------------------------------------------------------------------


def workspace_digest(workspace: AirbyteWorkspace) -> str:
    """A stable name for one (Airbyte, workspace) pair; hashed, so no URL credentials leak."""
    text = f"{workspace.airbyte_url}|{workspace.workspace_id or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def snapshot_path(
    workspace: AirbyteWorkspace, state_path: str | os.PathLike[str] | None = None
) -> Path:
    """The snapshot file: ``state_path``, or one per workspace under the state directory.

    ``$DAGSTER_AIRBYTE_ASSETS_STATE_DIR`` or ``./.dagster_airbyte_assets``; the file name hashes
    the URL and workspace so several workspaces never share a file.
    """
    if state_path:
        return Path(state_path)
    base = Path(os.environ.get(STATE_DIR_ENV) or Path.cwd() / ".dagster_airbyte_assets")
    return base / f"workspace-{workspace_digest(workspace)}.json"


def snapshot_metadata_key(workspace: AirbyteWorkspace) -> str:
    """The reconstruction-metadata key of a workspace's snapshot (unique per code location)."""
    return f"{METADATA_PREFIX}/workspace[{workspace_digest(workspace)}]"


def handed_over_state_key(workspace: AirbyteWorkspace) -> str:
    """The ``defs_state_storage`` key recording the schedules handed over to Dagster."""
    return f"AirbyteHandedOverSchedules[{workspace_digest(workspace)}]"


# -- the reconstruction-metadata protocol ---------------------------------------------------------


def is_reconstruction() -> bool:
    """True in a process rebuilding definitions that a code server already defined."""
    return (
        DefinitionsLoadContext.is_set()
        and DefinitionsLoadContext.get().load_type == DefinitionsLoadType.RECONSTRUCTION
    )


def reconstructed_state(key: str) -> str | None:
    """In a reconstruction, the state text the code server recorded under ``key``; else None.

    Recorded again as pending metadata, as Dagster's loader does, so that a load nested in this
    one (the code server builds lazy definitions once more as a reconstruction) keeps it.
    """
    context = DefinitionsLoadContext.get()
    if context.load_type != DefinitionsLoadType.RECONSTRUCTION:
        return None
    text: str | None = context.reconstruction_metadata.get(key)
    if text is not None:
        context.add_to_pending_reconstruction_metadata(key, text)
    return text


def recorded_state(key: str, produce: Callable[[], str]) -> str:
    """The state text under ``key``: as recorded by the code server, else ``produce()``.

    Dagster's state-backed definitions protocol, as its ``StateBackedDefinitionsLoader``
    implements it: a reconstruction reads what the code server recorded; otherwise the state is
    produced and recorded as pending reconstruction metadata, which Dagster stores with the code
    location, with each run's execution plan, and in every step it launches. Two differences
    from the stock loader: a second use of ``key`` in the same load reuses the first (assets,
    schedules and checks of one workspace cost one fetch), and the text is stored as given
    (compressed by ``encode_state``, not quoted again by serdes).
    """
    text = reconstructed_state(key)
    if text is not None:
        return text
    context = DefinitionsLoadContext.get()
    text = context.get_pending_reconstruction_metadata().get(key)
    if text is None:
        text = produce()
    context.add_to_pending_reconstruction_metadata(key, text)
    return text


def encode_state(text: str) -> str:
    """Compress state for reconstruction metadata.

    The metadata is stored with every run's execution plan and sent in every Celery task; a
    JSON catalog of 1000 connections is megabytes, and compresses tens of times.
    """
    return "zlib:" + base64.b64encode(zlib.compress(text.encode(), 6)).decode("ascii")


def decode_state(value: str) -> str:
    if value.startswith("zlib:"):
        return zlib.decompress(base64.b64decode(value[5:])).decode()
    return value


# -- the snapshot file ----------------------------------------------------------------------------


def _parse_snapshot(text: str, origin: str) -> AirbyteWorkspaceSnapshot | None:
    try:
        snapshot = AirbyteWorkspaceSnapshot.model_validate_json(text)
    except ValidationError as exc:
        raise AirbyteConfigurationError(
            f"The Airbyte state in {origin} is not a workspace snapshot of this version of "
            f"dagster-airbyte-assets ({exc.error_count()} errors). Refresh it."
        ) from None
    if snapshot.version != SNAPSHOT_VERSION:
        logger.warning("Ignoring Airbyte state in %s written by another version.", origin)
        return None
    return snapshot


def read_snapshot(path: Path) -> AirbyteWorkspaceSnapshot | None:
    """The saved snapshot, or ``None`` when there is none (or it is from another version)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return _parse_snapshot(text, str(path))


def snapshot_json(snapshot: AirbyteWorkspaceSnapshot) -> str:
    return json.dumps(snapshot.model_dump(mode="json"), separators=(",", ":"))


def parse_snapshot_json(text: str, origin: str) -> AirbyteWorkspaceSnapshot:
    snapshot = _parse_snapshot(text, origin)
    if snapshot is None:
        raise AirbyteConfigurationError(
            f"The Airbyte state in {origin} was written by another version of "
            "dagster-airbyte-assets. Refresh it."
        )
    return snapshot


def write_snapshot(path: Path, snapshot: AirbyteWorkspaceSnapshot) -> None:
    """Write atomically, so a reader in another process never sees half a file."""
    _write_atomically(path, snapshot_json(snapshot))


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- the policy -----------------------------------------------------------------------------------


def load_workspace_snapshot(
    workspace: AirbyteWorkspace,
    *,
    state_path: str | os.PathLike[str] | None = None,
    refresh: RefreshPolicy = "if_missing",
) -> AirbyteWorkspaceSnapshot:
    """The snapshot definitions are built from, in whichever Dagster process this is.

    A reconstruction (run, step or Celery worker) reads what the code server recorded: no file,
    no call. Where the code location is defined, the file or Airbyte per ``refresh``, and the
    result is recorded for the workers.
    """
    if refresh not in ("if_missing", "always", "never"):
        raise AirbyteConfigurationError(
            f"refresh must be 'if_missing', 'always' or 'never', not {refresh!r}"
        )
    path = snapshot_path(workspace, state_path)

    def produce() -> str:
        return encode_state(snapshot_json(_snapshot_from_storage(workspace, path, refresh)))

    text = recorded_state(snapshot_metadata_key(workspace), produce)
    return parse_snapshot_json(decode_state(text), "the code location's reconstruction metadata")


def _snapshot_from_storage(
    workspace: AirbyteWorkspace, path: Path, refresh: RefreshPolicy
) -> AirbyteWorkspaceSnapshot:
    saved = read_snapshot(path)
    forced = os.environ.get(REFRESH_ENV, "").lower() in ("1", "true", "yes")
    # A reconstruction that found nothing recorded (definitions loaded outside a code server,
    # e.g. `dagster asset materialize -f`) builds what its parent built: the file, if any.
    if saved is not None and (is_reconstruction() or (refresh != "always" and not forced)):
        return saved
    if refresh == "never" and not forced:
        raise AirbyteConfigurationError(
            f"No saved Airbyte state at {path} and refresh='never'. Create it with "
            "`dagster-airbyte-assets refresh-state -f <your definitions file>` or set "
            f"{REFRESH_ENV}=1 once."
        )
    try:
        snapshot = fetch_workspace_snapshot(
            workspace.get_client(),
            workspace.resolve_workspace_id(),
            max_concurrency=workspace.max_concurrent_requests,
            api_url=workspace.airbyte_url,
        )
    except AirbyteError as exc:
        if saved is not None:
            logger.warning(
                "Airbyte is unreachable (%s); building definitions from the state saved at %s "
                "on %s.",
                exc,
                path,
                saved.fetched_at.isoformat(timespec="seconds"),
            )
            return saved
        raise AirbyteConfigurationError(
            f"Cannot build Airbyte assets: {exc} No saved state exists at {path} to fall back "
            "on. Fix the connection settings and load again, or create the state where Airbyte "
            "is reachable with `dagster-airbyte-assets refresh-state -f <definitions file>` and "
            "ship the file with your code."
        ) from exc
    write_snapshot(path, snapshot)
    return snapshot


# -- fetching -------------------------------------------------------------------------------------


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


# -- schedules handed over to Dagster ---------------------------------------------------------------


def _handed_over_config(workspace: AirbyteWorkspace) -> DefsStateConfig:
    return DefsStateConfig(
        key=handed_over_state_key(workspace),
        management_type=DefsStateManagementType.VERSIONED_STATE_STORAGE,
        refresh_if_dev=False,
    )


def _parse_handed_over(text: str) -> dict[str, AirbyteSchedule]:
    raw = json.loads(text)
    return {cid: AirbyteSchedule.model_validate(s) for cid, s in raw.get("schedules", {}).items()}


def _handed_over_json(schedules: Mapping[str, AirbyteSchedule]) -> str:
    body = {cid: s.model_dump(mode="json") for cid, s in sorted(schedules.items())}
    return json.dumps({"version": 1, "schedules": body}, separators=(",", ":"))


def load_handed_over(workspace: AirbyteWorkspace) -> dict[str, AirbyteSchedule]:
    """The Airbyte schedules Dagster took over for this workspace (connection id -> schedule).

    Recorded by the take-over action in the instance's ``defs_state_storage``; read where the
    code location is defined (the version Dagster pinned for this load) and handed to workers
    through reconstruction metadata like the snapshot. Empty without a storage (a plain script).
    """

    def produce() -> str:
        storage = DefsStateStorage.get()
        context = DefinitionsLoadContext.get()
        config = _handed_over_config(workspace)
        # Read-only look first: a workspace that never handed anything over pins nothing.
        if storage is None or config.key not in context.state_keys_with_prefix(config.key):
            return _handed_over_json({})
        try:
            with context.state_path(config, storage, Path.cwd()) as path:
                return path.read_text() if path is not None else _handed_over_json({})
        except Exception as exc:
            # E.g. a record written by a run pod to its own local disk: the code location
            # must still load.
            logger.warning(
                "Cannot read the Airbyte schedules handed over to Dagster from the instance's "
                "defs_state_storage (%s); connections handed over get no Dagster schedule until "
                "it can be read. Use a defs_state_storage every Dagster process shares (S3, GCS, "
                "Azure).",
                exc,
            )
            return _handed_over_json({})

    key = f"{METADATA_PREFIX}/handed-over[{workspace_digest(workspace)}]"
    return _parse_handed_over(recorded_state(key, produce))


def latest_handed_over(
    storage: DefsStateStorage, workspace: AirbyteWorkspace
) -> dict[str, AirbyteSchedule]:
    """The latest record in ``storage`` (what the next code-location load will pin)."""
    key = handed_over_state_key(workspace)
    info = storage.get_latest_defs_state_info()
    key_info = info.info_mapping.get(key) if info else None
    if key_info is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state"
        storage.download_state_to_path(key, key_info.version, path)
        return _parse_handed_over(path.read_text())


def save_handed_over(
    storage: DefsStateStorage,
    workspace: AirbyteWorkspace,
    schedules: Mapping[str, AirbyteSchedule],
) -> None:
    """Record the handed-over schedules as a new version; the next load of the code location
    (reload, or a new code server) uses it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state"
        path.write_text(_handed_over_json(schedules))
        storage.upload_state_from_path(
            handed_over_state_key(workspace), version=str(uuid4()), path=path
        )
