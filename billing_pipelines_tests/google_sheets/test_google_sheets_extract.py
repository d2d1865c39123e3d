"""The Google Sheets source against the Google Sheets stand-in over real HTTP, loaded by dlt into
DuckDB: the billing team's tabs as text rows with their sheet row, dates and numbers as written,
column mapping, full refresh, the read quota, failures and the service account sign-in."""

import logging
import time
from datetime import UTC, date, datetime

import duckdb
import pytest
import tenacity.nap
from dlt.pipeline.exceptions import PipelineStepFailed

from billing_pipelines.defs.google_sheets.extract import (
    QUOTA_RETRY,
    SheetLayoutError,
    cell_text,
    column_letters,
    google_sheets_client,
    google_sheets_dlt_source,
    number_text,
    raw_columns,
    serial_date,
    serial_timestamp,
)
from billing_pipelines.defs.landing.columns import LANDING_COLUMNS
from billing_pipelines.lib.http_client import RetryPolicy
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.google_sheets_standin import SHEET_ACCOUNT_STRIDE, GoogleSheetsStandin
from billing_pipelines_tests.api_sources import raw_pipeline

SHEET = "billing-contracts"
SEEDED_TABS = {"customers": "customers", "contracts": "contracts", "contract_items": "contract_items"}
FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, max_delay_seconds=1)


class Sync:
    """Runs the Google Sheets source into a DuckDB file the way a raw asset does, and reads it back."""

    def __init__(self, standin: GoogleSheetsStandin, base_url: str, tmp_path, retry: RetryPolicy = FAST):
        self.standin, self.base_url = standin, base_url
        self.key_file = standin.service_account_info(base_url)
        self.client = google_sheets_client(self.key_file, base_url, retry)
        self.warehouse = str(tmp_path / "warehouse.duckdb")
        self.pipeline = raw_pipeline("google_sheets_test", self.warehouse, "raw_google_sheets", tmp_path / "pipelines")

    def run(self, tabs=SEEDED_TABS, columns=None) -> None:
        self.pipeline.run(google_sheets_dlt_source(self.client, SHEET, tabs, columns))

    def rows(self, table: str, *columns: str) -> list[tuple]:
        """The table's rows in sheet order, the `columns` of each."""
        with duckdb.connect(self.warehouse, read_only=True) as connection:
            return connection.execute(
                f"select {', '.join(columns)} from raw_google_sheets.{table} order by _line"
            ).fetchall()

    def reads(self, status: int | None = None) -> int:
        """Values reads that reached the stand-in (answered `status`, if given)."""
        return sum(1 for r in self.standin.log if r.path.startswith("/v4/") and status in (None, r.status))


@pytest.fixture(scope="module")
def company():
    return app_company(date(2026, 9, 30), seed=3, accounts=150)


@pytest.fixture
def sheets(company, tmp_path):
    """The sandbox company's billing sheet, served, and a sync of it."""
    standin = GoogleSheetsStandin()
    standin.seed_from_sandbox(SHEET, *company)
    with standin.serving() as base_url:
        yield Sync(standin, base_url, tmp_path)


def in_sheet(company):
    """What seed_from_sandbox puts in the sheet: every SHEET_ACCOUNT_STRIDE-th live account, with its
    subscriptions and items, in the generator's order."""
    accounts, subscriptions, items = company
    customers = [a for a in accounts[SHEET_ACCOUNT_STRIDE - 1 :: SHEET_ACCOUNT_STRIDE] if a.deleted_at is None]
    kept = {a.id for a in customers}
    contracts = [s for s in subscriptions if s.account.id in kept]
    return customers, contracts, [i for i in items if i.subscription.account.id in kept]


def as_written(amount: float) -> str:
    """A generated price as a person types it (the generator rounds to at most 6 decimals)."""
    return f"{amount:.6f}".rstrip("0").rstrip(".")


# --- a sync of the billing team's sheet --------------------------------------------------------


