"""The landing zone on disk: accepted files are archived with a record, never deleted."""

from datetime import UTC, date, datetime

from billing_pipelines.defs.landing.archive import (
    ARCHIVE,
    REJECTED,
    accept_inbox,
    landed_files,
)
from billing_pipelines.lib.windows import Window

NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)


def test_accepted_file_moves_to_archive_with_its_event_days(tmp_path, write_usage_csv):
    root = tmp_path / "landing"
    write_usage_csv("a.csv", b"e1,C,m,1,2026-09-01T10:00:00Z,{}\ne2,C,m,1,2026-09-03T10:00:00Z,{}\n")
    [landed] = accept_inbox(root, NOW)
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
    assert len(accept_inbox(root, NOW)) == 1
    write_usage_csv("a_again.csv", body)
    assert accept_inbox(root, NOW) == []
    assert not (root / "usage_events" / "a_again.csv").exists()
    assert len(landed_files(root, ARCHIVE)) == 1


def test_unusable_files_are_kept_under_rejected_with_the_reason(tmp_path, write_usage_csv):
    root = tmp_path / "landing"
    write_usage_csv("stripe.csv", b"ch_1,100,2026-09-01,cus_1\n", header=b"id,amount,created,customer\n")
    write_usage_csv("no_times.csv", b"e1,C,m,1,soon,{}\n")
    rejected = {f.name: f for f in accept_inbox(root, NOW)}
    assert rejected["stripe.csv"].reason.startswith("unknown column set: expected ['event_id'")
    assert rejected["no_times.csv"].reason == "unreadable file: no row has a parsable event_timestamp"
    assert {f.name for f in landed_files(root, REJECTED)} == {"stripe.csv", "no_times.csv"}
    assert all((root / f.stored_as).exists() for f in rejected.values())
    assert landed_files(root, ARCHIVE) == []
