"""Carry what the API landed into the warehouse as a deployment does: the landing sensor's
tick accepts the inbox files and plans runs; each planned run executes in process."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from billing_pipelines.config import current_config
from billing_pipelines.definitions import build_definitions
from billing_pipelines.lib.runs import failure_messages, run_days


@contextmanager
def configured(config_path: Path):
    """This process reads `config_path` (every BILLING_* variable of the shell set aside)."""
    saved = dict(os.environ)
    for name in [name for name in os.environ if name.startswith("BILLING_")]:
        del os.environ[name]
    os.environ["BILLING_CONFIG"] = str(config_path)
    current_config.cache_clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        current_config.cache_clear()


def carry_landing(config_path: Path, instance: dg.DagsterInstance | None = None) -> list[dg.RunRequest]:
    """One landing-sensor tick, every run it asks for, then one tick of the outcome sensor
    (what the upload status reports); returns the landing sensor's requests."""
    with configured(config_path):
        defs = build_definitions()
        instance = instance or dg.DagsterInstance.ephemeral()
        outcomes = defs.resolve_sensor_def("landing_upload_outcomes")
        # its first tick starts after the runs finished so far, as when the daemon turns it on
        before = outcomes.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        sensor = defs.resolve_sensor_def("landing_files")
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        for request in tick.run_requests:
            key_range = request.partition_key_range
            first, last = (
                (date.fromisoformat(key_range.start), date.fromisoformat(key_range.end)) if key_range else (None, None)
            )
            result = run_days(defs, request.job_name, first, last, instance)
            assert result.success, failure_messages(result)
        context = dg.build_sensor_context(instance=instance, definitions=defs, cursor=before.cursor)
        outcomes.evaluate_tick(context)
        return list(tick.run_requests)


def warehouse_rows(config_path: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(config_path.parent / "warehouse.duckdb"), read_only=True) as warehouse:
        return warehouse.execute(sql, list(params)).fetchall()
