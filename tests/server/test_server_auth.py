"""Auth modes: basic, client credentials (tokens on both APIs, expiry, revoke), open health."""

from __future__ import annotations

import time

import httpx
from openapi_validation import assert_matches_component, assert_matches_schema


def test_basic_auth(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    server = local_airbyte_factory(auth="basic", seed="sample")
    url = f"{server.config_api_url}/workspaces/get"
    body = {"workspaceId": server.workspace_id}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, auth=("airbyte", "wrong")).status_code == 401
    assert httpx.post(url, json=body, auth=("airbyte", "password")).status_code == 200
    public = httpx.get(f"{server.public_api_url}/workspaces")
    assert public.status_code == 401
    assert_matches_component("public-api-problems", "InvalidApiKeyProblemResponse", public.json())
    assert httpx.get(f"{server.config_api_url}/health").json() == {"available": True}
    assert httpx.get(f"{server.public_api_url}/health").status_code == 200


def test_client_credentials(local_airbyte_factory) -> None:  # type: ignore[no-untyped-def]
    server = local_airbyte_factory(
        auth="client-credentials", seed="sample", test_controls=True, token_expires_in=1
    )
    token_url = f"{server.public_api_url}/applications/token"
    response = httpx.post(
        token_url, json={"client_id": "local-client", "client_secret": "local-secret"}
    )
    assert response.status_code == 200
    assert_matches_schema("public-api", "/applications/token", "post", 200, response.json())
    assert response.json()["expires_in"] == 1
    form = httpx.post(
        token_url,
        data={
            "client_id": "local-client",
            "client_secret": "local-secret",
            "grant_type": "client_credentials",
        },
    )
    assert form.status_code == 200
    wrong = httpx.post(token_url, json={"client_id": "local-client", "client_secret": "nope"})
    assert wrong.status_code == 400 and "nope" not in wrong.text
    assert httpx.post(token_url, json={}).status_code == 400

    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert httpx.get(f"{server.public_api_url}/workspaces", headers=headers).status_code == 200
    workspace = {"workspaceId": server.workspace_id}
    assert (
        httpx.post(
            f"{server.config_api_url}/workspaces/get", json=workspace, headers=headers
        ).status_code
        == 200
    )
    assert (
        httpx.get(
            f"{server.public_api_url}/workspaces", headers={"Authorization": "Bearer junk"}
        ).status_code
        == 401
    )
    time.sleep(2.1)
    assert httpx.get(f"{server.public_api_url}/workspaces", headers=headers).status_code == 401

    fresh = httpx.post(
        token_url, json={"client_id": "local-client", "client_secret": "local-secret"}
    ).json()
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert httpx.post(f"{server.url}/_local/tokens/revoke").status_code == 204
    assert httpx.get(f"{server.public_api_url}/workspaces", headers=headers).status_code == 401
