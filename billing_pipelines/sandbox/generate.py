"""Generate the sandbox company: a fictional B2B SaaS business to run the billing pipelines against.

One call writes these, all deterministic for a given seed:

* the SQLite *app database* of the SaaS product (accounts, subscriptions, subscription_items,
  usage_records), which the `app_db` source in billing.yaml queries;
* optionally, the usage the company keeps in its warehouses: the platform team's compute
  metering in Snowflake (`usage_lake`) and the product's API analytics in BigQuery
  (`product_analytics`), as Parquet seed files their stand-ins load (`sandbox/standins.py`);
* the *landing zone*: an acquired business's customer list and the usage gateway's metering
  exports, with the defects the loader and staging must quarantine planted at known lines
  (docs/raw-contract.md);
* the *expectations manifest* (expected.json): what a correct warehouse holds afterwards.

    python -m billing_pipelines.sandbox.generate --app-db data/sandbox/app_db.sqlite --landing landing
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import sqlite3
import string
import time
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from billing_pipelines.defs.landing.columns import LANDING_COLUMNS

# --- landing contract (docs/raw-contract.md, raw_landing) -------------------------------------

LANDING_DATASETS = tuple(LANDING_COLUMNS)
CUSTOMER_COLUMNS = LANDING_COLUMNS["customers"]
USAGE_COLUMNS = LANDING_COLUMNS["usage_events"]
STRIPE_COLUMNS = ("id", "amount", "created", "customer")  # a payments export dropped in the wrong inbox

# Reason codes of the planted defects, in the order staging checks them (one defect per row).
REASON_CODES = (
    "missing customer_id", "unparsable event_timestamp", "unparsable quantity",
    "wrong column count", "invalid encoding", "unknown column set",
)  # fmt: skip
BAD_ROWS = (  # (reason code, how many rows carry it), spread over two metering exports
    ("missing customer_id", 3),
    ("unparsable event_timestamp", 3),
    ("unparsable quantity", 3),
    ("wrong column count", 2),
    ("invalid encoding", 2),
)
BAD_TIMESTAMPS = ("yesterday", "{year}-13-45T99:00:00Z", "not a timestamp")
BAD_QUANTITIES = ("12abc", "n/a", "1.2.3")

# --- scenario sizes -------------------------------------------------------------------------

ACQUIRED_CUSTOMERS = 20  # customers of the acquired business, known only from its CRM export
REGULAR_EXPORTS = 5  # metering exports covering consecutive day ranges
DEFECT_EXPORTS = (1, 3)  # which regular exports carry the bad rows
DUPLICATE_EVENTS = 50  # tail of export 0 re-sent at the top of export 1 (overlapping windows)
ANONYMOUS_EVENTS = 100  # events the gateway sent without an event_id
UNKNOWN_CUSTOMER = "CUS-UNKNOWN-1"  # a metered customer that no customer list knows
UNKNOWN_CUSTOMER_EVENTS = 30
LATE_DAYS_BEFORE_END = 45  # the late export's events are this old (at most: the window start)
LATE_SHARE = 30  # 1 in 30 landing events arrives in the late export
USAGE_INSERT_CHUNK = 200_000
WAREHOUSE_USAGE = {  # source in billing.yaml -> (the metric it meters, event id prefix)
    "usage_lake": ("compute_minutes", "LAKE"),
    "product_analytics": ("api_calls", "PA"),
}

# --- usage vocabulary -----------------------------------------------------------------------

METRICS = ("api_calls", "storage_gb_hours", "seats", "compute_minutes")
METRIC_TEXTS = np.array(METRICS, dtype=object)
WHOLE_METRICS = np.array([True, False, True, False])  # counted in units; the others carry 3 decimals
QUANTITY_LOG_MEAN = np.array([3.5, 2.5, 0.6, 2.0])  # quantity per record is log-normal per metric
QUANTITY_LOG_SIGMA = np.array([1.3, 1.0, 0.7, 1.1])
RECORD_RATE = np.array([4.0, 1.5, 0.5, 2.0])  # records per live day, relative across metrics
PROPERTY_VARIANTS = (  # per metric: the second property key and its values
    ("endpoint", ("/v1/invoices", "/v1/customers", "/v1/events")),
    ("tier", ("standard", "infrequent", "archive")),
    ("role", ("member", "admin", "viewer")),
    ("instance", ("c6.large", "c6.xlarge", "g5.2xlarge")),
)
REGIONS = (
    "us-east-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "ap-southeast-1", "ap-southeast-2",
)  # fmt: skip
# Share of usage per UTC hour: customers are mostly in North America and Europe.
HOUR_WEIGHTS = np.array(
    [2.0, 1.5, 1.2, 1.0, 1.0, 1.2, 2.0, 3.0, 4.0, 5.0, 5.5, 5.5,
     6.0, 7.0, 7.5, 7.5, 7.0, 6.5, 6.0, 5.0, 4.5, 4.0, 3.5, 2.5]
)  # fmt: skip
HOUR_SHARE = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()

# --- company vocabulary ---------------------------------------------------------------------

NAME_HEADS = (
    "Northwind", "Bluebird", "Summit", "Cedar", "Ironclad", "Lumen", "Brightpath", "Copper",
    "Harbor", "Redwood", "Silverline", "Granite", "Evergreen", "Quartz", "Tidal", "Polar",
    "Aurora", "Vertex", "Maple", "Falcon", "Orchid", "Keystone", "Pioneer", "Sterling",
    "Beacon", "Crescent", "Juniper", "Meridian", "Nimbus", "Oakridge", "Prairie", "Riverstone",
    "Sapphire", "Trident", "Velvet", "Willow", "Zenith", "Atlas", "Cobalt", "Driftwood",
)  # fmt: skip
NAME_TAILS = (
    "Analytics", "Logistics", "Health", "Robotics", "Foods", "Labs", "Software", "Energy",
    "Media", "Payments", "Freight", "Studios", "Systems", "Networks", "Dental", "Outdoor",
    "Biotech", "Capital", "Learning", "Retail", "Security", "Mobility", "Insights", "Works",
    "Supply", "Cloud", "Data", "Travel", "Apparel", "Games",
)  # fmt: skip
MAILBOXES = ("billing", "accounts.payable", "finance", "ap", "invoices")


@dataclass(frozen=True)
class Country:
    """Where a customer is billed: decides its currency, address and number formats and cloud region.

    Patterns: '#' is a digit, '@' a capital letter; phone numbers use fictional ranges.
    """

    code: str
    currency: str
    share: float
    regions: tuple[str, ...]
    cities: tuple[tuple[str, str | None, str], ...]  # (city, state/province, postcode pattern)
    streets: tuple[str, ...]
    number_first: bool  # "500 Market Street" rather than "Friedrichstraße 68"
    units: tuple[str, ...]  # address_line2 patterns; empty = not used there
    phone: str
    tax_id: str
    legal_forms: tuple[str, ...]


COUNTRIES = (
    Country("US", "USD", 0.62, ("us-east-1", "us-west-2"),
            (("New York", "NY", "100##"), ("San Francisco", "CA", "941##"), ("Austin", "TX", "787##"),
             ("Chicago", "IL", "606##"), ("Seattle", "WA", "981##"), ("Boston", "MA", "021##"),
             ("Denver", "CO", "802##"), ("Atlanta", "GA", "303##")),
            ("Market Street", "Main Street", "Mission Street", "Congress Avenue", "Pine Street",
             "Peachtree Street NE", "Broadway", "Larimer Street"),
            True, ("Suite ###", "Floor #"), "+1 202-555-01##", "##-#######", ("Inc.", "LLC", "Corp.")),
    Country("CA", "CAD", 0.07, ("ca-central-1",),
            (("Toronto", "ON", "M5V #@#"), ("Vancouver", "BC", "V6B #@#"), ("Montréal", "QC", "H2Y #@#")),
            ("King Street West", "Granville Street", "Rue Saint-Paul Ouest"),
            True, ("Suite ###",), "+1 416-555-01##", "#########RT0001", ("Inc.", "Ltd.")),
    Country("GB", "GBP", 0.09, ("eu-west-2",),
            (("London", None, "EC1A #@@"), ("Manchester", None, "M1 #@@"), ("Edinburgh", None, "EH1 #@@")),
            ("High Street", "Old Street", "Deansgate"),
            True, ("Unit #", "Floor #"), "+44 20 7946 0###", "GB#########", ("Ltd", "PLC")),
    Country("DE", "EUR", 0.07, ("eu-central-1",),
            (("Berlin", None, "101##"), ("München", None, "803##"), ("Hamburg", None, "203##")),
            ("Friedrichstraße", "Leopoldstraße", "Jungfernstieg"),
            False, (), "+49 30 ########", "DE#########", ("GmbH", "AG")),
    Country("FR", "EUR", 0.05, ("eu-west-3",),
            (("Paris", None, "750##"), ("Lyon", None, "6900#")),
            ("rue de Rivoli", "boulevard Haussmann", "rue de la République"),
            True, (), "+33 1 ## ## ## ##", "FR###########", ("SAS", "SARL")),
    Country("NL", "EUR", 0.04, ("eu-west-1",),
            (("Amsterdam", None, "10## @@"), ("Rotterdam", None, "30## @@")),
            ("Keizersgracht", "Coolsingel"),
            False, (), "+31 20 ### ####", "NL#########B01", ("B.V.",)),
    Country("IE", "EUR", 0.03, ("eu-west-1",),
            (("Dublin", None, "D02 @#@#"), ("Cork", None, "T12 @#@#")),
            ("Grand Canal Street", "Patrick Street"),
            True, ("Floor #",), "+353 1 ### ####", "IE#######@", ("Ltd", "DAC")),
    Country("AU", "USD", 0.02, ("ap-southeast-2",),
            (("Sydney", "NSW", "20##"), ("Melbourne", "VIC", "30##")),
            ("George Street", "Collins Street"),
            True, ("Level #",), "+61 2 5550 ####", "## ### ### ###", ("Pty Ltd",)),
    Country("SG", "USD", 0.01, ("ap-southeast-1",),
            (("Singapore", None, "0#####"),),
            ("Raffles Place", "Robinson Road"),
            True, ("###-##",), "+65 6### ####", "20#######@", ("Pte. Ltd.",)),
)  # fmt: skip

# (size, share of accounts, usage scale): a few enterprise customers dominate usage.
SIZES = (("small", 0.70, 1.0), ("mid", 0.25, 6.0), ("enterprise", 0.05, 40.0))
UPGRADE = {"small": "mid", "mid": "enterprise", "enterprise": "enterprise"}

# How an account's relationship went. "upgraded" (~1 in 6) has an ended and an active subscription,
# "deleted" (~2%) was soft-deleted after cancelling; the rest are drawn with these shares.
STORY_SHARE = (("active", 0.78), ("trialing", 0.06), ("paused", 0.04), ("canceled", 0.07), ("ended", 0.05))
STORY_AGE_DAYS = {  # how long before the end date the account was created
    "active": (45, 1100), "trialing": (1, 25), "paused": (60, 1100), "canceled": (60, 1100),
    "ended": (400, 1100), "upgraded": (200, 1100), "deleted": (60, 1100),
}  # fmt: skip


@dataclass(frozen=True)
class Product:
    """A price-list entry: what a subscription item bills, how, and per which usage metric."""

    code: str
    name: str
    pricing_model: str
    usd_price: float
    interval: str
    metric: str | None = None


PLANS = {
    "small": (
        Product("PLAT-STARTER", "Platform Starter", "flat_fee", 49.0, "P1M"),
        Product("PLAT-GROWTH", "Platform Growth", "flat_fee", 499.0, "P1M"),
    ),
    "mid": (
        Product("PLAT-GROWTH", "Platform Growth", "flat_fee", 499.0, "P1M"),
        Product("PLAT-GROWTH-Q", "Platform Growth (quarterly)", "flat_fee", 1425.0, "P3M"),
    ),
    "enterprise": (Product("PLAT-ENT", "Platform Enterprise", "flat_fee", 24000.0, "P1Y"),),
}
ADD_ONS = (
    Product("API-CALLS", "API Calls", "tiered", 0.0004, "P1M", "api_calls"),
    Product("STORAGE", "Storage (GB-hours)", "volume", 0.00015, "P1M", "storage_gb_hours"),
    Product("SEATS", "User Seats", "per_unit", 12.0, "P1M", "seats"),
    Product("COMPUTE", "Compute Minutes (per 100)", "package", 2.5, "P1M", "compute_minutes"),
)
ADD_ON_COUNT_WEIGHTS = (0.15, 0.45, 0.40)  # 0, 1 or 2 metered add-ons per subscription
FX_FROM_USD = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "CAD": 1.37}

APP_DB_SCHEMA = """
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY, external_id TEXT UNIQUE NOT NULL, name TEXT NOT NULL, email TEXT,
    phone TEXT, address_line1 TEXT, address_line2 TEXT, city TEXT, state TEXT, postal_code TEXT,
    country TEXT, tax_id TEXT, currency TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, deleted_at TEXT
);
CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id), name TEXT NOT NULL,
    status TEXT NOT NULL, currency TEXT NOT NULL, start_date TEXT NOT NULL, end_date TEXT,
    renewal_policy TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT
);
CREATE TABLE subscription_items (
    id INTEGER PRIMARY KEY, subscription_id INTEGER NOT NULL REFERENCES subscriptions(id),
    product_code TEXT NOT NULL, product_name TEXT NOT NULL, pricing_model TEXT NOT NULL,
    unit_price NUMERIC NOT NULL, currency TEXT NOT NULL, billing_interval TEXT NOT NULL,
    quantity NUMERIC, metric TEXT, starts_on TEXT NOT NULL, ends_on TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE usage_records (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id), metric TEXT NOT NULL,
    quantity NUMERIC NOT NULL, occurred_at TEXT NOT NULL, properties TEXT
);
"""


# --- the app's own records ------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The usage window the sandbox covers: `start` to `end`, both inclusive (UTC days)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Profile:
    """A business customer as its billing contact data describes it (plus how big a user it is)."""

    external_id: str
    name: str
    email: str
    phone: str
    line1: str
    line2: str | None
    city: str
    state: str | None
    postal_code: str
    country: str
    tax_id: str | None
    currency: str
    size: str
    region: str
    usage_scale: float


@dataclass(frozen=True)
class Account:
    """A customer account in the app; `deleted_at` set = soft-deleted (churned and removed)."""

    id: int
    profile: Profile
    story: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    def row(self) -> tuple:
        p = self.profile
        return (
            self.id, p.external_id, p.name, p.email, p.phone, p.line1, p.line2, p.city, p.state,
            p.postal_code, p.country, p.tax_id, p.currency, _sql_time(self.created_at),
            _sql_time(self.updated_at), _sql_time(self.deleted_at),
        )  # fmt: skip


@dataclass(frozen=True)
class Subscription:
    """A subscription (contract) of an account; metered usage flows from `start_date` to `usage_until`."""

    id: int
    account: Account
    plan: Product
    status: str
    start_date: date
    end_date: date | None
    renewal_policy: str
    usage_until: date
    updated_at: datetime
    deleted_at: datetime | None

    def row(self) -> tuple:
        return (
            self.id, self.account.id, self.plan.name, self.status, self.account.profile.currency,
            self.start_date.isoformat(), _sql_date(self.end_date), self.renewal_policy,
            _sql_time(self.updated_at), _sql_time(self.deleted_at),
        )  # fmt: skip


@dataclass(frozen=True)
class Item:
    """A priced line of a subscription: the plan's flat fee or a metered add-on."""

    id: int
    subscription: Subscription
    product: Product

    def row(self) -> tuple:
        sub, product = self.subscription, self.product
        currency = sub.account.profile.currency
        return (
            self.id, sub.id, product.code, product.name, product.pricing_model,
            _local_price(product, currency), currency, product.interval,
            1 if product.metric is None else None, product.metric, sub.start_date.isoformat(),
            _sql_date(sub.end_date), _sql_time(sub.updated_at),
        )  # fmt: skip


