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

    refresh = commands.add_parser(
        "refresh-state",
        help="Fetch the Airbyte workspace again and save it as the state definitions load from.",
    )
    refresh.add_argument(
        "-f",
        "--python-file",
        required=True,
        help="The definitions file that calls build_airbyte_assets_definitions (e.g. definitions.py).",
    )
    return parser


def _refresh_state(python_file: str) -> int:
    """Load the definitions file with a forced refresh: every Airbyte loader in it re-fetches."""
    import os
    import runpy

    from dagster_airbyte_assets.assets import REFRESH_ENV

    os.environ[REFRESH_ENV] = "1"
    namespace = runpy.run_path(python_file, run_name="__dagster_airbyte_assets_refresh__")
    print(
        f"Refreshed Airbyte state for {python_file}: {_count_stream_assets(namespace)} stream assets."
    )
    return 0


def _count_stream_assets(namespace: dict[str, object]) -> int:
    """Airbyte stream assets defined at the top level of a loaded definitions file."""
    import dagster as dg

    from dagster_airbyte_assets.translator import MetadataKeys

    found: dict[int, dg.AssetsDefinition] = {}
    for value in namespace.values():
        candidates: list[object]
        if isinstance(value, dg.Definitions):
            candidates = list(value.assets or [])
        elif isinstance(value, list):
            candidates = value
        else:
            candidates = [value]
        for item in candidates:
            if isinstance(item, dg.AssetsDefinition):
                found[id(item)] = item
    return sum(
        1
        for assets in found.values()
        for spec in assets.specs
        if MetadataKeys.CONNECTION_ID in spec.metadata
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "local-airbyte" and args.local_command == "serve":
        from dagster_airbyte_assets.local_airbyte.serve import serve_from_args

        return serve_from_args(args)
    if args.command == "refresh-state":
        return _refresh_state(args.python_file)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
