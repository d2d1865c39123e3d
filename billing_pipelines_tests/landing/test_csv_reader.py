"""Landing CSV parsing: every line is accounted for, with file and line, nothing dropped."""

from datetime import UTC, date, datetime

import pytest

from billing_pipelines.defs.landing.csv_reader import (
    FileOrigin,
    RejectedFile,
    check_columns,
    event_days,
    parse_landing_csv,
    read_header,
    record_start_lines,
    reject_reason,
)
from billing_pipelines_tests.event_times import TEST_EVENT_TIMES

ORIGIN = FileOrigin("meter.csv", "0123456789abcdef", datetime(2026, 11, 27, 9, tzinfo=UTC))


def test_good_and_unsplittable_rows_keep_their_lines(write_usage_csv):
    path = write_usage_csv(
        "meter.csv",
        b'e1,CUS-1,api_calls,3,2026-09-01T10:00:00Z,"{""region"": ""eu""}"\n'
        b"e2,CUS-1,api_calls,4,2026-09-01T10:00:00Z,{},extra\n"
        b"e3,CUS-\xff2,api_calls,5,2026-09-02T10:00:00Z,{}\n"
        b"\n"
        b"e4,,api_calls,12abc,yesterday,{}\n"
        b"e5,CUS-3,api_calls,5,2026-09-02T10:00:00Z\n",
    )
    table = parse_landing_csv(path, "usage_events", ORIGIN)
    rows = {row["_line"]: row for row in table.to_pylist()}
    assert sorted(rows) == [2, 3, 4, 6, 7]
    assert rows[2]["event_id"] == "e1" and rows[2]["properties"] == '{"region": "eu"}'
    assert rows[2]["_parse_error"] is None and rows[2]["_file"] == "meter.csv"
    assert rows[3]["_parse_error"] == "wrong column count: expected 6 columns, found 7"
    assert rows[3]["_raw_line"].startswith("e2,CUS-1")
    assert rows[4]["_parse_error"] == "invalid encoding: line is not valid UTF-8"
    # A row whose values are bad but splittable is loaded as text: staging rejects it.
    assert (rows[6]["customer_external_id"], rows[6]["quantity"], rows[6]["_parse_error"]) == (None, "12abc", None)
    assert rows[7]["_parse_error"] == "wrong column count: expected 6 columns, found 5"
    assert all(row["_received_at"] == ORIGIN.received_at for row in rows.values())


def test_columns_may_come_in_any_order(write_usage_csv):
    path = write_usage_csv(
        "reordered.csv",
        b"CUS-1,e1,2,api_calls,2026-09-01T00:00:00Z,{}\n",
        header=b"customer_external_id,event_id,quantity,metric,event_timestamp,properties\n",
    )
    row = parse_landing_csv(path, "usage_events", ORIGIN).to_pylist()[0]
    assert (row["event_id"], row["customer_external_id"], row["quantity"]) == ("e1", "CUS-1", "2")


def test_unknown_column_set_rejects_the_whole_file():
    with pytest.raises(RejectedFile, match=r"unknown column set: expected \['event_id'.*found \['id', 'amount'\]"):
        check_columns("usage_events", ["id", "amount"])
    with pytest.raises(RejectedFile, match="unknown column set"):
        check_columns("usage_events", ["event_id", "event_id", "metric", "quantity", "event_timestamp", "properties"])


def test_empty_and_undecodable_headers_are_unreadable():
    with pytest.raises(RejectedFile, match="unreadable file: the file is empty"):
        read_header(b"  \n")
    with pytest.raises(RejectedFile, match="header line is not UTF-8"):
        read_header(b"\xff\xfe\x00e\x00v\n")
    assert read_header("\ufeffevent_id, metric\n".encode()) == ["event_id", "metric"]


def test_record_start_lines_follow_quoted_newlines_and_skip_blank_lines():
    data = b'h1,h2\na,1\n"multi\nline",2\n\nb,3\n'
    assert record_start_lines(data) == [2, 3, 6]


def test_reject_reasons_read_like_instructions():
    assert reject_reason("MISSING COLUMNS", "Expected Number of Columns: 6 Found: 5") == (
        "wrong column count: expected 6 columns, found 5"
    )
    assert reject_reason("UNQUOTED VALUE", "Value with unterminated quote\nmore") == (
        "unparsable CSV row: Value with unterminated quote"
    )


def test_event_days_are_utc_days_of_parsable_timestamps(write_usage_csv):
    path = write_usage_csv(
        "days.csv",
        b"e1,C,m,1,2026-09-01T23:30:00-02:00,{}\n"  # 01:30 UTC on the 2nd
        b"e2,C,m,1,2026-09-05 10:00:00,{}\n"
        b"e3,C,m,1,not a time,{}\n",
    )
    table = parse_landing_csv(path, "usage_events", ORIGIN)
    assert event_days(table, TEST_EVENT_TIMES) == [date(2026, 9, 2), date(2026, 9, 5)]


@pytest.mark.parametrize(
    ("name", "ending"),
    [("mixed", None), ("old Mac", b"\r")],
)
def test_mixed_and_carriage_return_line_endings_are_read_line_by_line(tmp_path, name, ending):
    lines = [
        b"event_id,customer_external_id,metric,quantity,event_timestamp,properties",
        b"e1,C,m,1,2026-09-01T10:00:00Z,{}",
        b"e2,C,m,2,2026-09-01T11:00:00Z,{}",
        b"e3,C,m,3,2026-09-01T12:00:00Z,{}",
    ]
    endings = [b"\r\n", b"\n", b"\r\n", b"\n"] if ending is None else [ending] * 4
    path = tmp_path / f"{name}.csv"
    path.write_bytes(b"".join(line + end for line, end in zip(lines, endings, strict=True)))
    rows = parse_landing_csv(path, "usage_events", ORIGIN)
    assert rows["event_id"].to_pylist() == ["e1", "e2", "e3"] and rows["_line"].to_pylist() == [2, 3, 4]
    assert rows["quantity"].to_pylist() == ["1", "2", "3"] and rows["_parse_error"].null_count == 3