AppCompany = tuple[list[Account], list[Subscription], list[Item]]
"""The app's accounts, subscriptions and subscription items."""


def _sql_time(moment: datetime | None) -> str | None:
    """An app timestamp as the app stores it: UTC text `YYYY-MM-DD HH:MM:SS` (sorts as text)."""
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _sql_date(day: date | None) -> str | None:
    """An app date as text `YYYY-MM-DD`; None (NULL) for an open-ended term."""
    return None if day is None else day.isoformat()


def _iso_time(moment: datetime) -> str:
    """A landing-file timestamp: ISO-8601 UTC with `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(rnd: random.Random, day: date) -> datetime:
    """A random second (UTC) within `day`."""
    return datetime(day.year, day.month, day.day) + timedelta(seconds=rnd.randrange(86_400))


def _local_price(product: Product, currency: str) -> float:
    """The product's unit price in the customer's currency: cents for fees, 6 decimals for usage rates."""
    return round(product.usd_price * FX_FROM_USD[currency], 2 if product.usd_price >= 1 else 6)


def _fill(rnd: random.Random, pattern: str) -> str:
    """A fictional number from a numbering-plan pattern ('#' = digit, '@' = capital letter)."""
    pick = {"#": string.digits, "@": string.ascii_uppercase}
    return "".join(rnd.choice(pick[char]) if char in pick else char for char in pattern)


def _slug(name: str) -> str:
    """The customer's e-mail domain label, e.g. 'Cedar Robotics' -> 'cedar-robotics'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _company_names(rnd: random.Random, count: int) -> list[str]:
    """`count` distinct company names (without legal form); numbered once the combinations run out."""
    combos = [f"{head} {tail}" for head in NAME_HEADS for tail in NAME_TAILS]
    rnd.shuffle(combos)
    return [combos[i % len(combos)] + (f" {i // len(combos) + 1}" if i >= len(combos) else "") for i in range(count)]