def test_a_sync_loads_every_tab_as_text_with_the_sheet_row_of_each_line(sheets, company):
    sheets.run()
    customers, contracts, items = in_sheet(company)

    loaded = sheets.rows("customers", "external_id", "email", "updated_at", "_line", "_file")
    assert loaded == [
        (
            a.profile.external_id,
            a.profile.email,
            None if n % 5 == 0 else a.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),  # ragged rows padded with NULL
            n + 2,  # the header is row 1
            f"{SHEET}/customers",
        )
        for n, a in enumerate(customers)
    ]
    assert sheets.rows("contracts", "customer_external_id", "start_date", "end_date") == [
        (s.account.profile.external_id, s.start_date.isoformat(), s.end_date and s.end_date.isoformat())
        for s in contracts
    ]
    loaded_items = sheets.rows("contract_items", "product_id", "unit_amount", "quantity", "end_date", "_line")
    assert loaded_items == [
        (
            i.product.code,
            as_written(i.row()[5]),  # the price in the customer's currency, as the app holds it
            "1" if i.product.metric is None else None,
            i.subscription.end_date and i.subscription.end_date.isoformat(),  # the row's last cell: padded
            n + 2,
        )
        for n, i in enumerate(items)
    ]
    assert any(end_date is None for *_, end_date, _ in loaded_items)
    assert any("." in amount for _, amount, *_ in loaded_items) and any("." not in a for _, a, *_ in loaded_items)


def test_each_row_carries_when_the_sync_received_it(sheets):
    before = datetime.now(UTC)
    sheets.run()
    received = {at for (at,) in sheets.rows("contracts", "_received_at")}
    assert len(received) == 1 and before <= received.pop() <= datetime.now(UTC)


TEAM_SHEET = {
    "Contracts 2026": [
        ["Contract ID", " customer_external_id", "Plan", "STATUS", "Start  Date", "end_date", "Updated_At",
         "Sales rep", None, "Signed?"],
        ["CTR-1", "CUS-1", "Pro", "active", date(2026, 1, 15), None, datetime(2026, 1, 15, 9, 30, 15), "Ann", None,
         True],
        [],
        [None, None, None],
        ["CTR-2", "CUS-2", 395, "draft", "2026-02-01", date(2026, 12, 31), None, None, "call back", False],
        ["CTR-3", "CUS-3", "Basic", "active", date(2026, 3, 1), None, None, None, None, None, "beyond the header"],
    ],
    "Usage (Bob's)": [
        ["event_id", "customer_external_id", "metric", "quantity", "event_timestamp", "properties"],
        ["EV-1", "CUS-1", "storage_gb_hours", 0.0004, datetime(2026, 2, 28, 23, 59, 59), '{"region": "eu"}'],
        ["EV-2", "CUS-1", "api_calls", 1500000, date(2026, 3, 1)],
    ],
}  # fmt: skip
TEAM_TABS = {"contracts": "Contracts 2026", "usage_events": "Usage (Bob's)"}
TEAM_COLUMNS = {"contracts": {"contract_id": "contract id", "name": "Plan", "start_date": "start date"}}


def test_headers_map_to_template_columns_and_other_columns_are_kept(sheets):
    sheets.standin.add_spreadsheet(SHEET, TEAM_SHEET)
    sheets.run(TEAM_TABS, TEAM_COLUMNS)

    contracts = sheets.rows(
        "contracts",
        "_line", "contract_id", "customer_external_id", "name", "status", "start_date", "end_date", "updated_at",
        "currency", "renewal_policy", "sales_rep", "column_i", "signedx", "column_k",
    )  # fmt: skip
    assert contracts == [  # rows 3 and 4 are blank; currency and renewal_policy are not in the sheet
        (2, "CTR-1", "CUS-1", "Pro", "active", "2026-01-15", None, "2026-01-15T09:30:15Z", None, None, "Ann", None,
         "true", None),
        (5, "CTR-2", "CUS-2", "395", "draft", "2026-02-01", "2026-12-31", None, None, None, None, "call back",
         "false", None),
        (6, "CTR-3", "CUS-3", "Basic", "active", "2026-03-01", None, None, None, None, None, None, None,
         "beyond the header"),
    ]  # fmt: skip
    usage = sheets.rows("usage_events", "event_id", "quantity", "event_timestamp", "properties", "_file", "_event_date")
    assert usage == [
        ("EV-1", "0.0004", "2026-02-28T23:59:59Z", '{"region": "eu"}', f"{SHEET}/Usage (Bob's)", date(2026, 2, 28)),
        ("EV-2", "1500000", "2026-03-01T00:00:00Z", None, f"{SHEET}/Usage (Bob's)", date(2026, 3, 1)),
    ]


