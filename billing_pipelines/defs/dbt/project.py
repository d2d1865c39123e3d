"""The dbt project and the CLI that runs it against the configured warehouse."""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from billing_pipelines.config import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_EXECUTABLE = Path(sys.prefix) / "bin" / "dbt"  # the dbt installed beside this environment

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_cli() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=str(DBT_EXECUTABLE))


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """The parsed manifest Dagster builds the dbt assets from: parsed now if missing (a fresh
    checkout, CI) and on every load under `dagster dev`/`dg` so model edits show up."""
    if project.preparer.using_dagster_dev() or not project.manifest_path.exists():
        dbt_cli().cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project.manifest_path