def _profile(rnd: random.Random, external_id: str, base_name: str) -> Profile:
    """A customer's billing identity: legal name, billing contact, address, tax id and currency."""
    country = rnd.choices(COUNTRIES, weights=[c.share for c in COUNTRIES])[0]
    city, state, postcode = rnd.choice(country.cities)
    size, _, scale = rnd.choices(SIZES, weights=[share for _, share, _ in SIZES])[0]
    street, number = rnd.choice(country.streets), rnd.randint(1, 980)
    has_unit = bool(country.units) and rnd.random() < 0.35
    return Profile(
        external_id=external_id,
        name=f"{base_name} {rnd.choice(country.legal_forms)}",
        email=f"{rnd.choice(MAILBOXES)}@{_slug(base_name)}.example",
        phone=_fill(rnd, country.phone),
        line1=f"{number} {street}" if country.number_first else f"{street} {number}",
        line2=_fill(rnd, rnd.choice(country.units)) if has_unit else None,
        city=city,
        state=state,
        postal_code=_fill(rnd, postcode),
        country=country.code,
        tax_id=_fill(rnd, country.tax_id) if rnd.random() < 0.8 else None,
        currency=country.currency,
        size=size,
        region=rnd.choice(country.regions),
        usage_scale=scale * rnd.lognormvariate(0.0, 0.8),
    )


