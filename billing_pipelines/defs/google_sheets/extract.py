"""Reading the billing team's Google Sheet: one tab per dataset (customers, contracts, contract
items, usage), headed by the columns of the landing zone's CSV templates.

The rows land the way a landing CSV's rows do, so the same staging definition reads them
(`file_lines()` delivery): every value as text (what the team sees in the cell, without the
sheet's formatting), empty cells as NULL, and where the row came from: `_file`
(`<spreadsheet id>/<tab>`), `_line` (the sheet's row number, the header being row 1, so a
quarantined row is found in the sheet at once) and `_received_at` (when the sync read it).

Cells are read unformatted, with dates as serial numbers, which is locale-independent (a
formatted read would give `15/01/2026` or `1/15/2026` depending on the sheet's locale): numbers
become text as a person writes them (`395`, `0.0004`), booleans `true`/`false`, and serial
numbers in the template's date columns (`*_date`) ISO days and in its time columns (`*_at`,
`*_timestamp`) ISO UTC times (the templates define those times as UTC; a date-time cell carries
no zone of its own). Text cells are kept exactly as written, so staging decides what is valid.

Sheets are small and the team edits and deletes rows freely, so each sync reads every tab whole
(one read per tab) and replaces its raw table: a row deleted from the sheet is gone from raw,
and from the canonical model, after the next sync. (Merging on a key would keep rows the team
deleted, and a sheet has no change feed to learn about deletions.)

The read quota (about 60 reads a minute per service account, answered with 429 and no
`Retry-After`) is survived by the client's backoff; when retries run out, the sync fails with
the client's error and loads nothing.

A configured source (billing.yaml) signs in with the service-account key JSON held by the
environment variable `credentials_env`, read when the first request is sent, never when the
definitions load: a missing or unparsable variable fails the run with an error naming the
variable, never quoting the key.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import dlt
import google.auth.transport.requests
import pyarrow as pa
import requests
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.extract.source import DltSource
from google.auth.exceptions import GoogleAuthError
from google.oauth2 import service_account

from billing_pipelines.config import DATASETS, PARTITIONED_DATASETS, GoogleSheetsSourceConfig
from billing_pipelines.defs.landing.columns import LANDING_COLUMNS
from billing_pipelines.lib.event_dates import with_event_dates
from billing_pipelines.lib.http_client import ApiClient, RetryPolicy, SourceRequestError

SOURCE = "google_sheets"
SHEETS_API = "https://sheets.googleapis.com"
READONLY_SCOPE = "https://www.googleapis.com/auth/spreadsheets.readonly"
UNFORMATTED = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"}
"""How a tab is read: typed values and serial dates, the same whatever the sheet's locale."""
SERIAL_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
"""Day 0 of a sheet's serial dates (so that 1900 is, correctly, not a leap year)."""
QUOTA_RETRY = RetryPolicy(attempts=8, backoff_seconds=1.0, max_delay_seconds=60.0)
"""Backoff that outlasts the read quota's minute: waits of 1, 2, 4 ... 32 s reach it after six retries."""
KEY_FIELDS = ("client_email", "private_key", "token_uri")
"""What a service-account key file must hold to sign in."""
TABLE_MEANING = {
    "customers": "who is billed, as the billing team keeps them by hand: names, addresses, tax ids, currency",
    "contracts": "what each customer agreed to, as the team records it: status, currency, term and renewal",
    "contract_items": "the priced lines of each contract: product, pricing model, unit amount, metric",
}
SIGNIFICANT_DIGITS = 15
"""The digits a sheet shows of a number: beyond them a stored double is noise, not what was typed."""
ROW_COLUMNS = {
    "_file": pa.string(),
    "_line": pa.int64(),
    "_received_at": pa.timestamp("us", tz="UTC"),
}
"""Where each row came from, as the landing zone's rows carry it (staging's `file_lines()`)."""
RAW_NAMES = NamingConvention()
"""The naming dlt gives raw columns: a header the template does not know keeps its own column under it."""

Cell = str | int | float | bool | None


