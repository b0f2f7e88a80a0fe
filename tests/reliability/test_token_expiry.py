"""Client credentials through a long wait: tokens expire every 2 s, and revocation mid-wait.

Sync length: 8 s rather than 30 s. With a 2 s token lifetime the client refreshes every
1.5 s (lifetime minus a quarter), so 8 s already spans four token lifetimes and every poll
after the first uses a token minted during the wait; 30 s would repeat the same cycle 15 more
times and only cost suite time.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from reliability_helpers import build_assets, control, jobs_of, wait_until

TOKEN_ROUTE = "POST /api/public/v1/applications/token"
SYNC_SECONDS = 8


def _credentials_server(factory: Any, expires_in: int) -> Any:
    return factory(
        auth="client-credentials",
        token_expires_in=expires_in,
        seed="sample",
        test_controls=True,
    )


def _workspace_assets(server: Any, tmp_path: Path) -> tuple[Any, Any]:
    client_id, client_secret = server.client_credentials
    return build_assets(
        server, tmp_path, poll_interval=1.0, client_id=client_id, client_secret=client_secret
    )


@pytest.mark.timeout(60)
def test_sync_outlives_many_two_second_tokens(local_airbyte_factory: Any, tmp_path: Path) -> None:
    server = _credentials_server(local_airbyte_factory, expires_in=2)
    connection_id = server.sample_connection_id
    control(server, "POST", f"connections/{connection_id}/sync_duration", {"seconds": SYNC_SECONDS})
    workspace, assets = _workspace_assets(server, tmp_path)
    control(server, "DELETE", "requests")
    result = dg.materialize(assets, resources={"airbyte": workspace}, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    (job,) = jobs_of(server, connection_id, headers=_bearer(server))
    assert job["status"] == "succeeded"
    tokens = control(server, "GET", "requests").json()["by_route"][TOKEN_ROUTE]
    # Refreshed ahead of expiry about every 1.5 s: neither one token per request nor one
    # token for the whole wait (which the server would have refused after 2 s).
    assert SYNC_SECONDS / 2 - 1 <= tokens <= SYNC_SECONDS / 1.5 + 3


@pytest.mark.timeout(60)
def test_revoked_token_mid_wait_causes_exactly_one_refresh(
    local_airbyte_factory: Any, tmp_path: Path
) -> None:
    server = _credentials_server(local_airbyte_factory, expires_in=900)
    connection_id = server.sample_connection_id
    control(server, "POST", f"connections/{connection_id}/sync_duration", {"seconds": 5})
    workspace, assets = _workspace_assets(server, tmp_path)
    control(server, "DELETE", "requests")
    revoked = threading.Event()

    def revoke_while_waiting() -> None:
        wait_until(
            lambda: (
                control(server, "GET", "requests")
                .json()["by_route"]
                .get("POST /api/v1/jobs/get_without_logs", 0)
                >= 1
            ),
            20,
            "the step to poll once",
        )
        control(server, "POST", "tokens/revoke")
        revoked.set()

    revoker = threading.Thread(target=revoke_while_waiting)
    revoker.start()
    result = dg.materialize(assets, resources={"airbyte": workspace}, raise_on_error=False)
    revoker.join(20)
    assert revoked.is_set()
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    by_route = control(server, "GET", "requests").json()["by_route"]
    # One token at the start of the run, one after the 401: exactly one refresh.
    assert by_route[TOKEN_ROUTE] == 2


def _bearer(server: Any) -> dict[str, str]:
    import httpx

    client_id, client_secret = server.client_credentials
    token = httpx.post(
        f"{server.public_api_url}/applications/token",
        json={"client_id": client_id, "client_secret": client_secret},
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}