def _stories(rnd: random.Random, count: int) -> list[str]:
    """How each account's relationship went (see STORY_SHARE), shuffled over the accounts."""
    deleted, upgraded = max(1, round(count * 0.02)), round(count / 6)
    names, shares = zip(*STORY_SHARE)
    stories = ["deleted"] * deleted + ["upgraded"] * upgraded
    stories += rnd.choices(names, weights=shares, k=count - deleted - upgraded)
    rnd.shuffle(stories)
    return stories


def _account(rnd: random.Random, account_id: int, profile: Profile, story: str, today: date) -> Account:
    """An app account created `STORY_AGE_DAYS` before `today`; deleted ones at least 30 days later."""
    age = rnd.randint(*STORY_AGE_DAYS[story])
    created = _moment(rnd, today - timedelta(days=age))
    deleted = _moment(rnd, today - timedelta(days=rnd.randint(0, age - 30))) if story == "deleted" else None
    updated = deleted or max(created, _moment(rnd, created.date() + timedelta(days=rnd.randint(0, age))))
    return Account(account_id, profile, story, created, updated, deleted)


def _active_term(rnd: random.Random, plan: Product, start: date, today: date) -> tuple[date | None, str]:
    """(end_date, renewal_policy) of a running subscription: annual plans run in yearly terms that
    mostly auto-renew; monthly and quarterly plans are open-ended."""
    if plan.interval != "P1Y":
        return None, "auto_renew"
    terms = (today - start).days // 365 + 1
    return start + timedelta(days=365 * terms), "auto_renew" if rnd.random() < 0.8 else "none"


def _subscriptions(rnd: random.Random, account: Account, next_id: int, today: date) -> list[Subscription]:
    """The account's subscriptions as its story tells: one, or an ended one plus its upgrade."""
    size, story = account.profile.size, account.story
    start = account.created_at.date()
    age = (today - start).days

    def subscription(offset, plan, status, begins, ends, renewal, until, updated, deleted=None):
        updated = max(account.created_at, updated)
        return Subscription(next_id + offset, account, plan, status, begins, ends, renewal, until, updated, deleted)

    plan = rnd.choice(PLANS[size])
    if story == "upgraded":
        switch = today - timedelta(days=rnd.randint(5, min(180, age - 30)))
        upgrade = rnd.choice(PLANS[UPGRADE[size]])
        end, renewal = _active_term(rnd, upgrade, switch + timedelta(days=1), today)
        return [
            subscription(0, plan, "ended", start, switch, "none", switch, _moment(rnd, switch)),
            subscription(1, upgrade, "active", switch + timedelta(days=1), end, renewal, today, _moment(rnd, switch)),
        ]
    if story == "active":
        end, renewal = _active_term(rnd, plan, start, today)
        changed = start + timedelta(days=rnd.randint(0, age))
        return [subscription(0, plan, "active", start, end, renewal, today, _moment(rnd, changed))]
    if story == "trialing":
        trial_end = start + timedelta(days=30)
        return [subscription(0, plan, "trialing", start, trial_end, "auto_renew", today, _moment(rnd, start))]
    if story == "paused":
        paused = today - timedelta(days=rnd.randint(3, 45))
        return [subscription(0, plan, "paused", start, None, "auto_renew", paused, _moment(rnd, paused))]
    if story == "canceled":
        end = today - timedelta(days=rnd.randint(0, min(120, age - 30)))
        return [subscription(0, plan, "canceled", start, end, "none", end, _moment(rnd, end))]
    if story == "ended":
        end = start + timedelta(days=365)
        return [subscription(0, plan, "ended", start, end, "none", end, _moment(rnd, end))]
    deleted_at = account.deleted_at  # story "deleted": cancelled, then the account was removed
    end = deleted_at.date()
    return [subscription(0, plan, "canceled", start, end, "none", end, deleted_at, deleted_at)]


def _items(rnd: random.Random, subscription: Subscription, next_id: int) -> list[Item]:
    """The plan's flat fee plus 0-2 metered add-ons (distinct metrics): 1-3 items per subscription."""
    add_on_count = rnd.choices(range(len(ADD_ON_COUNT_WEIGHTS)), weights=ADD_ON_COUNT_WEIGHTS)[0]
    products = [subscription.plan, *rnd.sample(ADD_ONS, add_on_count)]
    return [Item(next_id + k, subscription, product) for k, product in enumerate(products)]


def _build_app(
    rnd: random.Random, profiles: list[Profile], today: date
) -> tuple[list[Account], list[Subscription], list[Item]]:
    """The app's accounts, subscriptions and subscription items, ids in creation order."""
    accounts: list[Account] = []
    subscriptions: list[Subscription] = []
    items: list[Item] = []
    for account_id, (profile, story) in enumerate(zip(profiles, _stories(rnd, len(profiles))), start=1):
        account = _account(rnd, account_id, profile, story, today)
        accounts.append(account)
        for subscription in _subscriptions(rnd, account, len(subscriptions) + 1, today):
            subscriptions.append(subscription)
            items.extend(_items(rnd, subscription, len(items) + 1))
    return accounts, subscriptions, items


# --- metered usage --------------------------------------------------------------------------


@dataclass(frozen=True)
class Meters:
    """Everything that emits usage, column-wise: one entry per (customer, metric) with the day
    offsets (inside the period) on which it is live and its relative record rate."""

    account_id: np.ndarray  # app account id; 0 for customers the app does not know
    customer: np.ndarray  # external id (object array)
    metric: np.ndarray  # index into METRICS
    region: np.ndarray  # index into REGIONS
    weight: np.ndarray  # records per live day, relative
    first_day: np.ndarray
    last_day: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[tuple[int, str, str, str, float, int, int]]) -> Meters:
        """From (account_id, customer, metric, region, usage scale, first day, last day) rows."""
        account_id, customer, metric, region, scale, first_day, last_day = zip(*rows)
        metric_index = np.array([METRICS.index(m) for m in metric])
        return cls(
            account_id=np.array(account_id, dtype=np.int64),
            customer=np.array(customer, dtype=object),
            metric=metric_index,
            region=np.array([REGIONS.index(r) for r in region]),
            weight=np.array(scale) * RECORD_RATE[metric_index],
            first_day=np.array(first_day),
            last_day=np.array(last_day),
        )

    def live_on(self, day: int) -> Meters:
        """Only the meters live on `day`, narrowed to that single day."""
        live = (self.first_day <= day) & (self.last_day >= day)
        narrowed = {f.name: getattr(self, f.name)[live] for f in fields(self)}
        narrowed["first_day"] = narrowed["last_day"] = np.full(int(live.sum()), day)
        return Meters(**narrowed)


