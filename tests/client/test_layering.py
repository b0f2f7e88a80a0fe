"""Layer 1 stays free of Dagster: the client and errors modules never import it."""

from __future__ import annotations

import ast
from pathlib import Path

import dagster_airbyte_assets
import dagster_airbyte_assets.client as client_pkg

PACKAGE = Path(dagster_airbyte_assets.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_client_and_errors_do_not_import_dagster() -> None:
    files = [*sorted((PACKAGE / "client").glob("*.py")), PACKAGE / "errors.py"]
    for path in files:
        assert "dagster" not in _imports(path), path


def test_client_all_is_sorted_and_importable() -> None:
    names = client_pkg.__all__
    assert sorted(names) == list(names)
    assert all(hasattr(client_pkg, n) for n in names)
