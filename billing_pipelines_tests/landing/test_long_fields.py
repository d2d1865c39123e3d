"""A line over DuckDB's maximum line size costs only that line (issue 10): the other rows of
the file are parsed with their own line numbers, and the long one reaches the quarantine with
a reason and a bounded excerpt instead of rejecting the whole file."""

from datetime import UTC, datetime

import duckdb
import pytest

from billing_pipelines.defs.landing.csv_reader import (
    RAW_LINE_CHARACTERS,
    FileOrigin,
    RejectedFile,
    parse_landing_csv,
    reject_reason,
    unreadable_reason,
)

ORIGIN = FileOrigin("long.csv", "0123456789abcdef", datetime(2026, 11, 27, 9, tzinfo=UTC))
LONG_ROW = b'long,CUS-9,api_calls,1,2026-09-01T10:00:00Z,"{""blob"": ""' + b"x" * 3_000_000 + b'""}"\n'
GOOD_ROWS = [
    b"e1,CUS-1,api_calls,3,2026-09-01T10:00:00Z,{}\n",
    b"e2,CUS-2,api_calls,4,2026-09-02T10:00:00Z,{}\n",
]
TOO_LONG = "line too long: more than 2,000,000 bytes"


@pytest.mark.parametrize("position", [0, 1, 2], ids=["first", "middle", "last"])
def test_a_line_over_the_maximum_size_costs_only_that_line(write_usage_csv, position):
    body = [*GOOD_ROWS]
    body.insert(position, LONG_ROW)
    table = parse_landing_csv(write_usage_csv("long.csv", b"".join(body)), "usage_events", ORIGIN)

    rows = {row["_line"]: row for row in table.to_pylist()}
    long_line = 2 + position
    assert sorted(rows) == [2, 3, 4]
    good = [rows[line] for line in sorted(rows) if line != long_line]
    assert [(row["event_id"], row["customer_external_id"], row["_parse_error"]) for row in good] == [
        ("e1", "CUS-1", None),
        ("e2", "CUS-2", None),
    ]
    long = rows[long_line]
    assert long["_parse_error"] == TOO_LONG
    assert long["event_id"] is None and long["properties"] is None
    assert long["_raw_line"].startswith("long,CUS-9,api_calls,1,")
    assert len(long["_raw_line"]) == RAW_LINE_CHARACTERS


def test_a_long_line_without_a_final_newline_is_still_its_own_row(write_usage_csv):
    path = write_usage_csv("long.csv", b"".join(GOOD_ROWS) + LONG_ROW.rstrip(b"\n"))
    rows = parse_landing_csv(path, "usage_events", ORIGIN).to_pylist()
    assert [(row["_line"], row["event_id"], row["_parse_error"]) for row in rows] == [
        (2, "e1", None),
        (3, "e2", None),
        (4, None, TOO_LONG),
    ]


def test_fields_longer_than_pythons_csv_limit_but_under_duckdbs_are_kept(write_usage_csv):
    wide = b"y" * 500_000  # over the csv module's default field limit (131,072 characters)
    path = write_usage_csv("wide.csv", GOOD_ROWS[0] + b"e3,CUS-3,api_calls,1,2026-09-01T10:00:00Z," + wide + b"\n")
    rows = parse_landing_csv(path, "usage_events", ORIGIN).to_pylist()
    assert [(row["_line"], row["event_id"], row["_parse_error"]) for row in rows] == [
        (2, "e1", None),
        (3, "e3", None),
    ]
    assert len(rows[1]["properties"]) == len(wide)


def test_a_quote_never_closed_rejects_the_file_rather_than_losing_its_rows(write_usage_csv):
    path = write_usage_csv("open.csv", GOOD_ROWS[0] + b'e3,CUS-3,api_calls,1,2026-09-01T10:00:00Z,"{\n' + GOOD_ROWS[1])
    with pytest.raises(RejectedFile, match=r"unreadable file: only 1 of 2 records could be read"):
        parse_landing_csv(path, "usage_events", ORIGIN)


def test_line_size_reason_comes_from_duckdbs_limit():
    message = "Maximum line size of 2000000 bytes exceeded. Actual Size:3000011 bytes."
    assert reject_reason("LINE SIZE OVER MAXIMUM", message) == TOO_LONG
    assert reject_reason("LINE SIZE OVER MAXIMUM", "") == "line too long"


def test_whole_file_reason_keeps_the_cause_but_not_the_file_content():
    error = duckdb.InvalidInputException(
        "Invalid Input Error: CSV Error on Line: 1\n"
        "Original Line: e2,C,m,1,t," + "x" * 3_000_000 + "\n"
        "Maximum line size of 2000000 bytes exceeded. Actual Size:3000011 bytes.\n"
        "Possible Solution: Change the maximum length size, e.g., max_line_size=3000014\n"
        "\n"
        "  file = long.csv\n"
    )
    assert unreadable_reason(error) == (
        "unreadable file: Invalid Input Error: CSV Error on Line: 1; "
        "Maximum line size of 2000000 bytes exceeded. Actual Size:3000011 bytes."
    )
    assert len(unreadable_reason(duckdb.InvalidInputException("y" * 10_000))) < 600