@dataclass(frozen=True)
class UsageBatch:
    """Usage records, column-wise; `seconds` counts from the period start (UTC)."""

    account_id: np.ndarray
    customer: np.ndarray
    metric: np.ndarray
    seconds: np.ndarray
    quantity: np.ndarray
    properties: np.ndarray  # JSON object text (object array)

    def take(self, index: np.ndarray | slice) -> UsageBatch:
        return UsageBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(*batches: UsageBatch) -> UsageBatch:
        return UsageBatch(**{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(UsageBatch)})


def _property_texts() -> np.ndarray:
    """JSON `properties` per (metric, region, variant): where the usage ran and what it was."""
    texts = np.empty((len(METRICS), len(REGIONS), len(PROPERTY_VARIANTS[0][1])), dtype=object)  # same count per metric
    for m, (key, values) in enumerate(PROPERTY_VARIANTS):
        for r, region in enumerate(REGIONS):
            for v, value in enumerate(values):
                texts[m, r, v] = json.dumps({"region": region, key: value}, separators=(",", ":"))
    return texts


PROPERTY_TEXTS = _property_texts()


def _day_cdf(period: Period) -> np.ndarray:
    """Cumulative usage share by day offset (length days + 1): B2B usage dips at weekends and
    grows about 20% over the window."""
    offsets = np.arange(period.days)
    weekend = (period.start.weekday() + offsets) % 7 >= 5
    weights = np.where(weekend, 0.4, 1.0) * (1.0 + 0.2 * offsets / period.days)
    return np.concatenate(([0.0], np.cumsum(weights)))


def _quantities(rng: np.random.Generator, metric: np.ndarray) -> np.ndarray:
    """Quantity per record: whole units for api_calls/seats, 3 decimals (>= 0.001) for measured metrics."""
    raw = rng.lognormal(QUANTITY_LOG_MEAN[metric], QUANTITY_LOG_SIGMA[metric])
    return np.where(WHOLE_METRICS[metric], np.maximum(np.ceil(raw), 1.0), np.maximum(np.round(raw, 3), 0.001))


def _sample_usage(rng: np.random.Generator, meters: Meters, count: int, day_cdf: np.ndarray) -> UsageBatch:
    """`count` usage records: meters chosen by record rate x live days, days by the weekly pattern
    inside each meter's live window, hours by HOUR_SHARE."""
    lo_mass, hi_mass = day_cdf[meters.first_day], day_cdf[meters.last_day + 1]
    mass = meters.weight * (hi_mass - lo_mass)
    chosen = rng.choice(len(mass), size=count, p=mass / mass.sum())
    target = lo_mass[chosen] + rng.random(count) * (hi_mass[chosen] - lo_mass[chosen])
    day = np.clip(np.searchsorted(day_cdf, target, side="right") - 1, meters.first_day[chosen], meters.last_day[chosen])
    seconds = day * 86_400 + rng.choice(24, size=count, p=HOUR_SHARE) * 3_600 + rng.integers(0, 3_600, size=count)
    metric = meters.metric[chosen]
    variant = rng.integers(0, PROPERTY_TEXTS.shape[2], size=count)
    return UsageBatch(
        account_id=meters.account_id[chosen],
        customer=meters.customer[chosen],
        metric=metric,
        seconds=seconds.astype(np.int64),
        quantity=_quantities(rng, metric),
        properties=PROPERTY_TEXTS[metric, meters.region[chosen], variant],
    )


def _utc_texts(period: Period, seconds: np.ndarray, *, iso: bool) -> np.ndarray:
    """Timestamps as text: ISO-8601 with `Z` for landing files, `YYYY-MM-DD HH:MM:SS` for the app."""
    moments = np.datetime64(period.start, "s") + seconds.astype("timedelta64[s]")
    if iso:
        return np.datetime_as_string(moments, unit="s", timezone="UTC")
    texts = np.datetime_as_string(moments, unit="s").astype("U19")
    texts.view(np.uint32).reshape(-1, 19)[:, 10] = ord(" ")  # 'T' -> ' ' in place
    return texts


def _app_meters(items: list[Item], period: Period) -> list[tuple]:
    """Meter rows of the app's metered items, each live from its subscription's start until usage stops."""
    rows = []
    for item in items:
        sub, metric = item.subscription, item.product.metric
        first = (max(sub.start_date, period.start) - period.start).days
        last = (min(sub.usage_until, period.end) - period.start).days
        if metric is not None and first <= last:
            profile = sub.account.profile
            rows.append((sub.account.id, profile.external_id, metric, profile.region, profile.usage_scale, first, last))
    return rows


def _acquired_meters(rnd: random.Random, acquired: list[Profile], period: Period) -> list[tuple]:
    """Meter rows of the acquired business's customers: 1-2 metrics each, live the whole period."""
    return [
        (0, p.external_id, metric, p.region, p.usage_scale, 0, period.days - 1)
        for p in acquired
        for metric in rnd.sample(METRICS, rnd.randint(1, 2))
    ]


