"""The landing sensor: new files launch runs for exactly the days they touch."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from billing_pipelines.config import parse_config
from billing_pipelines.defs.landing import archive
from billing_pipelines.defs.landing.archive import LandedFile
from billing_pipelines.defs.landing.sensors import LANDING_STATE_JOB, LANDING_USAGE_JOB, landing_sensor, plan_runs

NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)
HISTORY_START = date(2026, 8, 1)


def usage_file(digest: str, *days: date) -> LandedFile:
    return LandedFile("usage_events", f"{digest}.csv", digest, NOW, f"archive/usage_events/{digest}", days)


def test_a_late_file_reruns_only_its_old_day():
    [request] = plan_runs([usage_file("late", date(2026, 9, 2))], HISTORY_START)
    assert request.job_name == LANDING_USAGE_JOB
    assert request.partition_key_range == dg.PartitionKeyRange("2026-09-02", "2026-09-02")


def test_days_of_several_files_merge_into_consecutive_ranges_with_stable_keys():
    files = [usage_file("a", date(2026, 9, 1), date(2026, 9, 2)), usage_file("b", date(2026, 9, 3), date(2026, 9, 9))]
    requests = plan_runs(files, HISTORY_START)
    assert [r.partition_key_range for r in requests] == [
        dg.PartitionKeyRange("2026-09-01", "2026-09-03"),
        dg.PartitionKeyRange("2026-09-09", "2026-09-09"),
    ]
    assert [r.run_key for r in plan_runs(list(reversed(files)), HISTORY_START)] == [r.run_key for r in requests]


def test_no_run_asks_for_a_day_before_history_start():
    # a file archived before history_start was moved later: its other days still run
    [request] = plan_runs([usage_file("old", date(2026, 7, 30), date(2026, 7, 31), date(2026, 8, 1))], HISTORY_START)
    assert request.partition_key_range == dg.PartitionKeyRange("2026-08-01", "2026-08-01")
    assert plan_runs([usage_file("older", date(2026, 7, 31))], HISTORY_START) == []


def test_state_and_rejected_files_launch_one_state_run():
    customers = LandedFile("customers", "c.csv", "c1", NOW, "archive/customers/c1")
    rejected = LandedFile("usage_events", "x.csv", "x1", NOW, "rejected/usage_events/x1", reason="unknown column set")
    [request] = plan_runs([customers, rejected], HISTORY_START)
    assert request.job_name == LANDING_STATE_JOB and request.partition_key_range is None


def test_sensor_accepts_inbox_files_and_advances_its_cursor(tmp_path, write_usage_csv):
    config = parse_config(f'history_start: "2026-08-01"\nlanding: {{path: "{tmp_path / "landing"}"}}\n')
    sensor = landing_sensor(
        config, jobs=[dg.define_asset_job(LANDING_USAGE_JOB), dg.define_asset_job(LANDING_STATE_JOB)]
    )
    write_usage_csv("late.csv", b"e1,C,m,1,2026-09-02T10:00:00Z,{}\n")

    first = sensor.evaluate_tick(dg.build_sensor_context())
    [request] = first.run_requests
    assert request.partition_key_range == dg.PartitionKeyRange("2026-09-02", "2026-09-02")
    assert datetime.fromisoformat(first.cursor) > NOW - timedelta(days=1)

    second = sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor))
    assert second.run_requests == [] and "no new files" in second.skip_message


def test_a_file_archived_by_a_first_tick_that_failed_is_run_by_the_next(tmp_path, write_usage_csv, monkeypatch):
    config = parse_config(f'history_start: "2026-08-01"\nlanding: {{path: "{tmp_path / "landing"}"}}\n')
    sensor = landing_sensor(
        config, jobs=[dg.define_asset_job(LANDING_USAGE_JOB), dg.define_asset_job(LANDING_STATE_JOB)]
    )
    write_usage_csv("a.csv", b"e1,C,m,1,2026-09-02T10:00:00Z,{}\n")
    write_usage_csv("b.csv", b"e2,C,m,1,2026-09-03T10:00:00Z,{}\n")
    store = archive.store

    def disk_full_after_the_first(path, target, landed):
        if path.name == "b.csv":
            raise OSError(28, "No space left on device")
        store(path, target, landed)

    monkeypatch.setattr(archive, "store", disk_full_after_the_first)
    with pytest.raises(Exception, match="No space left"):
        sensor.evaluate_tick(dg.build_sensor_context())  # a.csv archived, then the tick fails
    monkeypatch.setattr(archive, "store", store)
    tick = sensor.evaluate_tick(dg.build_sensor_context())  # still no cursor
    assert [r.partition_key_range for r in tick.run_requests] == [dg.PartitionKeyRange("2026-09-02", "2026-09-03")]
