"""The Google Sheets stand-in over real HTTP: what a sheet connector relies on (service-account
sign-in via google-auth, ragged rows, value rendering, A1 ranges, errors and the read quota)."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote

import google.auth.crypt
import google.auth.jwt
import google.auth.transport.requests
import pytest
import requests
from google.oauth2 import service_account

from billing_pipelines.defs.landing.columns import LANDING_COLUMNS
from billing_pipelines.sandbox.generate import app_company
from billing_pipelines.sandbox.google_sheets_standin import GoogleSheetsStandin

READONLY = "https://www.googleapis.com/auth/spreadsheets.readonly"
SHEET = "billing-sheet"


TABS = {
    "contracts": [
        ["contract_id", "start_date", "unit_amount", "quantity", "active", "updated_at", "note"],
        ["CTR-1", date(2026, 1, 15), 12.5, 3, True, datetime(2026, 1, 15, 12, 0), None],
        ["CTR-2", None, 0.000368, None, False, None, ""],
        [None, None, None],
        ["CTR-3", date(2026, 2, 1), 24000.0, None, None, None, "open-ended"],
        [None],
        [],
    ],
    "My Tab": [["a", "b", "c"], ["d", "", "f"]],
}


@dataclass
class Served:
    """A stand-in served on loopback and a session carrying the token google-auth got from it."""

    standin: GoogleSheetsStandin
    base_url: str
    session: requests.Session

    def read(self, a1_range: str, spreadsheet: str = SHEET, **params: str) -> requests.Response:
        url = f"{self.base_url}/v4/spreadsheets/{spreadsheet}/values/{quote(a1_range, safe='')}"
        return self.session.get(url, params=params)


@contextmanager
def served(standin: GoogleSheetsStandin) -> Iterator[Served]:
    standin.add_spreadsheet(SHEET, TABS)
    with standin.serving() as base_url, requests.Session() as session:
        credentials = service_account.Credentials.from_service_account_info(
            standin.service_account_info(base_url), scopes=[READONLY]
        )
        credentials.refresh(google.auth.transport.requests.Request())
        session.headers["Authorization"] = f"Bearer {credentials.token}"
        yield Served(standin, base_url, session)


@pytest.fixture(scope="module")
def sheets() -> Iterator[Served]:
    """One server for the tests that only read (a server's shutdown takes half a second)."""
    with served(GoogleSheetsStandin(reads_per_minute=10_000)) as shared:
        yield shared


@pytest.fixture
def clock() -> list[float]:
    """A stand-in's clock, moved by hand (`clock[0] += 60`); starts at real time so JWTs are valid."""
    return [time.time()]


@pytest.fixture
def own_sheets(clock: list[float]) -> Iterator[Served]:
    """A stand-in of its own (5 reads a minute, on `clock`) for tests that change its state."""
    with served(GoogleSheetsStandin(reads_per_minute=5, now=lambda: clock[0])) as own:
        yield own


def test_google_auth_service_account_credentials_read_values():
    standin = GoogleSheetsStandin()
    standin.add_spreadsheet(SHEET, TABS)
    with standin.serving() as base_url:
        credentials = service_account.Credentials.from_service_account_info(
            standin.service_account_info(base_url), scopes=[READONLY]
        )
        authed = google.auth.transport.requests.AuthorizedSession(credentials)
        answer = authed.get(f"{base_url}/v4/spreadsheets/{SHEET}/values/{quote('My Tab')}")
    assert answer.status_code == 200
    assert answer.json() == {
        "range": "'My Tab'!A1:Z1000",
        "majorDimension": "ROWS",
        "values": [["a", "b", "c"], ["d", "", "f"]],
    }
    assert credentials.valid and standin.requests_to("/token", "POST") == 1


def _assertion(info: dict, audience: str) -> str:
    """A JWT-bearer assertion as google-auth builds it, signed with `info`'s key."""
    now = int(time.time())
    claims = {"iss": info["client_email"], "scope": READONLY, "aud": audience, "iat": now, "exp": now + 3600}
    signer = google.auth.crypt.RSASigner.from_service_account_info(info)
    return google.auth.jwt.encode(signer, claims).decode()


@pytest.mark.parametrize(
    ("signed_by", "audience", "description"),
    [
        ("another key", "https://oauth2.googleapis.com/token", "Invalid JWT Signature."),
        ("the account's key", "https://sheets.googleapis.com/", "Invalid JWT: Failed audience check."),
    ],
)
def test_a_bad_signature_or_audience_is_invalid_grant(sheets, signed_by, audience, description):
    info = sheets.standin.service_account_info(sheets.base_url)
    key_file = GoogleSheetsStandin().service_account_info(sheets.base_url) if signed_by == "another key" else info
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": _assertion(key_file, audience)}
    answer = requests.post(info["token_uri"], data=form)
    assert (answer.status_code, answer.json()) == (400, {"error": "invalid_grant", "error_description": description})


def test_reads_without_a_valid_token_are_401_unauthenticated(own_sheets, clock):
    no_token = requests.get(f"{own_sheets.base_url}/v4/spreadsheets/{SHEET}/values/contracts")
    made_up = {"Authorization": "Bearer ya29.made-up"}
    unknown_token = requests.get(f"{own_sheets.base_url}/v4/spreadsheets/{SHEET}", headers=made_up)
    clock[0] += 3601
    expired = own_sheets.read("contracts")
    for answer in (no_token, unknown_token, expired):
        assert answer.status_code == 401
        assert answer.json()["error"]["status"] == "UNAUTHENTICATED"
        assert answer.json()["error"]["message"].startswith("Request had invalid authentication credentials.")


def test_rows_are_ragged_and_values_absent_for_an_empty_range(sheets):
    values = sheets.read("contracts!A1:G10", valueRenderOption="UNFORMATTED_VALUE").json()["values"]
    assert values[2:] == [
        ["CTR-2", "", 0.000368, "", False],  # trailing empty cells dropped, inner ones ""
        [],  # an empty row inside the data stays
        ["CTR-3", 46054, 24000, "", "", "", "open-ended"],
    ]  # trailing empty rows dropped
    assert sheets.read("contracts!H1:J5").json() == {"range": "contracts!H1:J5", "majorDimension": "ROWS"}


def test_unformatted_values_are_numbers_and_serial_dates_formatted_values_are_text(sheets):
    unformatted = sheets.read("contracts!A2:F2", valueRenderOption="UNFORMATTED_VALUE").json()["values"]
    assert unformatted == [["CTR-1", 46037, 12.5, 3, True, 46037.5]]
    dates_as_text = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "FORMATTED_STRING"}
    assert sheets.read("contracts!B2:F2", **dates_as_text).json()["values"] == [
        ["2026-01-15", 12.5, 3, True, "2026-01-15 12:00:00"]
    ]
    assert sheets.read("contracts!A2:F3").json()["values"] == [
        ["CTR-1", "2026-01-15", "12.5", "3", "TRUE", "2026-01-15 12:00:00"],
        ["CTR-2", "", "0.000368", "", "FALSE"],
    ]


