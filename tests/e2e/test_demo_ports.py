"""The demo's port choice: a port in TIME_WAIT is free, a taken one is replaced out loud.

An immediate rerun of ``make demo`` finds its port's last connections in TIME_WAIT. The local
Airbyte (and uvicorn) bind with ``SO_REUSEADDR``, so the port is free for them; the check must
agree, or ``DEMO_PORT`` is silently ignored and the links of the run point at a random port.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import pytest
from e2e_helpers import ROOT

sys.path.insert(0, str(ROOT / "examples"))

import demo


def _time_wait_port() -> int:
    """A port the local Airbyte served, whose server side closed first: now in TIME_WAIT."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = int(listener.getsockname()[1])
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the active close: TIME_WAIT on the server's side of the port
    client.recv(1)  # the FIN arrived
    client.close()
    listener.close()
    return port


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_port_in_time_wait_is_free_for_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    port = _time_wait_port()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # what the old check did: "taken"
    assert demo.port_is_free(port)
    assert demo.choose_port(port, "DEMO_PORT", "the local Airbyte") == port
    assert capsys.readouterr().out == ""


def test_a_taken_port_is_replaced_and_the_switch_is_said(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not demo.port_is_free(taken_port)
    chosen = demo.choose_port(taken_port, "DEMO_PORT", "the local Airbyte")
    assert chosen != taken_port and demo.port_is_free(chosen)
    said = capsys.readouterr().out
    assert f"Port {taken_port} (DEMO_PORT) is in use" in said
    assert f"uses port {chosen} instead" in said