class SheetLayoutError(ValueError):
    """A tab whose header cannot be read as columns (two headers for one column)."""


class ServiceAccountAuth(requests.auth.AuthBase):
    """Requests made as a Google service account: the key signs a token request to the key file's
    `token_uri`, and the access token it returns (valid an hour) goes as `Authorization: Bearer`
    on every request until it is about to expire, then is fetched again. The key itself is never
    sent, logged nor quoted in an error; a refused sign-in is a SourceRequestError saying why."""

    def __init__(self, service_account_info: Mapping[str, str], source: str = SOURCE) -> None:
        self._credentials = service_account.Credentials.from_service_account_info(
            service_account_info, scopes=[READONLY_SCOPE]
        )
        self._token_uri = service_account_info["token_uri"]
        self._token_request = google.auth.transport.requests.Request()
        self._source = source

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        try:
            self._credentials.before_request(self._token_request, request.method, request.url, request.headers)
        except GoogleAuthError as error:
            raise SourceRequestError(
                f"{self._source}: signing in as {self._credentials.service_account_email} at "
                f"{self._token_uri} failed: {error}"
            ) from None
        return request


class ServiceAccountFromEnv(requests.auth.AuthBase):
    """ServiceAccountAuth with the key file's JSON read from an environment variable when the
    first request is sent, so definitions load without it and never hold it. A variable that is
    unset, not JSON, or not a service-account key is a SourceRequestError naming the variable and
    saying what is wrong, without quoting any of its value."""

    def __init__(self, source: str, env_name: str) -> None:
        self.source, self.env_name = source, env_name
        self._auth: ServiceAccountAuth | None = None
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            if self._auth is None:
                self._auth = ServiceAccountAuth(self._key_file(), self.source)
        return self._auth(request)

    def _key_file(self) -> dict:
        where = f"{self.source}: environment variable {self.env_name}"
        text = os.environ.get(self.env_name, "")
        if not text.strip():
            raise SourceRequestError(f"{where} is not set: it must hold the service-account key JSON")
        try:
            info = json.loads(text)
        except json.JSONDecodeError as error:  # its message gives a position, never the text
            raise SourceRequestError(
                f"{where} does not hold a service-account key JSON: not JSON (line {error.lineno}, "
                f"column {error.colno})"
            ) from None
        missing = [name for name in KEY_FIELDS if not isinstance(info, dict) or not info.get(name)]
        if missing:
            raise SourceRequestError(f"{where} does not hold a service-account key JSON: no {', '.join(missing)}")
        try:
            service_account.Credentials.from_service_account_info(info, scopes=[READONLY_SCOPE])
        except Exception:  # noqa: BLE001 - whatever the key's parser says may quote the key
            raise SourceRequestError(f"{where} holds a service-account key whose private_key cannot be read") from None
        return info


def google_sheets_client(
    service_account_info: Mapping[str, str],
    base_url: str = SHEETS_API,
    retry: RetryPolicy = QUOTA_RETRY,
    source: str = SOURCE,
) -> ApiClient:
    """The client a sync reads the Sheets API with, signed in with the service account's key file
    (the parsed JSON). A 429 from the quota names no wait, so `retry` must back off past a minute."""
    return ApiClient(source, base_url, auth=ServiceAccountAuth(service_account_info, source), retry=retry)


def sheets_retry(max_attempts: int) -> RetryPolicy:
    """The quota-patient backoff (QUOTA_RETRY), with more attempts if billing.yaml asks for more:
    fewer would give up inside the quota's minute, failing syncs a wait would have carried."""
    return replace(QUOTA_RETRY, attempts=max(QUOTA_RETRY.attempts, max_attempts))


def google_sheets_api_client(source_name: str, source: GoogleSheetsSourceConfig) -> ApiClient:
    """The Sheets API as billing.yaml configures it: signed in with the key JSON `credentials_env`
    holds, read when the first request is sent."""
    auth = ServiceAccountFromEnv(source_name, source.credentials_env)
    return ApiClient(source_name, source.base_url, auth=auth, retry=sheets_retry(source.max_attempts))


