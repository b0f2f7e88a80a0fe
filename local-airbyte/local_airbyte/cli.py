"""The ``local-airbyte`` console script (also ``python -m local_airbyte``).

``dagster-airbyte-assets local-airbyte ...`` runs this same command in a new process, so the
integration never imports the server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "local-airbyte") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="An Airbyte-API-compatible server that really moves data.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="Run the local Airbyte in the foreground (Config API and Public API)."
    )
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1", help="Interface to bind (default: loopback).")
    serve.add_argument("--state-dir", required=True, help="Directory holding the server's state.")
    serve.add_argument("--auth", choices=["none", "basic", "client-credentials"], default="none")
    serve.add_argument("--seed", choices=["sample"], default=None)
    serve.add_argument("--test-controls", action="store_true", help="Enable /_local/ controls.")
    serve.add_argument(
        "--scheduler", action="store_true", help="Run connection schedules (manual/basic/cron)."
    )
    from .profiles import DEFAULT_PROFILE, PROFILES

    serve.add_argument(
        "--airbyte-version",
        default=DEFAULT_PROFILE,
        metavar="PROFILE",
        help=f"Behave like this Airbyte release: {', '.join(PROFILES)} (default {DEFAULT_PROFILE}).",
    )
    serve.add_argument(
        "--log-lines",
        type=int,
        default=0,
        help="Lines per attempt log returned by jobs/get (default: the real lines only).",
    )
    serve.add_argument(
        "--token-expires-in",
        type=int,
        default=None,
        help="Access token lifetime in seconds (default: the profile's, 900; cloud 180).",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from .serve import serve_from_args

        return serve_from_args(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