def _write_app_db(
    path: Path, accounts: list[Account], subscriptions: list[Subscription], items: list[Item],
    usage: UsageBatch, period: Period,
) -> None:  # fmt: skip
    """Create the app database afresh in one unjournaled transaction (it is disposable test data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, *(path.with_name(path.name + suffix) for suffix in ("-journal", "-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.executescript(APP_DB_SCHEMA)
        con.execute("BEGIN")
        con.executemany(f"INSERT INTO accounts VALUES ({','.join('?' * 16)})", (a.row() for a in accounts))
        con.executemany(f"INSERT INTO subscriptions VALUES ({','.join('?' * 10)})", (s.row() for s in subscriptions))
        con.executemany(f"INSERT INTO subscription_items VALUES ({','.join('?' * 13)})", (i.row() for i in items))
        insert_usage = (
            "INSERT INTO usage_records (account_id, metric, quantity, occurred_at, properties) VALUES (?,?,?,?,?)"
        )
        for lo in range(0, len(usage.seconds), USAGE_INSERT_CHUNK):
            part = usage.take(slice(lo, lo + USAGE_INSERT_CHUNK))
            con.executemany(
                insert_usage,
                zip(
                    part.account_id.tolist(),
                    METRIC_TEXTS[part.metric].tolist(),
                    part.quantity.tolist(),  # whole floats become INTEGER under NUMERIC affinity
                    _utc_texts(period, part.seconds, iso=False).tolist(),
                    part.properties.tolist(),
                ),
            )
        con.execute("CREATE INDEX usage_records_occurred_at ON usage_records (occurred_at)")
        con.execute("COMMIT")
    finally:
        con.close()


def _metric_meters(meters: Meters, metric: str) -> Meters:
    """The meters of one metric (all meters when none carries it)."""
    chosen = meters.metric == METRICS.index(metric)
    if not chosen.any():
        return meters
    return Meters(**{f.name: getattr(meters, f.name)[chosen] for f in fields(meters)})


def _write_warehouse_usage(path: Path, usage: UsageBatch, id_prefix: str, period: Period) -> None:
    """One warehouse's usage as the seed Parquet its stand-in loads: event_id, account_external_id,
    metric, quantity decimal(38,9), occurred_at timestamp (UTC), properties (JSON text)."""
    import pyarrow as pa  # only needed when warehouse usage is generated
    import pyarrow.parquet as pq

    moments = np.datetime64(period.start, "us") + (usage.seconds * 1_000_000).astype("timedelta64[us]")
    table = pa.table(
        {
            "event_id": pa.array([f"{id_prefix}-{n:09d}" for n in range(1, len(usage.seconds) + 1)]),
            "account_external_id": pa.array(usage.customer.tolist(), pa.string()),
            "metric": pa.array(METRIC_TEXTS[usage.metric].tolist(), pa.string()),
            "quantity": pa.array(np.char.mod("%.3f", usage.quantity).tolist()).cast(pa.decimal128(38, 9)),
            "occurred_at": pa.array(moments, pa.timestamp("us", tz="UTC")),
            "properties": pa.array(usage.properties.tolist(), pa.string()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def warehouse_usage_path(sandbox_dir: Path, source: str) -> Path:
    """Where the seed of a warehouse source's usage is written (`<sandbox>/<source>/usage_events.parquet`)."""
    return Path(sandbox_dir) / source / "usage_events.parquet"


# --- landing zone ---------------------------------------------------------------------------


@dataclass
class LandingFile:
    """A CSV file for a landing inbox. Each row carries the reason code of the defect planted in
    it (None = valid); `rejected_as` is set when the loader must reject the whole file."""

    dataset: str
    name: str
    header: tuple[str, ...]
    rows: list[tuple[list[str], str | None]]
    rejected_as: str | None = None


def _late_date(period: Period) -> date:
    """The day the late export covers: LATE_DAYS_BEFORE_END before the end, or the window start."""
    return max(period.start, period.end - timedelta(days=LATE_DAYS_BEFORE_END))


def _event_rows(batch: UsageBatch, event_ids: list[str], period: Period) -> list[list[str]]:
    """Usage records as metering-export rows (USAGE_COLUMNS order), all text."""
    whole = WHOLE_METRICS[batch.metric].tolist()
    quantities = [f"{q:.0f}" if w else f"{q:.3f}" for q, w in zip(batch.quantity.tolist(), whole)]
    columns = (
        event_ids, batch.customer.tolist(), METRIC_TEXTS[batch.metric].tolist(), quantities,
        _utc_texts(period, batch.seconds, iso=True).tolist(), batch.properties.tolist(),
    )  # fmt: skip
    return [list(row) for row in zip(*columns)]


def _break_row(row: list[str], code: str, variant: int, period: Period) -> list[str]:
    """A copy of a valid export row with exactly the one defect `code` names."""
    broken = list(row)
    if code == "missing customer_id":
        broken[USAGE_COLUMNS.index("customer_external_id")] = ""
    elif code == "unparsable event_timestamp":
        broken[USAGE_COLUMNS.index("event_timestamp")] = BAD_TIMESTAMPS[variant].format(year=period.end.year)
    elif code == "unparsable quantity":
        broken[USAGE_COLUMNS.index("quantity")] = BAD_QUANTITIES[variant]
    elif code == "wrong column count":
        broken.append("gateway-2")  # one extra field
    elif code == "invalid encoding":
        at = USAGE_COLUMNS.index("metric")  # lone surrogates are written as the raw bytes ff fe
        broken[at] = broken[at][:3] + "\udcff\udcfe" + broken[at][3:]
    return broken


def _anonymous_rows(rng: np.random.Generator, pool: UsageBatch, count: int) -> np.ndarray:
    """Rows that lose their event_id: known customers at seconds no other row shares, so every
    anonymous row stays distinct by content (the canonical id is a hash of it)."""
    _, first, counts = np.unique(pool.seconds, return_index=True, return_counts=True)
    candidates = first[counts == 1]
    candidates = candidates[pool.customer[candidates] != UNKNOWN_CUSTOMER]
    return np.sort(rng.choice(candidates, size=count, replace=False))


