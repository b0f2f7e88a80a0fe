"""The ``dagster-airbyte-assets`` console script.

- ``refresh-state -f defs.py`` (or ``-m module``): loads the definitions the way a code server
  defines a code location (Dagster's INITIALIZATION load, lazy ``@dg.definitions`` included)
  with a forced refresh, so every workspace they load is fetched again and its snapshot file
  rewritten: the step that bakes the state into an image. The code server then hands the
  snapshot to its workers through reconstruction metadata. Components use Dagster's own
  ``dg utils refresh-defs-state`` instead.
- ``take-over-schedules -f defs.py``: runs the take-over job(s) of the definitions
  (``build_airbyte_take_over_job``) against the instance in ``DAGSTER_HOME``.
- ``local-airbyte ...`` hands over to the local Airbyte's own command (``python -m
  local_airbyte``) in this process's place: the server is a separate distribution that the
  integration never imports, installed with ``pip install ./local-airbyte``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

__all__ = ["main"]


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "-f",
        "--python-file",
        help="The definitions file (e.g. definitions.py).",
    )
    where.add_argument("-m", "--module-name", help="The definitions module (e.g. my_project.defs).")
    parser.add_argument(
        "-a", "--attribute", help="The Definitions attribute to load (default: all found)."
    )
    parser.add_argument(
        "-d", "--working-directory", help="Where to load from (default: the current directory)."
    )


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
        help="Fetch every Airbyte workspace the definitions load and save its snapshot file.",
    )
    _add_target_arguments(refresh)

    take_over = commands.add_parser(
        "take-over-schedules",
        help=(
            "Run the definitions' take-over job: scheduled Airbyte connections become manual "
            "and Dagster runs their schedules (needs DAGSTER_HOME)."
        ),
    )
    _add_target_arguments(take_over)
    take_over.add_argument("--job", help="Only this take-over job (default: every one found).")
    return parser


@contextmanager
def _defining() -> Iterator[None]:
    """A load as a code server's: Dagster's INITIALIZATION context, kept for the whole load."""
    from dagster._core.definitions.definitions_load_context import (
        DefinitionsLoadContext,
        DefinitionsLoadType,
    )

    with DefinitionsLoadContext.scoped(DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION)):
        yield


def _load_repositories(args: argparse.Namespace) -> list[dg.RepositoryDefinition]:
    from dagster._core.definitions.reconstruct import repository_def_from_target_def
    from dagster._grpc.utils import get_loadable_targets

    working_directory = args.working_directory or os.getcwd()
    targets = get_loadable_targets(
        python_file=args.python_file,
        module_name=args.module_name,
        package_name=None,
        autoload_defs_module_name=None,
        working_directory=working_directory,
        attribute=args.attribute,
        resolve_lazy_defs=True,
    )
    repositories = []
    for target in targets:
        repository = repository_def_from_target_def(target.target_definition)
        if repository is not None:
            repositories.append(repository)
    return repositories


def _count_stream_assets(repositories: Sequence[dg.RepositoryDefinition]) -> int:
    from dagster_airbyte_assets.translator import MetadataKeys

    return len(
        {
            spec.key
            for repository in repositories
            for assets in repository.assets_defs_by_key.values()
            for spec in assets.specs
            if MetadataKeys.CONNECTION_ID in spec.metadata
        }
    )


def _refresh_state(args: argparse.Namespace) -> int:
    """Load the definitions with a forced refresh: every Airbyte loader in them re-fetches."""
    from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext

    from dagster_airbyte_assets._state import METADATA_PREFIX, REFRESH_ENV

    target = args.python_file or args.module_name
    os.environ[REFRESH_ENV] = "1"
    with _defining():
        repositories = _load_repositories(args)
        recorded = [
            key
            for key in DefinitionsLoadContext.get().get_pending_reconstruction_metadata()
            if key.startswith(f"{METADATA_PREFIX}/workspace[")
        ]
    if not recorded:
        print(
            f"{target} loads no Airbyte workspace through build_airbyte_assets_definitions, "
            "load_airbyte_asset_specs or @airbyte_assets. For AirbyteAssetsComponent, run "
            "`dg utils refresh-defs-state`.",
            file=sys.stderr,
        )
        return 1
    print(
        f"Refreshed Airbyte state for {target}: {len(recorded)} workspace(s), "
        f"{_count_stream_assets(repositories)} stream assets."
    )
    return 0


def _take_over_schedules(args: argparse.Namespace) -> int:
    """Run every take-over job of the definitions, in this process, on DAGSTER_HOME's instance."""
    import dagster as dg

    from dagster_airbyte_assets.schedules import TAKE_OVER_JOB_TAG

    if not os.environ.get("DAGSTER_HOME"):
        print(
            "Set DAGSTER_HOME to your deployment's Dagster instance: the handed-over schedules "
            "are recorded in its defs_state_storage, where the code server reads them.",
            file=sys.stderr,
        )
        return 2
    target = args.python_file or args.module_name
    with dg.DagsterInstance.get() as instance, _defining():
        jobs = [
            job
            for repository in _load_repositories(args)
            for job in repository.get_all_jobs()
            if job.tags.get(TAKE_OVER_JOB_TAG) == "true" and args.job in (None, job.name)
        ]
        if not jobs:
            print(
                f"{target} has no Airbyte take-over job"
                + (f" named {args.job!r}" if args.job else "")
                + ": add jobs=[build_airbyte_take_over_job(workspace=..., assets=...)] to its "
                "Definitions (the component adds it with schedules.take_over_scheduling).",
                file=sys.stderr,
            )
            return 1
        failed = 0
        for job in jobs:
            result = job.execute_in_process(instance=instance, raise_on_error=False)
            print(
                f"{job.name}: {'succeeded' if result.success else 'FAILED'} (run {result.run_id})"
            )
            failed += not result.success
    if failed:
        return 1
    print("Reload the code location: the handed-over schedules then run in Dagster.")
    return 0


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
        return _refresh_state(args)
    if args.command == "take-over-schedules":
        return _take_over_schedules(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
