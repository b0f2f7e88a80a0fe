"""Fixtures for the client tests: a MockTransport-backed client factory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from client_payloads import FAST, ROOT, Handler, MakeClient, Recorder

from dagster_airbyte_assets.client import AirbyteClient


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    clients: list[AirbyteClient] = []

    def build(handler: Handler, api: str = "public", **kw: Any) -> tuple[AirbyteClient, Recorder]:
        recorder = Recorder(handler)
        kw.setdefault("retry", FAST)
        client = AirbyteClient.from_url(
            ROOT, api=api, transport=httpx.MockTransport(recorder), **kw
        )
        clients.append(client)
        return client, recorder

    yield build
    for client in clients:
        client.close()
