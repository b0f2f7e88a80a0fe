"""``local-airbyte serve``: the server in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from . import LocalAirbyte

__all__ = ["serve_from_args"]


def serve_from_args(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT; print the URL (flushed) once requests are accepted."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    server = LocalAirbyte(
        state_dir=args.state_dir,
        port=args.port,
        host=args.host,
        auth=args.auth,
        seed=args.seed,
        test_controls=args.test_controls,
        scheduler=args.scheduler,
        airbyte_version=args.airbyte_version,
        log_lines=args.log_lines,
        token_expires_in=args.token_expires_in,
    )
    try:
        server.start()
        print(
            f"Local Airbyte listening on {server.url} (Airbyte {server.profile.release} profile"
            f" {server.airbyte_version!r})",
            flush=True,
        )
        print(f"  Config API: {server.config_api_url}", flush=True)
        print(f"  Public API: {server.public_api_url}", flush=True)
        print(f"  Workspace:  {server.workspace_id}", flush=True)
        if server.sample_connection_id:
            print(f"  Sample connection: {server.sample_connection_id}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("Local Airbyte stopped.", file=sys.stderr, flush=True)
    return 0