# --- cell values as text ----------------------------------------------------------------------


def number_text(number: int | float) -> str:
    """A number as a person writes it: `395` (not `395.0`), `0.0004` (not `4e-04`), to the 15
    significant digits a sheet shows."""
    if isinstance(number, int):
        return str(number)
    if number == 0:
        return "0"  # and not "-0"
    return format(Decimal(format(number, f".{SIGNIFICANT_DIGITS}g")), "f")


def serial_date(serial: int | float) -> str:
    """A serial number (days since 1899-12-30) in a date column as an ISO day, `YYYY-MM-DD`; a
    time of day (the fraction) is dropped."""
    return (SERIAL_EPOCH + timedelta(days=math.floor(serial))).strftime("%Y-%m-%d")


def serial_timestamp(serial: int | float) -> str:
    """A serial number in a time column as ISO UTC, `YYYY-MM-DDTHH:MM:SSZ`, to the nearest second
    (a sheet shows no finer, and the fraction of a day is rarely an exact double)."""
    return (SERIAL_EPOCH + timedelta(seconds=round(serial * 86_400))).strftime("%Y-%m-%dT%H:%M:%SZ")


def cell_text(cell: Cell, column: str) -> str | None:
    """A cell as the text staging reads for template `column`: None for an empty cell, text as
    written, booleans `true`/`false`, numbers as written, and a number in a date or time column
    as the ISO date or time its serial number stands for (one too large to be a date stays a
    number, and staging rejects it)."""
    if cell is None or cell == "":
        return None
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "true" if cell else "false"
    try:
        if column.endswith("_date"):
            return serial_date(cell)
        if column.endswith(("_at", "_timestamp")):
            return serial_timestamp(cell)
    except OverflowError:
        pass
    return number_text(cell)


# --- a tab as rows ----------------------------------------------------------------------------


def column_letters(position: int) -> str:
    """A sheet's column letters for a 1-based position (1 -> A, 27 -> AA)."""
    letters = ""
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _folded(header: str) -> str:
    return " ".join(header.split()).casefold()


def raw_columns(dataset: str, header: list[Cell], renamed: Mapping[str, str]) -> list[str]:
    """The raw column each of a tab's columns feeds. A header is the template column it names,
    by the sheet's header text in `renamed` (template column -> header) or else by the template's
    own name, ignoring case and surrounding or repeated spaces. A header the template does not know
    keeps its own column (raw keeps what the team wrote; staging reads only what it maps), named as
    dlt names it; a column without a header is named by its letters (`column_h`). Two headers for
    one column is a SheetLayoutError: no one can tell which the team meant."""
    header_of = {_folded(renamed.get(column, column)): column for column in LANDING_COLUMNS[dataset]}
    names = []
    for position, cell in enumerate(header, start=1):
        text = (cell_text(cell, "") or "").strip()
        own_name = text or f"column {column_letters(position)}"
        names.append(header_of.get(_folded(text)) or RAW_NAMES.normalize_identifier(own_name))
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise SheetLayoutError(
                f"columns {column_letters(seen[name])} and {column_letters(position)} both read as column '{name}'"
            )
        seen[name] = position
    return names


def tab_table(
    dataset: str, values: list[list[Cell]], renamed: Mapping[str, str], file: str, received_at: datetime
) -> pa.Table:
    """A tab's answer (its first row the header) as raw rows: each template column as text
    (NULL where the sheet has no such column, or the row stops short of it), the sheet's other
    columns likewise, and `_file`, `_line` and `_received_at`. Blank rows are skipped."""
    header, rows = (values[0], values[1:]) if values else ([], [])
    width = max(map(len, values), default=0)  # a value typed right of the last header still has a column
    try:
        names = raw_columns(dataset, [*header, *[None] * (width - len(header))], renamed)
    except SheetLayoutError as error:
        raise SheetLayoutError(f"{SOURCE}: the header of {file}: {error}") from None
    template = LANDING_COLUMNS[dataset]
    extra = [name for name in names if name not in template]
    columns: dict[str, list] = {name: [] for name in (*template, *extra)}
    lines = []
    for line, row in enumerate(rows, start=2):
        texts = [cell_text(cell, name) for cell, name in zip(row, names)]
        if all(text is None for text in texts):
            continue
        by_name = dict(zip(names, texts))
        for name, cells in columns.items():
            cells.append(by_name.get(name))
        lines.append(line)
    table = pa.table({name: pa.array(cells, pa.string()) for name, cells in columns.items()})
    origin = {"_file": [file] * len(lines), "_line": lines, "_received_at": [received_at] * len(lines)}
    for name, kind in ROW_COLUMNS.items():
        table = table.append_column(name, pa.array(origin[name], kind))
    return table


