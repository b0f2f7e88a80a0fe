"""The package's public surface: what users import is declared, sorted and importable."""

import importlib
import subprocess
import sys

import dagster_airbyte_assets


def test_all_is_sorted_and_importable() -> None:
    names = dagster_airbyte_assets.__all__
    assert list(names) == sorted(names)
    for name in names:
        assert hasattr(dagster_airbyte_assets, name), name


def test_integration_never_imports_the_local_airbyte() -> None:
    # The server's dependencies (FastAPI, DuckDB...) are an extra; importing the integration
    # must not need them.
    code = (
        "import sys, dagster_airbyte_assets; "
        "bad = [m for m in sys.modules if m.startswith('dagster_airbyte_assets.local_airbyte') "
        "or m in ('fastapi', 'uvicorn', 'duckdb')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_help_runs() -> None:
    cli = importlib.import_module("dagster_airbyte_assets.cli")
    parser = cli._build_parser()
    assert "local-airbyte" in parser.format_help()
