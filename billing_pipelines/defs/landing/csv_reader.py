"""Parsing a landing CSV file into Arrow with DuckDB, keeping every line accounted for.

DuckDB's reader does the parsing (never a Python row loop). Rows it cannot split (wrong
number of fields, bytes that are not UTF-8) come back from its reject store and are kept as
rows with `_parse_error` and `_raw_line`, so they reach the quarantine with file and line.
The reader is told the file's own (validated) header instead of sniffing the format, so one
bad row, such as a line over DuckDB's maximum line size, costs only that row. A file whose
header is not one of the known column sets, or that cannot be read at all, is rejected whole.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from billing_pipelines.defs.landing.columns import LANDING_COLUMNS
from billing_pipelines.lib.event_dates import distinct_days, with_event_dates
from billing_pipelines.lib.event_time_range import EventTimeRange

RAW_LINE_CHARACTERS = 2_000
"""How much of an unsplittable line `_raw_line` keeps (the bound `extract.PAYLOAD_CHARACTERS`
puts on a rejected file's payload): enough to find the row, never a multi-megabyte value."""
MESSAGE_CHARACTERS = 500
"""How much of DuckDB's explanation a whole-file rejection keeps."""


class RejectedFile(ValueError):
    """The whole file is unusable; the message says why, for `raw_landing.rejected_files`."""


@dataclass(frozen=True)
class FileOrigin:
    """Where rows came from: the file as the user named it, its content digest, its arrival."""

    name: str
    digest: str
    received_at: datetime


def read_header(data: bytes) -> list[str]:
    """The column names on the first line of a CSV file (a UTF-8 byte-order mark is allowed)."""
    if not data.strip():
        raise RejectedFile("unreadable file: the file is empty")
    first_line = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RejectedFile("unreadable file: the header line is not UTF-8 text") from None
    try:
        return [name.strip() for name in next(csv.reader([text]))]
    except csv.Error as error:  # e.g. a line ending of a lone carriage return
        raise RejectedFile(f"unreadable file: the header line is not CSV ({error})") from None


def check_columns(dataset: str, header: list[str]) -> None:
    """A file must carry exactly the dataset's columns, in any order."""
    expected = LANDING_COLUMNS[dataset]
    if sorted(header) != sorted(expected) or len(set(header)) != len(header):
        raise RejectedFile(f"unknown column set: expected {list(expected)}, found {header}")


def record_start_lines(data: bytes) -> list[int]:
    """1-based line on which each data record starts (blank lines skipped, quoted newlines
    kept inside their record): the `line` a user looks up in their editor."""
    # A field may be as long as the file (DuckDB rejects lines over its limit, but they must
    # still be counted); only ever raise the module-wide limit, so concurrent callers agree.
    csv.field_size_limit(max(csv.field_size_limit(), len(data)))
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"), newline=""))
    next(reader, None)
    starts, previous_end = [], reader.line_num
    for record in reader:
        if record:
            starts.append(previous_end + 1)
        previous_end = reader.line_num
    return starts


def reject_reason(error_type: str, message: str) -> str:
    """The quarantine reason for a row DuckDB's reader could not split."""
    if error_type in ("TOO MANY COLUMNS", "MISSING COLUMNS"):
        counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
        if counts:
            return f"wrong column count: expected {counts[1]} columns, found {counts[2]}"
        return "wrong column count"
    if error_type == "INVALID ENCODING":
        return "invalid encoding: line is not valid UTF-8"
    if error_type == "LINE SIZE OVER MAXIMUM":
        limit = re.search(r"Maximum line size of (\d+) bytes", message)
        return f"line too long: more than {int(limit[1]):,} bytes" if limit else "line too long"
    return f"unparsable CSV row: {message.splitlines()[0] if message else error_type}"


def unreadable_reason(error: duckdb.Error) -> str:
    """The rejection reason for a file DuckDB could not read: its summary and cause lines,
    without the echoed file content (`Original Line`) or the list of reader options."""
    kept = []
    for line in str(error).splitlines():
        if not line.strip() or line.startswith("Possible"):
            break
        if not line.startswith("Original Line"):
            kept.append(line.strip())
    return f"unreadable file: {'; '.join(kept)[:MESSAGE_CHARACTERS]}"


def uniform_line_endings(data: bytes) -> bytes | None:
    """The file with every line ending a line feed, when its endings are mixed (LF and CRLF, a
    file edited on two systems) or old-Mac carriage returns ("CSV (Macintosh)" from Excel);
    None when they are all one kind already, LF or CRLF, which the reader takes as they are.
    Line numbers stay those an editor shows."""
    carriage_returns, pairs = data.count(b"\r"), data.count(b"\r\n")
    if carriage_returns == pairs and pairs in (0, data.count(b"\n")):
        return None
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def parse_landing_csv(path: Path, dataset: str, origin: FileOrigin) -> pa.Table:
    """All of the file's rows: parsed ones with their values as text, unsplittable ones with
    `_parse_error`; each with `_file`, `_file_digest`, `_line` and `_received_at`."""
    data = path.read_bytes()
    uniform = uniform_line_endings(data)
    if uniform is None:
        return _parse(path, data, dataset, origin)
    with tempfile.TemporaryDirectory(prefix="landing-") as folder:
        copy = Path(folder, "uniform.csv")
        copy.write_bytes(uniform)
        return _parse(copy, uniform, dataset, origin)


def _parse(path: Path, data: bytes, dataset: str, origin: FileOrigin) -> pa.Table:
    header = read_header(data)
    check_columns(dataset, header)
    columns = LANDING_COLUMNS[dataset]
    connection = duckdb.connect()
    try:
        rows = connection.sql(
            "SELECT * FROM read_csv(?, header = true, auto_detect = false, columns = ?, delim = ',',"
            " quote = '\"', escape = '\"', store_rejects = true, parallel = false, strict_mode = true)",
            params=[str(path), {name: "VARCHAR" for name in header}],
        ).to_arrow_table()
        rejects = connection.sql(
            "SELECT line, any_value(error_type) AS error_type, any_value(error_message) AS message,"
            " any_value(csv_line) AS csv_line FROM reject_errors GROUP BY line ORDER BY line"
        ).fetchall()
    except duckdb.Error as error:
        raise RejectedFile(unreadable_reason(error)) from None
    finally:
        connection.close()

    rows = rows.select([name for name in columns])
    rejected_lines = {line for line, *_ in rejects}
    starts = record_start_lines(data)
    if rows.num_rows + len(rejects) < len(starts):  # records vanished, e.g. a quote never closed
        raise RejectedFile(
            f"unreadable file: only {rows.num_rows + len(rejects)} of {len(starts)} records could be read"
            " (is a quoted value missing its closing quote?)"
        )
    good_lines = [line for line in starts if line not in rejected_lines]
    if len(good_lines) != rows.num_rows:  # the two readers disagree: number rows in file order
        good_lines = list(range(2, 2 + rows.num_rows))
    parsed = _with_origin(rows, origin, good_lines, [None] * rows.num_rows, [None] * rows.num_rows)
    unsplit = _with_origin(
        pa.table({name: pa.nulls(len(rejects), pa.string()) for name in columns}),
        origin,
        [line for line, *_ in rejects],
        [reject_reason(kind, message) for _, kind, message, _ in rejects],
        [csv_line[:RAW_LINE_CHARACTERS] if csv_line else csv_line for *_, csv_line in rejects],
    )
    combined = pa.concat_tables([parsed, unsplit])
    return combined.take(pc.sort_indices(combined, [("_line", "ascending")]))


def _with_origin(table: pa.Table, origin: FileOrigin, lines: list, errors: list, raw_lines: list) -> pa.Table:
    count = table.num_rows
    extra = {
        "_file": pa.array([origin.name] * count, pa.string()),
        "_file_digest": pa.array([origin.digest] * count, pa.string()),
        "_line": pa.array(lines, pa.int64()),
        "_received_at": pa.array([origin.received_at] * count, pa.timestamp("us", tz="UTC")),
        "_parse_error": pa.array(errors, pa.string()),
        "_raw_line": pa.array(raw_lines, pa.string()),
    }
    for name, values in extra.items():
        table = table.append_column(name, values)
    return table


def event_days(usage: pa.Table, in_range: EventTimeRange) -> list[date]:
    """The UTC days a usage file's parsable event timestamps within `in_range` fall on (its
    partitions), by the same rule the loader stores as `_event_date` and staging parses with."""
    return distinct_days([with_event_dates(usage, in_range=in_range)])
