"""Every file dropped into a landing inbox folder is accepted or rejected with a reason; none
waits there forever unexplained (issue 10). Hidden files and copies still in progress are left
alone."""

import gzip
from datetime import UTC, datetime

from billing_pipelines.defs.landing.archive import ARCHIVE, REJECTED, accept_inbox, inbox_files, landed_files
from billing_pipelines.defs.landing.csv_reader import parse_landing_csv
from billing_pipelines_tests.event_times import TEST_EVENT_TIMES
from billing_pipelines_tests.landing.conftest import HEADER

NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)
CSV_EXPECTED = "expected a .csv file (text, comma-separated, UTF-8)"


def usage_body(event_id: str) -> bytes:
    """One valid usage row; a distinct id per file, so no two files share a digest."""
    return f"{event_id},C,m,1,2026-09-01T10:00:00Z,{{}}\n".encode()


def waiting(root) -> list[str]:
    """What is still in the usage inbox (files only, any depth)."""
    inbox = root / "usage_events"
    return sorted(path.relative_to(inbox).as_posix() for path in inbox.rglob("*") if path.is_file())


def test_every_probe_name_is_accepted_or_rejected_with_its_reason(tmp_path, write_usage_csv):
    root = tmp_path / "landing"
    for number, name in enumerate(["UPPER.CSV", "mixed.Csv", "sub/nested.csv", "my usage file.csv"]):
        write_usage_csv(name, usage_body(f"ok{number}"))
    for number, name in enumerate(["tabbed.tsv", "noext", "data.txt", "trailing.csv "]):
        write_usage_csv(name, usage_body(f"bad{number}"))
    (root / "usage_events" / "zipped.csv.gz").write_bytes(gzip.compress(HEADER + usage_body("gz")))

    landed = {record.name: record for record in accept_inbox(root, NOW, TEST_EVENT_TIMES)}

    assert {name: record.reason for name, record in landed.items()} == {
        "UPPER.CSV": None,
        "mixed.Csv": None,
        "sub/nested.csv": None,
        "my usage file.csv": None,
        "tabbed.tsv": f"unsupported file type '.tsv': {CSV_EXPECTED}",
        "noext": f"unsupported file type (no extension): {CSV_EXPECTED}",
        "data.txt": f"unsupported file type '.txt': {CSV_EXPECTED}",
        "trailing.csv ": f"unsupported file name 'trailing.csv ': it ends in whitespace; {CSV_EXPECTED}",
        "zipped.csv.gz": "compressed file '.gz': compressed files are not read; decompress it first and drop the .csv file",
    }
    assert waiting(root) == []
    assert {record.name for record in landed_files(root, ARCHIVE)} == {
        "UPPER.CSV",
        "mixed.Csv",
        "sub/nested.csv",
        "my usage file.csv",
    }
    rejected = landed_files(root, REJECTED, "usage_events")
    assert {record.name for record in rejected} == {"tabbed.tsv", "noext", "data.txt", "trailing.csv ", "zipped.csv.gz"}
    assert all((root / record.stored_as).is_file() for record in landed.values())


def test_a_csv_in_a_subfolder_is_named_by_its_path_under_the_dataset_folder(tmp_path, write_usage_csv):
    root = tmp_path / "landing"
    write_usage_csv("2026/11/a.csv", usage_body("e1"))
    [landed] = accept_inbox(root, NOW, TEST_EVENT_TIMES)
    assert (landed.name, landed.reason) == ("2026/11/a.csv", None)
    assert landed.stored_as == f"{ARCHIVE}/usage_events/{landed.digest}__a.csv"
    rows = parse_landing_csv(root / landed.stored_as, "usage_events", landed.origin)
    assert rows.column("_file").to_pylist() == ["2026/11/a.csv"]  # what the quarantine's location names
    assert waiting(root) == []


def test_hidden_files_and_copies_in_progress_are_left_alone(tmp_path, write_usage_csv):
    root = tmp_path / "landing"
    left = [".hidden.csv", ".DS_Store", "copy.csv.part", "export.csv.tmp", "backup.csv~", "~$sheet.csv", ".git/x.csv"]
    for number, name in enumerate(left):
        write_usage_csv(name, usage_body(f"e{number}"))
    assert accept_inbox(root, NOW, TEST_EVENT_TIMES) == []
    assert waiting(root) == sorted(left)
    assert landed_files(root, ARCHIVE) == landed_files(root, REJECTED) == []


def test_only_the_dataset_folders_are_inboxes(tmp_path, write_usage_csv):
    """The push API's spool, the archive, rejected files, outcomes and source-change markers
    live beside the dataset folders and are never taken for drops."""
    root = tmp_path / "landing"
    write_usage_csv("a.csv", usage_body("e1"))
    [landed] = accept_inbox(root, NOW, TEST_EVENT_TIMES)
    write_usage_csv("b.tsv", usage_body("e2"))
    [rejected] = accept_inbox(root, NOW, TEST_EVENT_TIMES)
    for side in [".spool/host-1/usage_events/api-1.csv", "outcomes/0123456789abcdef.json", ".source_changes/s.json"]:
        (root / side).parent.mkdir(parents=True, exist_ok=True)
        (root / side).write_bytes(HEADER + usage_body("e3"))
    assert inbox_files(root) == []
    assert accept_inbox(root, NOW, TEST_EVENT_TIMES) == []
    assert landed_files(root, ARCHIVE) == [landed] and landed_files(root, REJECTED) == [rejected]


def test_a_file_rejected_for_its_name_is_read_once_renamed(tmp_path, write_usage_csv):
    """The reason says to drop a .csv file: the same bytes under that name are read, not
    discarded as seen before (the first drop was never read)."""
    root = tmp_path / "landing"
    body = usage_body("e1")
    write_usage_csv("usage.tsv", body)
    [rejected] = accept_inbox(root, NOW, TEST_EVENT_TIMES)
    assert rejected.reason.startswith("unsupported file type '.tsv'")
    write_usage_csv("usage.csv", body)
    [accepted] = accept_inbox(root, NOW, TEST_EVENT_TIMES)
    assert (accepted.name, accepted.reason, accepted.digest) == ("usage.csv", None, rejected.digest)
    write_usage_csv("usage again.tsv", body)
    assert accept_inbox(root, NOW, TEST_EVENT_TIMES) == []  # the content is archived: a copy under any name is removed
    assert waiting(root) == []


def test_a_dropped_json_file_is_not_taken_for_a_record(tmp_path, write_usage_csv):
    root = tmp_path / "landing"
    write_usage_csv("data.json", usage_body("e1"))
    [rejected] = accept_inbox(root, NOW, TEST_EVENT_TIMES)
    assert rejected.reason == f"unsupported file type '.json': {CSV_EXPECTED}"
    assert rejected.stored_as.endswith("__data.json.dropped")
    assert landed_files(root, REJECTED) == [rejected]