@pytest.mark.parametrize(
    ("a1_range", "resolved", "values"),
    [
        ("'My Tab'!A1:C", "'My Tab'!A1:C1000", [["a", "b", "c"], ["d", "", "f"]]),
        ("'My Tab'", "'My Tab'!A1:Z1000", [["a", "b", "c"], ["d", "", "f"]]),
        ("My Tab!B2", "'My Tab'!B2", []),
        ("'My Tab'!b:C", "'My Tab'!B1:C1000", [["b", "c"], ["", "f"]]),
        ("'My Tab'!2:2", "'My Tab'!A2:Z2", [["d", "", "f"]]),
        ("A1:B2", "contracts!A1:B2", [["contract_id", "start_date"], ["CTR-1", "2026-01-15"]]),
    ],
)
def test_quoted_tab_names_and_a1_ranges(sheets, a1_range, resolved, values):
    answer = sheets.read(a1_range).json()
    assert (answer["range"], answer.get("values", [])) == (resolved, values)


def test_columns_major_dimension_transposes(sheets):
    answer = sheets.read("'My Tab'!A1:C2", majorDimension="COLUMNS").json()
    assert answer == {"range": "'My Tab'!A1:C2", "majorDimension": "COLUMNS", "values": [["a", "d"], ["b"], ["c", "f"]]}


def test_unknown_tab_is_400_and_unknown_spreadsheet_404(sheets):
    unknown_tab = sheets.read("Sheet1!A1:B2")
    assert (unknown_tab.status_code, unknown_tab.json()) == (
        400,
        {"error": {"code": 400, "message": "Unable to parse range: Sheet1!A1:B2", "status": "INVALID_ARGUMENT"}},
    )
    missing = sheets.read("A1", spreadsheet="no-such-sheet")
    assert (missing.status_code, missing.json()["error"]["status"]) == (404, "NOT_FOUND")


def test_spreadsheet_metadata_lists_the_tabs_and_grids(sheets):
    url = f"{sheets.base_url}/v4/spreadsheets/{SHEET}"
    tabs = [sheet["properties"] for sheet in sheets.session.get(url, params={"fields": "sheets"}).json()["sheets"]]
    assert [(tab["title"], tab["index"]) for tab in tabs] == [("contracts", 0), ("My Tab", 1)]
    assert tabs[0]["gridProperties"] == {"rowCount": 1000, "columnCount": 26}


def test_the_read_quota_answers_429_until_the_minute_has_passed(own_sheets, clock):
    assert [own_sheets.read("contracts").status_code for _ in range(5)] == [200] * 5
    limited = own_sheets.read("contracts")
    assert limited.status_code == 429 and "Retry-After" not in limited.headers
    error = limited.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert "limit 'Read requests per minute per user' of service 'sheets.googleapis.com'" in error["message"]
    clock[0] += 60
    assert own_sheets.read("contracts").status_code == 200


def test_injected_faults_carry_googles_error_body(sheets):
    sheets.standin.inject_faults(503, 1, path_prefix="/v4/")
    answer = sheets.read("contracts")
    assert answer.json() == {"error": {"code": 503, "message": "injected fault", "status": "UNAVAILABLE"}}


def test_seed_from_sandbox_writes_the_three_template_tabs(sheets):
    sheets.standin.seed_from_sandbox("sandbox", *app_company(date(2026, 1, 15), seed=3, accounts=60))

    tabs = {}
    for name in ("customers", "contracts", "contract_items"):
        tabs[name] = sheets.read(name, spreadsheet="sandbox", valueRenderOption="UNFORMATTED_VALUE").json()["values"]
        assert tuple(tabs[name][0]) == LANDING_COLUMNS[name]
    customers, contracts, contract_items = (rows[1:] for rows in tabs.values())
    assert 1 <= len(customers) <= 6 and len(contracts) >= len(customers) and len(contract_items) >= len(contracts)
    assert {row[1] for row in contracts} == {row[0] for row in customers}
    assert any(len(row) < len(LANDING_COLUMNS["customers"]) for row in customers)  # ragged: updated_at left empty
    assert all(isinstance(row[5], int) for row in contracts)  # start_date: a date cell, a serial number
    assert all(isinstance(row[4], int | float) for row in contract_items)  # unit_amount: a number
