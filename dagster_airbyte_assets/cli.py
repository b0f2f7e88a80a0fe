"""The ``dagster-airbyte-assets`` console script.

Sub-commands import what they need lazily: ``local-airbyte`` pulls in the server's dependencies
(the ``[local]`` extra), which a plain integration install does not have.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dagster-airbyte-assets",
        description="Airbyte streams as Dagster assets, and a local Airbyte to run them against.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local-airbyte", help="The local Airbyte server.")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    serve = local_commands.add_parser(
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "local-airbyte" and args.local_command == "serve":
        from dagster_airbyte_assets.local_airbyte.serve import serve_from_args

        return serve_from_args(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
