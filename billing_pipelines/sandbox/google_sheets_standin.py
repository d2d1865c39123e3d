"""A local Google Sheets API v4 (values read) and Google's OAuth2 token endpoint: the billing
team's contract sheet for the sandbox and the tests.

The connector signs in as a service account exactly as in production (google-auth signs a JWT
with the key from `service_account_info`, trades it at `/token` for an access token) and reads
`GET /v4/spreadsheets/{id}/values/{range}` with it, so it meets what the real API does to
billing data: ragged rows (trailing empty cells and rows dropped, `values` absent when nothing
is there), numbers and dates as display text or as numbers and serial dates, quoted tab names,
and a per-minute read quota answered with 429 and no `Retry-After`.

Conventions where the real API depends on a sheet's settings: every date cell is formatted
`yyyy-mm-dd` (date-times `yyyy-mm-dd hh:mm:ss`), numbers use the automatic format, a new tab's
grid is Google's default 1000 rows x 26 columns (larger when the data is), and a cell is
str, int, float, bool, None (empty) or a naive `date`/`datetime` (a date-formatted cell).
Both `spreadsheets.get` and `values.get` count as reads, per service account (Google's "per
user"); a token without a Sheets scope is issued but its reads are 403, as Google does. Sharing
is not modelled: the one service account may read every spreadsheet.

    python -m billing_pipelines.sandbox.google_sheets_standin --port 12113   # serve the sandbox sheet
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from billing_pipelines.config import PROJECT_ROOT
from billing_pipelines.defs.landing.columns import LANDING_COLUMNS
from billing_pipelines.sandbox import generate
from billing_pipelines.sandbox.generate import Account, Item, Subscription
from billing_pipelines.sandbox.http_standin import ApiError, HttpStandin, Request, Response

Cell = str | int | float | bool | date | datetime | None

TOKEN_PATH = "/token"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # the `aud` google-auth signs, whatever token_uri says
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
READ_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/spreadsheets.readonly", "https://www.googleapis.com/auth/spreadsheets"}
)
TOKEN_LIFETIME_SECONDS = 3600
CLOCK_SKEW_SECONDS = 300
SERIAL_EPOCH = datetime(1899, 12, 30)  # day 0 of Sheets' serial dates (1900 correctly not a leap year)
DEFAULT_GRID = (1000, 26)  # rows, columns of a new Google sheet
SERVICE_ACCOUNT_EMAIL = "billing-sheets-reader@billing-sandbox.iam.gserviceaccount.com"
STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}  # fmt: skip
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
QUOTA_EXCEEDED = (
    "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service "
    "'sheets.googleapis.com' for consumer 'project_number:104857600042'."
)
BAD_JWT_TIME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)

SANDBOX_SPREADSHEET_ID = "sandbox-billing-contracts"
SANDBOX_KEY_FILE = PROJECT_ROOT / "data" / "sandbox" / "standins" / "google_sheets" / "service_account.json"
SHEET_ACCOUNT_STRIDE = 10  # the billing team's sheet holds every 10th app account (a modest sheet)
SHEET_CONTRACT_STATUS = {  # the team writes canonical statuses, as the landing templates expect
    "trialing": "draft", "active": "active", "paused": "paused", "canceled": "expired", "ended": "expired",
}  # fmt: skip
A1_REFERENCE = re.compile(r"([A-Z]{0,3})(\d*)")  # a cell, a column or a row


@dataclass
class _Tab:
    sheet_id: int
    rows: list[list[Cell]]

    @property
    def grid(self) -> tuple[int, int]:
        """(rowCount, columnCount): the default grid, grown to fit the data."""
        return max(DEFAULT_GRID[0], len(self.rows)), max([DEFAULT_GRID[1], *map(len, self.rows)])


@dataclass
class _Spreadsheet:
    title: str
    tabs: dict[str, _Tab] = field(default_factory=dict)


@dataclass(frozen=True)
class _Window:
    """A resolved A1 range: a tab and inclusive 1-based row and column bounds inside its grid."""

    tab: str
    first_row: int
    first_column: int
    last_row: int
    last_column: int

    @property
    def a1(self) -> str:
        start, end = f"{_letters(self.first_column)}{self.first_row}", f"{_letters(self.last_column)}{self.last_row}"
        return f"{_quoted(self.tab)}!{start}" + (f":{end}" if end != start else "")


@dataclass(frozen=True)
class _Token:
    account: str
    scopes: frozenset[str]
    expires_at: float


class GoogleSheetsStandin(HttpStandin):
    """Spreadsheets a service account may read. Reads are limited to `reads_per_minute` per
    service account (Google's "per minute per user" quota) over a rolling minute of `now`, the
    clock that also expires tokens and checks JWT times (default: `time.time`)."""

    def __init__(self, reads_per_minute: int = 60, now: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.reads_per_minute = reads_per_minute
        self._now = now or time.time
        self._spreadsheets: dict[str, _Spreadsheet] = {}
        self._private_key: rsa.RSAPrivateKey | None = None
        self._tokens: dict[str, _Token] = {}
        self._reads: dict[str, deque[float]] = {}

    # --- what the sandbox and the tests set up ------------------------------------------------

    def service_account_info(self, base_url: str) -> dict:
        """The key file a user downloads for the service account the stand-in trusts (its key pair
        is made once); its `token_uri` points at this stand-in served at `base_url`."""
        with self.lock:
            if self._private_key is None:
                self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key = self._private_key
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {
            "type": "service_account",
            "project_id": "billing-sandbox",
            "private_key_id": hashlib.sha1(public_der).hexdigest(),
            "private_key": pem.decode(),
            "client_email": SERVICE_ACCOUNT_EMAIL,
            "client_id": str(int(hashlib.sha256(public_der).hexdigest(), 16))[:21],
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{base_url}{TOKEN_PATH}",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{SERVICE_ACCOUNT_EMAIL}",
            "universe_domain": "googleapis.com",
        }

    def trust_service_account(self, info: dict) -> None:
        """Trust the key pair of a key file made by `service_account_info` earlier, so a restarted
        stand-in accepts the credentials the sandbox has already handed out."""
        key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("a service-account key is an RSA key")
        with self.lock:
            self._private_key = key

    def add_spreadsheet(self, spreadsheet_id: str, tabs: dict[str, list[list[Cell]]], title: str = "") -> None:
        """Create (or replace) a spreadsheet with `tabs` in order: tab name -> rows of cells."""
        with self.lock:
            self._spreadsheets[spreadsheet_id] = _Spreadsheet(title or spreadsheet_id)
            for tab, rows in tabs.items():
                self.set_tab(spreadsheet_id, tab, rows)

    def set_tab(self, spreadsheet_id: str, tab: str, rows: list[list[Cell]]) -> None:
        """Replace the cells of `tab` (added after the others if new); "" is an empty cell."""
        with self.lock:
            tabs = self._spreadsheets[spreadsheet_id].tabs
            sheet_id = tabs[tab].sheet_id if tab in tabs else _sheet_id(tab, len(tabs))
            tabs[tab] = _Tab(sheet_id, [[None if cell == "" else cell for cell in row] for row in rows])

    def tab_rows(self, spreadsheet_id: str, tab: str) -> list[list[Cell]]:
        """The cells of a tab, header first (None for an empty cell)."""
        with self.lock:
            return [list(row) for row in self._spreadsheets[spreadsheet_id].tabs[tab].rows]

    def seed_from_sandbox(
        self, spreadsheet_id: str, accounts: list[Account], subscriptions: list[Subscription], items: list[Item]
    ) -> None:
        """The billing team's sheet of the sandbox company: tabs `customers`, `contracts` and
        `contract_items` headed by the CSV templates' columns, for every SHEET_ACCOUNT_STRIDE-th
        live app account. Dates are date cells, amounts numbers, optional cells left empty."""
        customers = [a for a in accounts[SHEET_ACCOUNT_STRIDE - 1 :: SHEET_ACCOUNT_STRIDE] if a.deleted_at is None]
        kept = {a.id for a in customers}
        tabs = {
            "customers": [_customer_row(n, a) for n, a in enumerate(customers)],
            "contracts": [_contract_row(s) for s in subscriptions if s.account.id in kept],
            "contract_items": [_item_row(i) for i in items if i.subscription.account.id in kept],
        }
        self.add_spreadsheet(
            spreadsheet_id,
            {name: [list(LANDING_COLUMNS[name]), *rows] for name, rows in tabs.items()},
            title="Billing - contracts and customers",
        )

    # --- the HTTP API -------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> object:
        return _google_body(status, message)

    def handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path == TOKEN_PATH:
            return self._issue_token(request)
        spreadsheet_id, value_range = _route(request)
        with self.lock:
            self._charge_read(self._authorized_account(request))
            spreadsheet = self._spreadsheets.get(spreadsheet_id)
            if spreadsheet is None:
                raise _google_error(404, "Requested entity was not found.")
            if value_range is None:
                return Response(200, _metadata(spreadsheet_id, spreadsheet))
            return Response(200, self._values(spreadsheet, value_range, request))

    def _issue_token(self, request: Request) -> Response:
        """Google's JWT-bearer grant: a signed assertion of a known service account in, a bearer token out."""
        form = {name: values[0] for name, values in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != JWT_BEARER_GRANT:
            raise _oauth_error("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
        claims = self._verified_claims(form.get("assertion", ""), f"http://{request.headers.get('host')}{TOKEN_PATH}")
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            raise _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = f"ya29.standin-{secrets.token_urlsafe(32)}"
        with self.lock:
            self._tokens[token] = _Token(claims["iss"], scopes, self._now() + TOKEN_LIFETIME_SECONDS)
        return Response(200, {"access_token": token, "expires_in": TOKEN_LIFETIME_SECONDS, "token_type": "Bearer"})

    def _verified_claims(self, assertion: str, token_uri: str) -> dict:
        """The claims of an RS256 JWT signed by the registered key, addressed to Google's token
        endpoint (or this stand-in's `token_uri`, as clients that sign for the key file's URI do), valid now."""
        try:
            header_part, claims_part, signature_part = assertion.split(".")
            header, claims = json.loads(_unbase64(header_part)), json.loads(_unbase64(claims_part))
            signature = _unbase64(signature_part)
        except ValueError:
            raise _oauth_error("invalid_grant", "Invalid JWT Signature.") from None
        with self.lock:
            key = self._private_key
        if not isinstance(claims, dict) or key is None or claims.get("iss") != SERVICE_ACCOUNT_EMAIL:
            raise _oauth_error("invalid_grant", "Invalid grant: account not found")
        try:
            if header.get("alg") != "RS256":
                raise InvalidSignature
            signed = f"{header_part}.{claims_part}".encode()
            key.public_key().verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _oauth_error("invalid_grant", "Invalid JWT Signature.") from None
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, token_uri):
            raise _oauth_error("invalid_grant", "Invalid JWT: Failed audience check.")
        issued, expires, now = claims.get("iat", 0), claims.get("exp", 0), self._now()
        if not (issued - CLOCK_SKEW_SECONDS <= now < expires and expires - issued <= TOKEN_LIFETIME_SECONDS):
            raise _oauth_error("invalid_grant", BAD_JWT_TIME)
        return claims

    def _authorized_account(self, request: Request) -> str:
        """The service account behind the request's unexpired bearer token, if it may read sheets."""
        token = self._tokens.get(request.bearer_token or "")
        if token is None or token.expires_at <= self._now():
            challenge = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
            raise ApiError(401, _google_body(401, UNAUTHENTICATED), challenge)
        if not token.scopes & READ_SCOPES:
            raise _google_error(403, "Request had insufficient authentication scopes.")
        return token.account

    def _charge_read(self, account: str) -> None:
        """Count one read against the account's rolling minute, or answer 429 (no Retry-After, as Google)."""
        reads, now = self._reads.setdefault(account, deque()), self._now()
        while reads and reads[0] <= now - 60:
            reads.popleft()
        if len(reads) >= self.reads_per_minute:
            raise ApiError(429, _quota_body())
        reads.append(now)

    def _values(self, spreadsheet: _Spreadsheet, value_range: str, request: Request) -> dict:
        """spreadsheets.values.get: the cells of `value_range`, trailing empties dropped per line."""
        by_columns = _option(request, "majorDimension", ("ROWS", "COLUMNS")) == "COLUMNS"
        render = _option(request, "valueRenderOption", ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"))
        dates = _option(request, "dateTimeRenderOption", ("SERIAL_NUMBER", "FORMATTED_STRING"))
        window = _resolve(spreadsheet, value_range)
        if window is None:
            raise _google_error(400, f"Unable to parse range: {value_range}")
        rows = [
            [row[c] if c < len(row) else None for c in range(window.first_column - 1, window.last_column)]
            for row in spreadsheet.tabs[window.tab].rows[window.first_row - 1 : window.last_row]
        ]
        lines = [list(column) for column in zip(*rows)] if by_columns else rows
        values = _trimmed([[_render(cell, render, dates) for cell in line] for line in lines])
        answer = {"range": window.a1, "majorDimension": "COLUMNS" if by_columns else "ROWS"}
        return {**answer, "values": values} if values else answer


# --- Google's answers -----------------------------------------------------------------------


def _route(request: Request) -> tuple[str, str | None]:
    """(spreadsheet id, A1 range or None for the spreadsheet itself) of a data request; else a 404."""
    prefix = "/v4/spreadsheets/"
    spreadsheet_id, values, value_range = request.path.removeprefix(prefix).partition("/values/")
    well_formed = request.path.startswith(prefix) and "/" not in spreadsheet_id and bool(value_range or not values)
    if request.method != "GET" or not well_formed:
        raise _google_error(404, "Requested entity was not found.")
    return unquote(spreadsheet_id), unquote(value_range) if values else None


def _google_body(status: int, message: str) -> dict:
    """Google's API error body: the HTTP code, a message and the canonical status name."""
    return {"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}}


def _google_error(status: int, message: str) -> ApiError:
    return ApiError(status, _google_body(status, message))


def _oauth_error(error: str, description: str) -> ApiError:
    """The token endpoint's error answer (RFC 6749 shape), always HTTP 400 from Google."""
    return ApiError(400, {"error": error, "error_description": description})


def _quota_body() -> dict:
    """The 429 body, with the ErrorInfo detail Google adds (reason RATE_LIMIT_EXCEEDED)."""
    body = _google_body(429, QUOTA_EXCEEDED)
    metadata = {"service": "sheets.googleapis.com", "quota_limit": "ReadRequestsPerMinutePerUser"}
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"}
    body["error"]["details"] = [{**info, "domain": "googleapis.com", "metadata": metadata}]
    return body


def _option(request: Request, name: str, allowed: tuple[str, ...]) -> str:
    """An enum query parameter (the first allowed value is the default); others are a 400 as in Google."""
    value = request.param(name) or allowed[0]
    if value not in allowed:
        field_name = re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
        raise _google_error(400, f"Invalid value at '{field_name}' ({value})")
    return value


def _metadata(spreadsheet_id: str, spreadsheet: _Spreadsheet) -> dict:
    """spreadsheets.get (`fields=` ignored): the spreadsheet's title and its tabs' grids."""
    sheets = [
        {"properties": {"sheetId": tab.sheet_id, "title": title, "index": index, "sheetType": "GRID",
                        "gridProperties": {"rowCount": tab.grid[0], "columnCount": tab.grid[1]}}}
        for index, (title, tab) in enumerate(spreadsheet.tabs.items())
    ]  # fmt: skip
    properties = {"title": spreadsheet.title, "locale": "en_US", "timeZone": "Etc/GMT"}
    return {"spreadsheetId": spreadsheet_id, "properties": properties, "sheets": sheets}


def _sheet_id(tab: str, index: int) -> int:
    """A tab's stable gid: 0 for the first tab (as in a new spreadsheet), else derived from its name."""
    return 0 if index == 0 else int(hashlib.sha256(tab.encode()).hexdigest(), 16) % 2_000_000_000 + 1


# --- A1 notation ----------------------------------------------------------------------------


def _resolve(spreadsheet: _Spreadsheet, value_range: str) -> _Window | None:
    """`Tab`, `Tab!A1:D10`, `'My Tab'!A:C`, `A1:B2` (first tab), clipped to the grid; None if unparsable."""
    name, cells = _split_range(spreadsheet, value_range)
    tab = spreadsheet.tabs.get(name)
    bounds = _bounds(cells.upper(), *tab.grid) if tab else None
    return _Window(name, *bounds) if bounds else None


def _split_range(spreadsheet: _Spreadsheet, value_range: str) -> tuple[str, str]:
    """(tab name, cells) of a range; one without `!` is a tab name or cells of the first tab."""
    if _unquoted(value_range) in spreadsheet.tabs:
        return _unquoted(value_range), ""
    name, bang, cells = value_range.rpartition("!")
    return (_unquoted(name), cells) if bang else (next(iter(spreadsheet.tabs), ""), value_range)


def _unquoted(name: str) -> str:
    """`'Bob''s tab'` -> `Bob's tab`; an unquoted name as it is."""
    return name[1:-1].replace("''", "'") if len(name) > 1 and name[0] == name[-1] == "'" else name


def _bounds(cells: str, rows: int, columns: int) -> tuple[int, int, int, int] | None:
    """(first row, first column, last row, last column) of A1 `cells` in a rows x columns grid:
    "" is the whole grid, a lone reference one cell, and an open end (`A2:C`, `A:Z`) the grid's edge."""
    if not cells:
        return 1, 1, rows, columns
    start, colon, end = cells.partition(":")
    references = [A1_REFERENCE.fullmatch(part) for part in ((start, end) if colon else (start, start))]
    if not all(ref and ref.group(0) for ref in references) or not (colon or all(references[0].groups())):
        return None
    (first_column, first_row), (last_column, last_row) = (ref.groups() for ref in references)
    top, bottom = sorted((int(first_row or 1), int(last_row or rows)))  # `B2:A1` is `A1:B2`, as in Sheets
    left, right = sorted((_column_number(first_column or "A"), _column_number(last_column) if last_column else columns))
    bottom, right = min(bottom, rows), min(right, columns)
    return (top, left, bottom, right) if 1 <= top <= bottom and 1 <= left <= right else None


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _letters(column: int) -> str:
    letters = ""
    while column:
        column, remainder = divmod(column - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _quoted(tab: str) -> str:
    """A tab name as Google writes it in a range: quoted unless a plain word that is not a cell ref."""
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tab) and not re.fullmatch(r"[A-Za-z]{1,3}\d+", tab)
    return tab if plain else "'" + tab.replace("'", "''") + "'"


# --- cell values ----------------------------------------------------------------------------


def _render(cell: Cell, render: str, dates: str) -> Cell:
    """A cell as the API answers it: display text (FORMATTED_VALUE) or the typed value, with dates
    as serial numbers (days since 1899-12-30, time as a day fraction) unless FORMATTED_STRING."""
    if cell is None:
        return None
    if isinstance(cell, date):
        return _serial(cell) if render != "FORMATTED_VALUE" and dates == "SERIAL_NUMBER" else _date_text(cell)
    if render != "FORMATTED_VALUE" or isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    return str(cell) if isinstance(cell, int) else format(cell, ".15g").upper()


def _serial(moment: date) -> int | float:
    if isinstance(moment, datetime):
        return (moment - SERIAL_EPOCH) / timedelta(days=1)
    return (moment - SERIAL_EPOCH.date()).days


def _date_text(moment: date) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S" if isinstance(moment, datetime) else "%Y-%m-%d")


def _trimmed(lines: list[list[Cell]]) -> list[list[Cell]]:
    """Ragged lines as Google answers: trailing empty cells and trailing empty lines dropped,
    inner empty cells as ""."""
    trimmed = []
    for line in lines:
        while line and line[-1] is None:
            line.pop()
        trimmed.append(["" if cell is None else cell for cell in line])
    while trimmed and not trimmed[-1]:
        trimmed.pop()
    return trimmed


def _unbase64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# --- the sandbox company as the billing team's sheet ----------------------------------------


def _customer_row(n: int, account: Account) -> list[Cell]:
    """A customer row; the team fills "updated_at" on only four rows in five (ragged rows)."""
    p = account.profile
    updated = account.updated_at if n % 5 else None
    return [p.external_id, p.name, p.email, p.phone, p.line1, p.line2, p.city, p.state,
            p.postal_code, p.country, p.tax_id, p.currency, updated]  # fmt: skip


def _contract_row(sub: Subscription) -> list[Cell]:
    return [_contract_id(sub), sub.account.profile.external_id, sub.plan.name, SHEET_CONTRACT_STATUS[sub.status],
            sub.account.profile.currency, sub.start_date, sub.end_date, sub.renewal_policy, sub.updated_at]  # fmt: skip


def _item_row(item: Item) -> list[Cell]:
    """A contract line: an open-ended contract leaves `end_date`, the row's last cell, empty."""
    sub, product, currency = item.subscription, item.product, item.subscription.account.profile.currency
    unit_amount, quantity = generate._local_price(product, currency), 1 if product.metric is None else None
    return [_contract_id(sub), product.code, product.name, product.pricing_model, unit_amount, currency,
            product.interval, quantity, product.metric, sub.start_date, sub.end_date]  # fmt: skip


def _contract_id(sub: Subscription) -> str:
    """The team's own contract number, e.g. CTR-2026-0042 (year the contract started, app id)."""
    return f"CTR-{sub.start_date.year}-{sub.id:04d}"


def main(argv: list[str] | None = None) -> None:
    """CLI: serve the sandbox company's billing sheet until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m billing_pipelines.sandbox.google_sheets_standin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12113)
    parser.add_argument("--seed", type=int, default=7, help="the sandbox company's seed (as for generate)")
    parser.add_argument("--accounts", type=int, default=600, help="the sandbox company's app accounts")
    parser.add_argument("--end-date", type=date.fromisoformat, default=datetime.now(UTC).date() - timedelta(days=1))
    parser.add_argument("--credentials", type=Path, default=SANDBOX_KEY_FILE, help="where to write the key file")
    args = parser.parse_args(argv)

    standin = GoogleSheetsStandin()
    company = generate.app_company(args.end_date, args.seed, args.accounts)  # the app database's customers
    standin.seed_from_sandbox(SANDBOX_SPREADSHEET_ID, *company)
    if args.credentials.exists():  # the key handed out before stays valid
        standin.trust_service_account(json.loads(args.credentials.read_text()))
    args.credentials.parent.mkdir(parents=True, exist_ok=True)
    args.credentials.write_text(json.dumps(standin.service_account_info(f"http://{args.host}:{args.port}"), indent=2))
    print(f"Google Sheets stand-in on http://{args.host}:{args.port}: spreadsheet {SANDBOX_SPREADSHEET_ID}, "
          f"service account key -> {args.credentials}")  # fmt: skip
    standin.serve_forever(args.host, args.port)


if __name__ == "__main__":
    main()