def _usage_exports(rng: np.random.Generator, meters: Meters, period: Period, valid_events: int) -> list[LandingFile]:
    """The usage gateway's exports: REGULAR_EXPORTS consecutive day ranges (with an overlap
    re-sending DUPLICATE_EVENTS, anonymous and unknown-customer events and the BAD_ROWS), one late
    export for a single old day, and a payments export dropped in the wrong inbox.
    Holds exactly `valid_events` distinct valid events."""
    day_cdf = _day_cdf(period)
    late_date = _late_date(period)
    bad_plan = [(code, variant) for code, count in BAD_ROWS for variant in range(count)]
    late_count = valid_events // LATE_SHARE
    known_count = valid_events - late_count - UNKNOWN_CUSTOMER_EVENTS

    known = _sample_usage(rng, meters, known_count + len(bad_plan), day_cdf)
    unknown_meter = Meters.from_rows([(0, UNKNOWN_CUSTOMER, "api_calls", "us-east-1", 1.0, 0, period.days - 1)])
    unknown = _sample_usage(rng, unknown_meter, UNKNOWN_CUSTOMER_EVENTS, day_cdf)
    late = _sample_usage(rng, meters.live_on((late_date - period.start).days), late_count, day_cdf)
    event_ids = [f"evt_{n:016x}" for n in rng.choice(2**62, size=valid_events + len(bad_plan), replace=False).tolist()]

    pool = UsageBatch.concat(known.take(slice(len(bad_plan), None)), unknown)
    pool = pool.take(np.argsort(pool.seconds, kind="stable"))
    pool_rows = _event_rows(pool, event_ids[: len(pool.seconds)], period)
    for index in _anonymous_rows(rng, pool, ANONYMOUS_EVENTS).tolist():
        pool_rows[index][0] = ""

    bounds = np.linspace(0, period.days, REGULAR_EXPORTS + 1).round().astype(int)
    cuts = np.searchsorted(pool.seconds, bounds * 86_400).tolist()
    exports = []
    for k in range(REGULAR_EXPORTS):
        first = period.start + timedelta(days=int(bounds[k]))
        last = period.start + timedelta(days=int(bounds[k + 1]) - 1)
        rows = [(row, None) for row in pool_rows[cuts[k] : cuts[k + 1]]]
        exports.append(LandingFile("usage_events", f"meter_export_{first}_{last}.csv", USAGE_COLUMNS, rows))

    resent = [row for row, _ in exports[0].rows if row[0] and row[1] != UNKNOWN_CUSTOMER][-DUPLICATE_EVENTS:]
    exports[1].rows[:0] = [(list(row), None) for row in resent]

    bad_ids = event_ids[len(pool.seconds) : len(pool.seconds) + len(bad_plan)]
    bad_rows = _event_rows(known.take(slice(0, len(bad_plan))), bad_ids, period)
    for n, ((code, variant), row) in enumerate(zip(bad_plan, bad_rows)):
        target = exports[DEFECT_EXPORTS[n % len(DEFECT_EXPORTS)]].rows
        target.insert(int(rng.integers(0, len(target) + 1)), (_break_row(row, code, variant, period), code))

    late = late.take(np.argsort(late.seconds, kind="stable"))
    late_rows = _event_rows(late, event_ids[len(pool.seconds) + len(bad_plan) :], period)
    exports.append(
        LandingFile("usage_events", f"late_meter_export_{late_date}.csv", USAGE_COLUMNS, [(r, None) for r in late_rows])
    )
    exports.append(_wrong_folder_export(rng, period))
    return exports


def _wrong_folder_export(rng: np.random.Generator, period: Period) -> LandingFile:
    """A payments export (charges) dropped into the usage inbox: the loader rejects it whole."""
    start = int(datetime(period.end.year, period.end.month, period.end.day, tzinfo=UTC).timestamp())
    rows = [
        [f"ch_{int(rng.integers(2**60)):015x}", str(int(rng.integers(1, 500)) * 100),
         str(start + int(rng.integers(86_400))), f"cus_{int(rng.integers(2**56)):014x}"]
        for _ in range(3)
    ]  # fmt: skip
    name = "stripe_export_wrong_folder.csv"
    return LandingFile("usage_events", name, STRIPE_COLUMNS, [(r, None) for r in rows], "unknown column set")


def _acquired_customers_file(rnd: random.Random, acquired: list[Profile], period: Period) -> LandingFile:
    """The acquired business's CRM export: customers that exist only in this file."""
    rows = [
        [p.external_id, p.name, p.email, p.phone, p.line1, p.line2 or "", p.city, p.state or "",
         p.postal_code, p.country, p.tax_id or "", p.currency, _iso_time(_moment(rnd, period.end))]
        for p in acquired
    ]  # fmt: skip
    return LandingFile("customers", f"crm_import_{period.end}.csv", CUSTOMER_COLUMNS, [(r, None) for r in rows])