def test_a_row_deleted_from_the_sheet_is_gone_from_raw_after_the_next_sync(sheets, company):
    header = ["customer_external_id", "start_date"]
    rows = [[s.account.profile.external_id, s.start_date] for s in in_sheet(company)[1]]
    sheets.standin.set_tab(SHEET, "contracts", [header, *rows])
    sheets.run()
    assert len(sheets.rows("contracts", "_line")) == len(rows)
    rows.pop(1)  # the team deletes the sheet's row 3
    sheets.standin.set_tab(SHEET, "contracts", [header, *rows])
    sheets.standin.set_tab(SHEET, "customers", [list(LANDING_COLUMNS["customers"])])  # emptied to its header

    sheets.run()

    assert sheets.rows("contracts", "customer_external_id", "start_date", "_line") == [
        (external_id, start.isoformat(), n + 2) for n, (external_id, start) in enumerate(rows)
    ]
    assert sheets.rows("customers", "external_id") == []


class BackoffClock:
    """Time that passes only while the client backs off (its sleeps return at once), started at the
    real time so that the service account's signed requests are current: the stand-in's quota
    minute elapses exactly as the client waits, however slow the machine."""

    def __init__(self) -> None:
        self.now = time.time()

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_read_quota_is_waited_out_and_the_sync_completes(company, tmp_path, monkeypatch):
    clock = BackoffClock()
    monkeypatch.setattr(tenacity.nap, "time", clock)  # the client's backoff sleeps on this clock
    standin = GoogleSheetsStandin(reads_per_minute=2, now=lambda: clock.now)
    standin.seed_from_sandbox(SHEET, *company)
    with standin.serving() as base_url:
        sync = Sync(standin, base_url, tmp_path, QUOTA_RETRY)  # the production backoff
        sync.run()
    customers, contracts, items = in_sheet(company)
    assert sync.reads(429) == 6 and sync.reads(200) == 3  # the third tab waited a minute
    assert [len(sync.rows(tab, "_line")) for tab in SEEDED_TABS] == [len(customers), len(contracts), len(items)]


def test_exhausted_retries_fail_the_sync_naming_the_endpoint_and_load_nothing(sheets, company, caplog):
    sheets.run()
    sheets.standin.set_tab(SHEET, "customers", [list(LANDING_COLUMNS["customers"])])
    sheets.standin.inject_faults(503, FAST.attempts, path_prefix=f"/v4/spreadsheets/{SHEET}/values/%27contracts")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PipelineStepFailed) as failure:
        sheets.run()

    message = str(failure.value)
    assert f"google_sheets: GET /v4/spreadsheets/{SHEET}/values/%27contracts%27 failed after 3 attempts" in message
    assert "with HTTP 503" in message
    key = sheets.key_file["private_key"].splitlines()[1]
    assert key not in message and key not in caplog.text
    assert len(sheets.rows("customers", "_line")) == len(in_sheet(company)[0])  # the emptied tab not loaded


def test_the_sync_signs_in_once_at_the_key_files_token_uri_and_reuses_the_token(sheets):
    sheets.run()
    sheets.run()
    assert sheets.standin.requests_to("/token", "POST") == 1
    assert sheets.reads() == sheets.reads(200) == 2 * len(SEEDED_TABS)  # every read carried a valid token


