"""The ``dagster-airbyte-assets`` console script.

``local-airbyte ...`` hands over to the local Airbyte's own command (``python -m local_airbyte``)
in this process's place: the server is a separate distribution that the integration never
imports, installed with ``pip install ./local-airbyte``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dagster-airbyte-assets",
        description="Airbyte streams as Dagster assets, and a local Airbyte to run them against.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser(
        "local-airbyte",
        help="The local Airbyte server (`local-airbyte --help`); needs `pip install ./local-airbyte`.",
        add_help=False,
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


def _run_local_airbyte(argv: Sequence[str]) -> int:
    """Replace this process with ``python -m local_airbyte <argv>`` (same interpreter)."""
    if importlib.util.find_spec("local_airbyte") is None:
        print(
            "The local Airbyte is not installed in this environment. From a clone of "
            "dagster-airbyte-assets: pip install ./local-airbyte",
            file=sys.stderr,
        )
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "local_airbyte", *argv])
    raise AssertionError("unreachable")  # pragma: no cover - execv does not return


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["local-airbyte"]:
        return _run_local_airbyte(argv[1:])
    args = _build_parser().parse_args(argv)
    if args.command == "refresh-state":
        return _refresh_state(args.python_file)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