def _csv_bytes(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    """RFC-4180 CSV in UTF-8 (JSON fields quoted, quotes doubled); lone surrogates planted by
    `_break_row` come out as the invalid raw bytes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8", "surrogateescape")


def _write_landing(landing: Path, files: list[LandingFile]) -> None:
    """Replace the CSVs in the inbox folders with `files` (archive/ and rejected/ stay untouched)."""
    for dataset in LANDING_DATASETS:
        inbox = landing / dataset
        inbox.mkdir(parents=True, exist_ok=True)
        for stale in sorted(inbox.glob("*.csv")):
            if stale.is_file():
                stale.unlink()
    for file in files:
        (landing / file.dataset / file.name).write_bytes(_csv_bytes(file.header, [row for row, _ in file.rows]))


def _quarantine_rows(files: list[LandingFile]) -> list[dict]:
    """Where the planted defects are: one record per bad line (1-based, the header is line 1)
    and one per rejected file (line null)."""
    records = []
    for file in files:
        if file.rejected_as:
            records.append({"dataset": file.dataset, "file": file.name, "line": None, "reason_code": file.rejected_as})
            continue
        records.extend(
            {"dataset": file.dataset, "file": file.name, "line": line, "reason_code": code}
            for line, (_, code) in enumerate(file.rows, start=2)
            if code
        )
    return records


# --- entry points ---------------------------------------------------------------------------


def _check_scale(days: int, accounts: int, usage_events: int, landing_usage_events: int) -> None:
    """Refuse sizes too small for the planted scenarios (late day >= 30 days old, overlaps, anonymous rows)."""
    if days < 31:
        raise ValueError(f"days must be >= 31 (the late export covers a day >= 30 days old), got {days}")
    if accounts < 20:
        raise ValueError(f"accounts must be >= 20, got {accounts}")
    if usage_events < 0:
        raise ValueError(f"usage_events must be >= 0, got {usage_events}")
    if landing_usage_events < 1_000:
        raise ValueError(f"landing_usage_events must be >= 1000, got {landing_usage_events}")


def generate_company(
    app_db_path: str | Path,
    landing_dir: str | Path,
    end_date: date,
    days: int = 92,
    seed: int = 7,
    accounts: int = 600,
    usage_events: int = 1_000_000,
    landing_usage_events: int = 60_000,
    expected_path: str | Path | None = None,
    warehouse_usage_events: int = 0,
) -> dict:
    """Write the sandbox company (app database, landing inboxes) for the `days` days ending at
    `end_date`, and return the expectations manifest, also written to `expected_path`
    (default: expected.json next to the app database). With `warehouse_usage_events`, each
    warehouse source (WAREHOUSE_USAGE) also gets that many usage records of its metric, written
    next to the app database (`warehouse_usage_path`)."""
    _check_scale(days, accounts, usage_events, landing_usage_events)
    app_db_path, landing_dir = Path(app_db_path), Path(landing_dir)
    expected_path = Path(expected_path) if expected_path else app_db_path.with_name("expected.json")
    period = Period(end_date - timedelta(days=days - 1), end_date)

    rnd = random.Random(f"billing-sandbox:{seed}")
    profiles, acquired = _people(rnd, accounts)
    app_accounts, subscriptions, items = _build_app(rnd, profiles, period.end)

    app_meter_rows = _app_meters(items, period)
    usage = _sample_usage(
        np.random.default_rng([seed, 1]), Meters.from_rows(app_meter_rows), usage_events, _day_cdf(period)
    )
    usage = usage.take(np.argsort(usage.seconds, kind="stable"))  # record ids follow time, as in the app
    _write_app_db(app_db_path, app_accounts, subscriptions, items, usage, period)

    landing_meters = Meters.from_rows(app_meter_rows + _acquired_meters(rnd, acquired, period))
    files = [
        _acquired_customers_file(rnd, acquired, period),
        *_usage_exports(np.random.default_rng([seed, 2]), landing_meters, period, landing_usage_events),
    ]
    _write_landing(landing_dir, files)

    warehouse_counts = {}
    for n, (source, (metric, id_prefix)) in enumerate(WAREHOUSE_USAGE.items(), start=3):
        if warehouse_usage_events > 0:
            meters = _metric_meters(Meters.from_rows(app_meter_rows), metric)
            lake = _sample_usage(np.random.default_rng([seed, n]), meters, warehouse_usage_events, _day_cdf(period))
            lake = lake.take(np.argsort(lake.seconds, kind="stable"))
            _write_warehouse_usage(warehouse_usage_path(app_db_path.parent, source), lake, id_prefix, period)
            warehouse_counts[f"usage_events_{source}"] = warehouse_usage_events

    quarantine_rows = _quarantine_rows(files)
    late_date = _late_date(period)
    manifest = {
        "seed": seed,
        "accounts": accounts,
        "start_date": period.start.isoformat(),
        "end_date": period.end.isoformat(),
        "counts": {
            "customers": len(app_accounts) + len(acquired),
            "contracts": len(subscriptions),
            "contract_items": len(items),
            "usage_events": usage_events + landing_usage_events + sum(warehouse_counts.values()),
            "usage_events_app_db": usage_events,
            "usage_events_landing": landing_usage_events,
            **warehouse_counts,
        },
        "quarantine": {code: sum(r["reason_code"] == code for r in quarantine_rows) for code in REASON_CODES},
        "quarantine_rows": quarantine_rows,
        "late_file": {"file": f"late_meter_export_{late_date}.csv", "date": late_date.isoformat()},
        "unknown_customer_events": UNKNOWN_CUSTOMER_EVENTS,
    }
    expected_path.parent.mkdir(parents=True, exist_ok=True)
    expected_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _people(rnd: random.Random, accounts: int) -> tuple[list[Profile], list[Profile]]:
    """The app's customers and those of the acquired business (known only from its CRM export)."""
    names = _company_names(rnd, accounts + ACQUIRED_CUSTOMERS)
    profiles = [_profile(rnd, f"CUS-{n:06d}", name) for n, name in enumerate(names[:accounts], start=1)]
    acquired = [_profile(rnd, f"ACQ-{n:04d}", name) for n, name in enumerate(names[accounts:], start=1)]
    return profiles, acquired


def app_company(end_date: date, seed: int = 7, accounts: int = 600) -> AppCompany:
    """The app's accounts, subscriptions and items exactly as `generate_company` makes them for the
    same end date, seed and size: what the SaaS stand-ins (Stripe, HubSpot, Sheets) hold of the
    same company, so its customers meet again in the canonical tables."""
    rnd = random.Random(f"billing-sandbox:{seed}")
    profiles, _ = _people(rnd, accounts)
    return _build_app(rnd, profiles, end_date)


def main(argv: list[str] | None = None) -> None:
    """CLI: generate the sandbox company and print a one-line summary."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    parser = argparse.ArgumentParser(
        prog="python -m billing_pipelines.sandbox.generate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--app-db", required=True, type=Path, help="SQLite app database to (re)create")
    parser.add_argument("--landing", required=True, type=Path, help="landing folder (inboxes <landing>/<dataset>/)")
    parser.add_argument("--end-date", type=date.fromisoformat, default=yesterday, help="last usage day (UTC)")
    parser.add_argument("--days", type=int, default=92, help="usage window length in days")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=600)
    parser.add_argument("--usage-events", type=int, default=1_000_000, help="usage records in the app database")
    parser.add_argument("--landing-usage-events", type=int, default=60_000, help="valid distinct events in landing")
    parser.add_argument(
        "--warehouse-usage-events", type=int, default=0, help="usage records in each warehouse source (Parquet seeds)"
    )
    parser.add_argument("--expected", type=Path, help="manifest path (default: expected.json next to --app-db)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    manifest = generate_company(
        args.app_db, args.landing, args.end_date, days=args.days, seed=args.seed, accounts=args.accounts,
        usage_events=args.usage_events, landing_usage_events=args.landing_usage_events, expected_path=args.expected,
        warehouse_usage_events=args.warehouse_usage_events,
    )  # fmt: skip
    counts = manifest["counts"]
    print(
        f"sandbox company {manifest['start_date']}..{manifest['end_date']} (seed {args.seed}): "
        f"{counts['customers']} customers, {counts['contracts']} contracts, {counts['contract_items']} items, "
        f"{counts['usage_events_app_db']:,} app usage records + {counts['usage_events_landing']:,} landing events, "
        f"{len(manifest['quarantine_rows'])} planted rejects; {time.perf_counter() - started:.1f}s "
        f"-> {args.app_db}, {args.landing}/, {args.expected or args.app_db.with_name('expected.json')}"
    )


if __name__ == "__main__":
    main()
