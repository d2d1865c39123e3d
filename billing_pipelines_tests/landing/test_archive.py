"""The landing zone on disk: accepted files are archived with a record, never deleted."""

from datetime import UTC, date, datetime

from billing_pipelines.defs.landing import archive
from billing_pipelines.defs.landing.archive import (
    ARCHIVE,
    REJECTED,
    accept_inbox,
    landed_files,
)
from billing_pipelines.lib.windows import Window
from billing_pipelines_tests.event_times import TEST_EVENT_TIMES

NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)


def test_accepted_file_moves_to_archive_with_its_event_days(tmp_path, write_usage_csv):
    root = tmp_path / "landing"
    write_usage_csv("a.csv", b"e1,C,m,1,2026-09-01T10:00:00Z,{}\ne2,C,m,1,2026-09-03T10:00:00Z,{}\n")
    [landed] = accept_inbox(root, NOW, TEST_EVENT_TIMES)
    assert landed.reason is None and landed.event_days == (date(2026, 9, 1), date(2026, 9, 3))
    assert not (root / "usage_events" / "a.csv").exists()
    assert (root / landed.stored_as).read_bytes().startswith(b"event_id,")
    assert landed_files(root, ARCHIVE, "usage_events") == [landed]
    assert landed.touches(Window.for_days(date(2026, 9, 3), date(2026, 9, 3)))
    assert not landed.touches(Window.for_days(date(2026, 9, 2), date(2026, 9, 2)))


def test_the_same_content_dropped_twice_is_archived_once(tmp_path, write_usage_csv):
    root = tmp_path / "landing"
    body = b"e1,C,m,1,2026-09-01T10:00:00Z,{}\n"
    write_usage_csv("a.csv", body)
    assert len(accept_inbox(root, NOW, TEST_EVENT_TIMES)) == 1
    write_usage_csv("a_again.csv", body)
    assert accept_inbox(root, NOW, TEST_EVENT_TIMES) == []
    assert not (root / "usage_events" / "a_again.csv").exists()
    assert len(landed_files(root, ARCHIVE)) == 1


def test_unusable_files_are_kept_under_rejected_with_the_reason(tmp_path, write_usage_csv):
    root = tmp_path / "landing"
    write_usage_csv("stripe.csv", b"ch_1,100,2026-09-01,cus_1\n", header=b"id,amount,created,customer\n")
    [rejected] = accept_inbox(root, NOW, TEST_EVENT_TIMES)
    assert rejected.reason.startswith("unknown column set: expected ['event_id'")
    assert landed_files(root, REJECTED) == [rejected]
    assert (root / rejected.stored_as).exists()
    assert landed_files(root, ARCHIVE) == []


def test_only_days_within_the_event_time_range_are_a_files_partitions(tmp_path, write_usage_csv):
    root = tmp_path / "landing"
    write_usage_csv(
        "mixed.csv",
        b"e1,C,m,1,2026-07-31T23:59:59Z,{}\n"  # before history_start 2026-08-01
        b"e2,C,m,1,2026-08-01T00:00:00Z,{}\n"  # its first instant
        b"e3,C,m,1,2026-11-27T10:00:00Z,{}\n"  # an hour after arrival (09:00): the tolerance
        b"e4,C,m,1,2026-11-27T10:00:01Z,{}\n"  # past it
        b"e5,C,m,1,2031-05-05T00:00:00Z,{}\n",
    )
    [landed] = accept_inbox(root, NOW, TEST_EVENT_TIMES)
    assert landed.reason is None and landed.event_days == (date(2026, 8, 1), date(2026, 11, 27))


def test_a_file_with_no_event_in_range_is_loaded_with_the_run_of_its_arrival_day(tmp_path, write_usage_csv):
    # every row is quarantined with its reason by that run, rather than the file waiting forever
    root = tmp_path / "landing"
    write_usage_csv("no_times.csv", b"e1,C,m,1,soon,{}\ne2,C,m,1,2020-01-01T00:00:00Z,{}\n")
    [landed] = accept_inbox(root, NOW, TEST_EVENT_TIMES)
    assert landed.reason is None and landed.event_days == (NOW.date(),)
    assert landed_files(root, ARCHIVE) == [landed]


def test_a_file_still_being_written_is_left_for_a_later_tick(tmp_path, write_usage_csv, monkeypatch):
    root = tmp_path / "landing"
    path = write_usage_csv("big.csv", b"e1,C,m,1,2026-09-01T10:00:00Z,{}\n")
    read = archive.parse_landing_csv

    def read_while_the_copy_goes_on(*args, **kwargs):
        rows = read(*args, **kwargs)
        with path.open("ab") as copy:  # the rest of the file arrives while the first part is read
            copy.write(b"e2,C,m,1,2026-09-05T10:00:00Z,{}\n")
        return rows

    monkeypatch.setattr(archive, "parse_landing_csv", read_while_the_copy_goes_on)
    assert accept_inbox(root, NOW, TEST_EVENT_TIMES) == []
    assert path.exists() and landed_files(root, ARCHIVE) == []
    monkeypatch.setattr(archive, "parse_landing_csv", read)
    [landed] = accept_inbox(root, NOW, TEST_EVENT_TIMES)  # the copy is complete: all of it, every day
    assert landed.event_days == (date(2026, 9, 1), date(2026, 9, 5))
