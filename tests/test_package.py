"""The two distributions and their boundaries.

The integration (``dagster_airbyte_assets``) and the local Airbyte (``local_airbyte``, in
``local-airbyte/``) share no code: the integration reaches the server only over HTTP, and each
side has its own reading of Airbyte's rules, so that one side's mistake fails a test instead of
being repeated by the other. These tests hold that boundary in both directions, and check what
each wheel carries.
"""

from __future__ import annotations

import importlib
import pkgutil
import shutil
import subprocess
import sys
import types
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import dagster_airbyte_assets

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY_DEPENDENCIES = ("fastapi", "uvicorn", "duckdb", "pyarrow", "psycopg")


# The front door: what a Definitions file uses, and dagster-airbyte's names for a switch with
# only the import changed (docs/migrating-from-dagster-airbyte.md). Errors live in ``dagster_airbyte_assets.errors``,
# models in ``dagster_airbyte_assets.client``; adding a name here is a deliberate API change.
FRONT_DOOR = [
    "AirbyteAssetsComponent",
    "AirbyteClient",
    "AirbyteCloudWorkspace",
    "AirbyteConnectionTableProps",
    "AirbyteError",
    "AirbyteJobStatusType",
    "AirbyteStreamProps",
    "AirbyteSyncFailure",
    "AirbyteWorkspace",
    "DagsterAirbyteTranslator",
    "LegacyKeysTranslator",
    "MetadataKeys",
    "__version__",
    "airbyte_assets",
    "build_airbyte_assets_definitions",
    "build_airbyte_freshness_checks",
    "build_airbyte_freshness_sensor",
    "build_airbyte_maintenance_jobs",
    "build_airbyte_schedules",
    "build_airbyte_schema_drift_checks",
    "build_airbyte_sync_sensor",
    "build_airbyte_take_over_job",
    "connection_selector_by_tag",
    "load_airbyte_asset_specs",
    "load_airbyte_cloud_asset_specs",
    "sync_and_materialize",
    "sync_and_wait",
]


def test_every_public_name_of_the_package_is_exported_and_no_more() -> None:
    # As httpx's own export test: nothing public reaches the top level by accident (an import
    # left behind, a helper), and ``__all__`` is sorted. Submodules are namespaces, not names.
    public = [
        name
        for name, value in vars(dagster_airbyte_assets).items()
        if (not name.startswith("_") or name == "__version__")
        and not isinstance(value, types.ModuleType)
    ]
    assert dagster_airbyte_assets.__all__ == sorted(public)
    assert dagster_airbyte_assets.__all__ == FRONT_DOOR


def test_exported_objects_come_from_the_package_and_errors_from_errors() -> None:
    from dagster_airbyte_assets import errors

    for name in FRONT_DOOR:
        if name == "__version__":
            continue
        value = getattr(dagster_airbyte_assets, name)
        assert value.__module__.startswith("dagster_airbyte_assets."), name
    # Every exception the package defines is in errors.py, except the Dagster step failure
    # (errors.py imports no Dagster, so the client can raise them without it).
    for info in pkgutil.walk_packages(dagster_airbyte_assets.__path__, "dagster_airbyte_assets."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Exception)
                and value.__module__ == info.name
                and value.__name__ != "AirbyteSyncFailure"
                and not value.__name__.startswith("_")
            ):
                assert module is errors, f"{info.name}.{value.__name__} belongs in errors.py"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")


def test_integration_imports_without_the_server_or_its_dependencies() -> None:
    # Make the server and everything only it needs unimportable, then import every module.
    blocked = ["local_airbyte", *SERVER_ONLY_DEPENDENCIES]
    code = (
        "import sys, pkgutil, importlib\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import dagster_airbyte_assets as pkg\n"
        "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "print('ok')\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"


def test_local_airbyte_imports_nothing_from_the_integration() -> None:
    # Not the integration, not Dagster: every server module must import with both blocked.
    code = (
        "import sys, pkgutil, importlib\n"
        "for name in ('dagster_airbyte_assets', 'dagster', 'dagster_dbt'): sys.modules[name] = None\n"
        "import local_airbyte as pkg\n"
        "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    if not info.name.endswith('__main__'):\n"
        "        importlib.import_module(info.name)\n"
        "leaked = sorted(m for m, v in sys.modules.items() if m.startswith('dagster') and v)\n"
        "print(leaked)\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "[]"


def test_no_source_file_of_either_side_mentions_the_other_in_an_import() -> None:
    # A static check as well, so that a lazy import inside a function cannot slip through.
    integration = ROOT / "dagster_airbyte_assets"
    server = ROOT / "local-airbyte" / "local_airbyte"
    for path in integration.rglob("*.py"):
        text = path.read_text()
        assert "import local_airbyte" not in text and "from local_airbyte" not in text, path
    for path in server.rglob("*.py"):
        text = path.read_text()
        assert "dagster_airbyte_assets" not in text.replace("dagster-airbyte-assets", ""), path


def _build_wheel(project: Path, parts: list[str], out: Path) -> Path:
    # Build from a copy: setuptools leaves build/ and *.egg-info behind in the source tree.
    source = out / "source"
    for part in ["pyproject.toml", "README.md", *parts]:
        if (project / part).is_dir():
            shutil.copytree(
                project / part, source / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy(project / part, source / part)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(archive.read(metadata).decode())
    return [r for r in message.get_all("Requires-Dist") or [] if "extra ==" not in r]


@pytest.mark.slow
def test_the_integration_wheel_holds_no_server_code_and_needs_no_server_dependency(
    tmp_path: Path,
) -> None:
    wheel = _build_wheel(ROOT, ["dagster_airbyte_assets"], tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert any(n.startswith("dagster_airbyte_assets/") for n in names)
    assert not [n for n in names if "local_airbyte" in n or n.startswith("tests/")]
    required = " ".join(_requirements(wheel)).lower()
    for dependency in SERVER_ONLY_DEPENDENCIES:
        assert dependency not in required, dependency


@pytest.mark.slow
def test_the_local_airbyte_wheel_stands_alone(tmp_path: Path) -> None:
    wheel = _build_wheel(ROOT / "local-airbyte", ["local_airbyte"], tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert any(n.startswith("local_airbyte/connectors/") for n in names)
    assert not [n for n in names if n.startswith("dagster_airbyte_assets")]
    assert not [r for r in _requirements(wheel) if r.lower().startswith("dagster")]


def test_cli_help_runs() -> None:
    cli = importlib.import_module("dagster_airbyte_assets.cli")
    parser = cli._build_parser()
    assert "local-airbyte" in parser.format_help()


def test_contract_command_reaches_the_local_airbyte() -> None:
    # `dagster-airbyte-assets local-airbyte ...` runs the server's own command in a new process.
    result = subprocess.run(
        [sys.executable, "-m", "dagster_airbyte_assets.cli", "local-airbyte", "serve", "--help"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "--state-dir" in result.stdout
