"""Define a code location as a code server does, and rebuild it as a run worker does.

``define`` loads a definitions file under Dagster's INITIALIZATION context and returns what it
built and the ``RepositoryLoadData`` Dagster stores with every run (its reconstruction metadata included).
``reconstruct_elsewhere`` rebuilds the same file in a fresh Python process, in another working
directory, from that data alone, the way ``dagster api execute_run`` / a Celery task does, and
reports what it built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.definitions_load_context import (
    DefinitionsLoadContext,
    DefinitionsLoadType,
)
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.definitions.repository_definition import RepositoryLoadData
from dagster_shared.serdes import serialize_value

REPO_ROOT = Path(__file__).resolve().parents[1]

_RECONSTRUCT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster_shared.serdes import deserialize_value

    python_file, attribute, load_data = sys.argv[1:4]
    recon = ReconstructableRepository.for_file(
        python_file, attribute, working_directory=str(Path(python_file).parent)
    ).with_repository_load_data(deserialize_value(Path(load_data).read_text()))
    repository = recon.get_definition()
    print(json.dumps({
        "keys": sorted(k.to_user_string() for k in repository.asset_graph.get_all_asset_keys()),
        "schedules": sorted(
            [s.name, s.cron_schedule, s.execution_timezone, s.default_status.value]
            for s in repository.schedule_defs
        ),
        "jobs": sorted(j.name for j in repository.get_all_jobs()),
    }))
    """
)


def define(python_file: Path, attribute: str = "defs") -> tuple[dict[str, Any], RepositoryLoadData]:
    """Load ``python_file`` as a code server defines a code location: what it built, and the
    load data Dagster hands to run workers."""
    recon = ReconstructableRepository.for_file(
        str(python_file), attribute, working_directory=str(python_file.parent)
    )
    with DefinitionsLoadContext.scoped(DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION)):
        repository = recon.get_definition()
    load_data = repository.repository_load_data
    assert load_data is not None, "the code location recorded no reconstruction metadata"
    return built(repository), load_data


def reconstruct_elsewhere(
    python_file: Path,
    load_data: RepositoryLoadData,
    workdir: Path,
    attribute: str = "defs",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Rebuild ``python_file`` from ``load_data`` in a new process whose cwd is ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_file = workdir / "repository-load-data.json"
    data_file.write_text(serialize_value(load_data))
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT), str(python_file.parent), os.environ.get("PYTHONPATH", "")]
        ),
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-c", _RECONSTRUCT, str(python_file), attribute, str(data_file)],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    built: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return built


def built(repository: dg.RepositoryDefinition) -> dict[str, Any]:
    """The same report as ``reconstruct_elsewhere``, for a repository at hand."""
    return {
        "keys": sorted(k.to_user_string() for k in repository.asset_graph.get_all_asset_keys()),
        "schedules": sorted(
            [s.name, s.cron_schedule, s.execution_timezone, s.default_status.value]
            for s in repository.schedule_defs
        ),
        "jobs": sorted(j.name for j in repository.get_all_jobs()),
    }
