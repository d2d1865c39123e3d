"""The dbt step, run by Dagster with a stand-in for the dbt CLI: one `dbt build` per run, given
the run's partition window (or none), starting from the partial parse its last twin left.

All dbt models are one multi-asset; which of them are daily-partitioned is read from the
project's manifest (the tag `partitioned`), never from a list kept here.
"""

import json
import os
from datetime import date

import dagster as dg
import pytest
from dagster_dbt import DbtCliResource

from billing_pipelines.config import parse_config
from billing_pipelines.defs.dbt import project
from billing_pipelines.defs.dbt.assets import dbt_definitions
from billing_pipelines.defs.dbt.project import (
    DBT_EXECUTABLE,
    PARTIAL_PARSE,
    dbt_project,
    ensure_manifest,
    keep_parse,
    manifest_is_stale,
)
from billing_pipelines.lib.runs import partition_range_tags
from billing_pipelines.lib.warehouse import Warehouse
from billing_pipelines.lib.windows import usage_partitions

CONFIG = parse_config('history_start: "2026-08-01"\n')
CUSTOMERS = dg.AssetKey(["billing", "customers"])

Invocation = tuple[list[str], str | None]
INVOCATIONS: list[Invocation] = []


class Finished:
    """A finished dbt invocation with nothing to report (every dbt output is skippable)."""

    def stream(self):
        return iter(())

    def wait(self):
        return self


class RecordingDbt(DbtCliResource):
    """Records each invocation's arguments and the partial parse it found in its target folder,
    and leaves a new parse there, as dbt does."""

    def cli(self, args, *, target_path=None, **kwargs):
        parse = target_path / PARTIAL_PARSE
        INVOCATIONS.append((list(args), parse.read_text() if parse.exists() else None))
        parse.write_text(f"parse for {' '.join(args)}")
        return Finished()


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest().read_text())


def dbt_steps() -> list[dg.AssetsDefinition]:
    """The dbt step(s) of the definitions (their other assets: raw tables nothing loads)."""
    return [a for a in dbt_definitions(CONFIG).assets if isinstance(a, dg.AssetsDefinition)]


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Materialize the dbt models (or a selection of them) on an empty warehouse; returns the
    dbt invocations the run made."""
    monkeypatch.setattr(project, "TARGET_DIR", tmp_path / "target")
    monkeypatch.setattr(project, "PARSE_CACHE_DIR", tmp_path / "target" / "partial_parses")
    [dbt_models] = dbt_steps()
    resources = {
        "dbt": RecordingDbt(project_dir=dbt_project, dbt_executable=str(DBT_EXECUTABLE)),
        "warehouse": Warehouse(path=str(tmp_path / "warehouse.duckdb")),
    }

    def materialize(selection=None, tags=None) -> list[Invocation]:
        INVOCATIONS.clear()
        assert dg.materialize([dbt_models], resources=resources, selection=selection, tags=tags).success
        return list(INVOCATIONS)

    return materialize


RANGE_VARS = {"history_start": "2026-08-01", "future_tolerance_minutes": 60.0}


def window_vars(first: str, end: str) -> list[str]:
    window = {"min_date": f"{first}T00:00:00+00:00", "max_date": f"{end}T00:00:00+00:00"}
    return ["--vars", json.dumps(RANGE_VARS | window)]


def test_all_models_are_one_multi_asset_partitioned_as_the_project_tags_them(manifest):
    [dbt_models] = dbt_steps()
    tagged = {
        dg.AssetKey([node["schema"], node["name"]]): "partitioned" in node["tags"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    assert set(tagged.values()) == {True, False}, "the project has partitioned and unpartitioned models"
    assert set(dbt_models.keys) == set(tagged)
    for key, partitioned in tagged.items():
        expected = usage_partitions(CONFIG.history_start) if partitioned else None
        assert dbt_models.specs_by_key[key].partitions_def == expected, key.to_user_string()


def test_a_partition_range_is_one_build_over_its_window(run):
    invocations = run(tags=partition_range_tags(date(2026, 9, 1), date(2026, 9, 2)))
    assert [args for args, _ in invocations] == [["build", *window_vars("2026-09-01", "2026-09-03")]]


def test_a_single_partition_is_a_build_over_its_day(run):
    invocations = run(tags={"dagster/partition": "2026-09-05"})
    assert [args for args, _ in invocations] == [["build", *window_vars("2026-09-05", "2026-09-06")]]


def test_an_unpartitioned_run_passes_no_window_and_builds_in_the_same_build_what_a_fresh_warehouse_lacks(run, manifest):
    [(build, _)] = run(selection=[CUSTOMERS])
    parents = {
        manifest["nodes"][uid]["name"]
        for uid in manifest["parent_map"]["model.billing_pipelines.customers"]
        if uid.startswith("model.")
    }
    assert build[:4] == ["build", "--vars", json.dumps(RANGE_VARS), "--select"]  # the event-time range, no window
    assert parents <= set(build[4].split()) and "customers" not in build[4].split()


def test_a_partitioned_run_building_only_unpartitioned_models_passes_no_window(run):
    [(build, _)] = run(selection=[CUSTOMERS], tags={"dagster/partition": "2026-09-05"})
    assert build[:3] == ["build", "--vars", json.dumps(RANGE_VARS)]


def test_each_invocation_starts_from_the_parse_its_last_twin_left(run):
    day = partition_range_tags(date(2026, 9, 5), date(2026, 9, 5))
    [(_, first)] = run(tags=day)
    [(args, again)] = run(tags=day)
    [(_, other_day)] = run(tags=partition_range_tags(date(2026, 9, 6), date(2026, 9, 6)))
    assert first is None and other_day is None
    assert again == f"parse for {' '.join(args)}"


def test_only_the_most_recent_parses_are_kept(tmp_path):
    cache = tmp_path / "partial_parses"
    cache.mkdir()
    for age, name in enumerate(["newer", "older", "oldest"], start=1):
        (cache / f"{name}.msgpack").write_text(name)
        os.utime(cache / f"{name}.msgpack", (1_000_000 - age, 1_000_000 - age))
    written = tmp_path / PARTIAL_PARSE
    written.write_text("fresh")
    keep_parse(written, cache / "fresh.msgpack", kept=2)
    assert {path.name: path.read_text() for path in cache.iterdir()} == {
        "fresh.msgpack": "fresh",
        "newer.msgpack": "newer",
    }


def test_the_manifest_is_parsed_again_when_a_project_file_is_newer(tmp_path):
    (tmp_path / "models" / "staging").mkdir(parents=True)
    model = tmp_path / "models" / "staging" / "stg_new__usage_events.sql"
    manifest = tmp_path / "target" / "manifest.json"
    assert manifest_is_stale(tmp_path, manifest)  # never parsed
    model.write_text("select 1")
    manifest.parent.mkdir()
    manifest.write_text("{}")
    os.utime(model, (1_000_000, 1_000_000))
    assert not manifest_is_stale(tmp_path, manifest)
    os.utime(model, None)  # pulled or edited after the last parse
    os.utime(manifest, (1_000_000, 1_000_000))
    assert manifest_is_stale(tmp_path, manifest)