def test_a_key_the_token_endpoint_refuses_fails_the_sync_without_quoting_the_key(sheets, tmp_path, caplog):
    other_key = GoogleSheetsStandin().service_account_info(sheets.base_url)  # not the one Google knows
    sheets.client = google_sheets_client(other_key, sheets.base_url, FAST)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PipelineStepFailed) as failure:
        sheets.run()

    message = str(failure.value)
    assert "google_sheets: signing in as billing-sheets-reader@" in message and "Invalid JWT Signature" in message
    assert other_key["private_key"].splitlines()[1] not in message + caplog.text
    assert sheets.reads() == 0


# --- the pure pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [(395, "395"), (395.0, "395"), (12.5, "12.5"), (0.0004, "0.0004"), (1e-05, "0.00001"), (-2.75, "-2.75"),
     (1.5e16, "15000000000000000"), (0.1 + 0.2, "0.3"), (-0.0, "0")],
)  # fmt: skip
def test_numbers_read_as_a_person_writes_them(number, text):
    assert number_text(number) == text


@pytest.mark.parametrize(
    ("serial", "day", "moment"),
    [
        (46037, "2026-01-15", "2026-01-15T00:00:00Z"),
        (46037.5, "2026-01-15", "2026-01-15T12:00:00Z"),
        (46081.999988425926, "2026-02-28", "2026-02-28T23:59:59Z"),  # 23:59:59, not 23:59:58.99...
        (60, "1900-02-28", "1900-02-28T00:00:00Z"),
        (61, "1900-03-01", "1900-03-01T00:00:00Z"),  # no 1900-02-29: serial dates are not Lotus's
    ],
)
def test_serial_numbers_are_iso_days_and_utc_times(serial, day, moment):
    assert (serial_date(serial), serial_timestamp(serial)) == (day, moment)


@pytest.mark.parametrize(
    ("cell", "column", "text"),
    [
        (None, "name", None),
        ("", "name", None),
        (" Acme  Ltd ", "name", " Acme  Ltd "),  # text exactly as written: staging trims
        ("2026-01-15", "start_date", "2026-01-15"),
        (True, "auto_renew", "true"),
        (False, "auto_renew", "false"),
        (46037, "start_date", "2026-01-15"),
        (46037.25, "updated_at", "2026-01-15T06:00:00Z"),
        (46037, "event_timestamp", "2026-01-15T00:00:00Z"),
        (46037, "quantity", "46037"),
        (1e20, "end_date", "100000000000000000000"),  # no date: left for staging to reject
    ],
)
def test_cells_as_the_text_staging_reads(cell, column, text):
    assert cell_text(cell, column) == text


def test_two_headers_for_one_column_are_a_layout_error():
    with pytest.raises(SheetLayoutError, match="columns B and D both read as column 'email'"):
        raw_columns("customers", ["external_id", "Email", "name", " EMAIL "], {})
    with pytest.raises(SheetLayoutError, match="columns A and C both read as column 'external_id'"):
        raw_columns("customers", ["Customer #", "name", "External ID"], {"external_id": "customer #"})


def test_column_letters():
    assert [column_letters(n) for n in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]


def test_unknown_datasets_and_template_columns_are_refused_before_reading(sheets):
    with pytest.raises(ValueError, match="unknown dataset 'invoices'"):
        google_sheets_dlt_source(sheets.client, SHEET, {"invoices": "Invoices"})
    with pytest.raises(
        ValueError,
        match=r"unknown dataset 'rejected_records' \(expected one of customers, contracts, contract_items, usage_events\)",
    ):
        google_sheets_dlt_source(sheets.client, SHEET, {"rejected_records": "Rejects"})
    with pytest.raises(ValueError, match="contracts has no column plan_name"):
        google_sheets_dlt_source(sheets.client, SHEET, SEEDED_TABS, {"contracts": {"plan_name": "Plan"}})
    assert sheets.reads() == 0
