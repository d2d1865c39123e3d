"""The dbt project, the CLI that runs it against the configured warehouse, and dbt's parse cache.

Every dbt invocation gets a fresh target folder (dagster-dbt's rule: artifacts of concurrent
runs never mix). dbt parses the whole project again (≈ 2 s) unless that folder holds a
`partial_parse.msgpack` written for the same profile (it includes the warehouse) and the
same `--vars`. The project's own `target/partial_parse.msgpack`, which dagster-dbt copies in by
default, never qualifies: `make manifest` parses without a warehouse. So each invocation's
folder is seeded with the file the last invocation with the same warehouse and vars left:
unpartitioned runs and the scheduled sync (the same window all day) parse only what changed; a
new window, or any other profile change, still parses in full once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from dbt import version as dbt_core_version
from packaging import version

from billing_pipelines.config import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_EXECUTABLE = Path(sys.prefix) / "bin" / "dbt"  # the dbt installed beside this environment
PARTIAL_PARSE = "partial_parse.msgpack"
PARSES_KEPT = 8  # one per warehouse and vars: state runs, the current sync window, recent landing days

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
TARGET_DIR = dbt_project.project_dir / dbt_project.target_path
PARSE_CACHE_DIR = TARGET_DIR / "partial_parses"


class BillingDbtCli(DbtCliResource):
    """dagster-dbt's CLI resource without two start-up costs a run would pay for nothing:

    - it learns dbt's version by starting `dbt --version` (≈ 3.5 s); our dbt is the one
      installed in this environment, so its version is the installed dbt-core's;
    - it builds a dbt adapter in the Dagster process (≈ 1.5–3 s, reading every macro) that
      serves only row-count and column metadata, which these assets do not fetch.
    Both are private hooks of the pinned dagster-dbt; a test runs the real step through them.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt_core_version.__version__)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def dbt_cli() -> DbtCliResource:
    return BillingDbtCli(project_dir=dbt_project, dbt_executable=str(DBT_EXECUTABLE))


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """The parsed manifest Dagster builds the dbt assets from: parsed now if missing (a fresh
    checkout, CI) or older than a file of the project (a pulled model would otherwise be unknown
    to Dagster when dbt reports it), and on every load under `dagster dev`/`dg`."""
    if project.preparer.using_dagster_dev() or manifest_is_stale(project.project_dir, project.manifest_path):
        dbt_cli().cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project.manifest_path


PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "models/**/*", "macros/**/*")


def manifest_is_stale(project_dir: Path, manifest: Path) -> bool:
    """True when the manifest is missing or a project file changed after it was written."""
    if not manifest.exists():
        return True
    written = manifest.stat().st_mtime
    return any(path.stat().st_mtime > written for pattern in PROJECT_FILES for path in project_dir.glob(pattern))


def cached_parse(warehouse: str, vars_args: list[str]) -> Path:
    """Where the partial parse of invocations against `warehouse` (`Warehouse.identity`: the
    DuckDB file, or the server and database) with `vars_args` is kept."""
    key = "\0".join([warehouse, *vars_args])
    return PARSE_CACHE_DIR / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.msgpack"


@contextmanager
def warm_target(name: str, cached: Path) -> Iterator[Path]:
    """A fresh target folder for one dbt invocation, holding the partial parse kept at `cached`
    (if any); afterwards the parse dbt wrote there is kept at `cached` for the next invocation."""
    target = TARGET_DIR / f"{name}-{uuid.uuid4().hex[:7]}"
    target.mkdir(parents=True)
    try:
        shutil.copyfile(cached, target / PARTIAL_PARSE)
    except FileNotFoundError:
        pass  # first invocation with this key (or pruned meanwhile): dbt parses in full
    try:
        yield target
    finally:
        keep_parse(target / PARTIAL_PARSE, cached)


def keep_parse(written: Path, cached: Path, kept: int = PARSES_KEPT) -> None:
    """Keep `written` at `cached` (atomically: a concurrent run reads either file whole), and
    only the `kept` most recent parses."""
    if not written.exists():
        return
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f"{cached.name}.{uuid.uuid4().hex[:7]}.tmp")
    shutil.copyfile(written, partial)
    os.replace(partial, cached)
    for stale in sorted(cached.parent.glob("*.msgpack"), key=_newest_first)[kept:]:
        stale.unlink(missing_ok=True)


def _newest_first(path: Path) -> float:
    try:
        return -path.stat().st_mtime
    except FileNotFoundError:  # pruned by a concurrent run
        return 0.0