def values_path(spreadsheet_id: str, tab: str) -> str:
    """The Sheets API path of a whole tab's values: the tab name quoted as A1 notation wants it
    (`'Q1 contracts'`, quotes doubled), then URL-encoded."""
    a1_range = "'" + tab.replace("'", "''") + "'"
    return f"/v4/spreadsheets/{quote(spreadsheet_id, safe='')}/values/{quote(a1_range, safe='')}"


# --- the dlt source ---------------------------------------------------------------------------


@dlt.source(name=SOURCE, max_table_nesting=0)
def google_sheets_source(
    client: ApiClient,
    spreadsheet_id: str,
    tabs: Mapping[str, str],
    columns: Mapping[str, Mapping[str, str]],
    received_at: datetime,
) -> list:
    """Each dataset's tab into a raw table named after the dataset, replaced whole each sync."""
    return [
        dlt.resource(
            _read_tab(client, spreadsheet_id, dataset, tab, columns.get(dataset, {}), received_at),
            name=dataset,
            write_disposition="replace",
        )
        for dataset, tab in tabs.items()
    ]


def _read_tab(
    client: ApiClient,
    spreadsheet_id: str,
    dataset: str,
    tab: str,
    renamed: Mapping[str, str],
    received_at: datetime,
) -> Iterator[pa.Table]:
    """One read of the whole tab; usage rows also get `_event_date`, as every usage loader's do."""
    answer = client.get(values_path(spreadsheet_id, tab), UNFORMATTED)
    rows = tab_table(dataset, answer.get("values", []), renamed, f"{spreadsheet_id}/{tab}", received_at)
    yield with_event_dates(rows) if dataset in PARTITIONED_DATASETS else rows


def google_sheets_dlt_source(
    client: ApiClient,
    spreadsheet_id: str,
    tabs: Mapping[str, str],
    columns: Mapping[str, Mapping[str, str]] | None = None,
) -> DltSource:
    """The source for one sync of the spreadsheet: `tabs` maps each dataset to read (customers,
    contracts, contract_items, usage_events) to its tab; `columns` optionally maps, per dataset,
    a template column to the sheet's header text for it (by default the header is the template's
    column name). A dataset or template column that does not exist is a ValueError here, before
    anything is read."""
    columns = columns or {}
    for dataset in {*tabs, *columns}:
        if dataset not in DATASETS:  # rejected_records is the push API's own, never a tab
            raise ValueError(f"{SOURCE}: unknown dataset '{dataset}' (expected one of {', '.join(DATASETS)})")
    for dataset, renamed in columns.items():
        unknown = sorted(set(renamed) - set(LANDING_COLUMNS[dataset]))
        if unknown:
            raise ValueError(f"{SOURCE}: {dataset} has no column {', '.join(unknown)} to take from the sheet")
    return google_sheets_source(client, spreadsheet_id, tabs, columns, datetime.now(UTC))


def google_sheets_config_source(source_name: str, source: GoogleSheetsSourceConfig, tables: list[str]) -> DltSource:
    """The source for some datasets (tabs) of a spreadsheet billing.yaml configures (what its raw
    asset runs)."""
    tabs = {dataset: source.tabs[dataset] for dataset in tables}
    return google_sheets_dlt_source(
        google_sheets_api_client(source_name, source), source.spreadsheet_id, tabs, source.columns
    )
