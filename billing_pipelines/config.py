"""The `billing.yaml` model: what a deployment loads, from where, and since when.

The file is validated once, when the code location loads. A mistake fails the load with the
file, the line and the key path, and says what was expected, e.g.::

    billing.yaml:14: sources.app_db.datasets.usage_events.query: missing :window_end parameter

Secrets never live in the file: a source names the environment variable that holds them.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from billing_pipelines.lib.event_time_range import EventTimeRange

CONFIG_ENV = "BILLING_CONFIG"
WAREHOUSE_ENV = "BILLING_WAREHOUSE"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "billing.yaml"

DATASETS = ("customers", "contracts", "contract_items", "usage_events")
"""The canonical datasets every channel feeds. `usage_events` is daily-partitioned by event
time; the others are state, merged on their key."""

PARTITIONED_DATASETS = ("usage_events",)
STATE_DATASETS = tuple(dataset for dataset in DATASETS if dataset not in PARTITIONED_DATASETS)

DatasetName = Literal["customers", "contracts", "contract_items", "usage_events"]
WINDOW_PARAMETERS = ("window_start", "window_end")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_MEMORY_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(MiB|GiB)\s*$")
MIN_MEMORY_BUDGET_MIB = 512


class ConfigError(ValueError):
    """`billing.yaml` is not valid; the message names file, line, key path and expectation."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlDatasetConfig(_Strict):
    """How one dataset is read from a SQL database or warehouse: a table with a cursor column,
    or a query.

    A query template selects the rows whose cursor lies in `[:window_start, :window_end)`. The
    engine binds both as query parameters (SQLAlchemy, Snowflake, BigQuery); the bulk readers of
    Postgres and MySQL, whose drivers stream only unbound statements, write them as typed
    timestamp literals rendered from `datetime` values alone. Nothing from the file, a partition
    key or the data is ever formatted into SQL.
    """

    table: str | None = Field(None, description="[schema.]table to read")
    query: str | None = Field(None, description="SELECT with :window_start and :window_end")
    cursor: str = Field(description="column that orders changes: event time or updated_at")
    primary_key: list[str] = Field(min_length=1, description="columns identifying a row")

    @field_validator("primary_key", mode="before")
    @classmethod
    def _one_key_is_a_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlDatasetConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of `table` or `query`")
        if self.query is not None:
            missing = [p for p in WINDOW_PARAMETERS if not re.search(rf":{p}\b", self.query)]
            if missing:
                raise ValueError(f"query: missing :{missing[0]} parameter")
        return self


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.match(value):
        raise ValueError("must be an environment variable NAME like APP_DB_URL")
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]
"""The NAME of an environment variable that holds a secret (a URL with a password, a key)."""


class SqlSourceConfig(_Strict):
    """A database read over SQL: Postgres (ADBC) and MySQL/MariaDB (ConnectorX) as Arrow record
    batches, SQLite or any other SQLAlchemy dialect through SQLAlchemy."""

    kind: Literal["sql"]
    enabled: bool = True
    url: str | None = Field(None, description="SQLAlchemy URL without a password (e.g. SQLite)")
    url_env: EnvName | None = Field(None, description="environment variable holding the URL")
    description: str = ""
    datasets: dict[DatasetName, SqlDatasetConfig] = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _no_secret_in_file(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            password = make_url(value).password
        except ArgumentError:
            raise ValueError("is not a SQLAlchemy URL like sqlite:///data/app.sqlite") from None
        if password is not None:
            raise ValueError("contains a password: put the URL in an environment variable and name it in url_env")
        return value

    @model_validator(mode="after")
    def _url_or_env(self) -> SqlSourceConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of `url` or `url_env`")
        return self


class SnowflakeConnection(_Strict):
    """How to reach a Snowflake account. The password or private key lives in the environment
    variable named here; `host`/`port`/`protocol` reach a private link or a local stand-in."""

    account: str = Field(description="account identifier, e.g. myorg-myaccount")
    user: str
    password_env: EnvName | None = Field(None, description="environment variable holding the password")
    private_key_env: EnvName | None = Field(None, description="environment variable holding a PEM private key")
    warehouse: str | None = Field(None, description="virtual warehouse that runs the queries")
    database: str
    schema_: str | None = Field(None, alias="schema", description="default schema")
    role: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: Literal["https", "http"] | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> SnowflakeConnection:
        if self.password_env is not None and self.private_key_env is not None:
            raise ValueError("give at most one of `password_env` or `private_key_env`")
        return self


class BigQueryConnection(_Strict):
    """How to reach BigQuery: the project that runs (and pays for) the queries, its location,
    and the environment variable holding a service-account key JSON (none: the machine's
    application-default credentials). `api_endpoint` reaches a local stand-in."""

    project: str
    location: str | None = Field(None, description="e.g. US, EU, europe-west1")
    credentials_env: EnvName | None = Field(None, description="environment variable holding the key JSON")
    api_endpoint: str | None = Field(None, description="REST endpoint; only for an emulator")


class SnowflakeSourceConfig(SnowflakeConnection):
    """Usage or state held in Snowflake, read with the user's SQL through dagster-snowflake."""

    kind: Literal["snowflake"]
    enabled: bool = True
    description: str = ""
    datasets: dict[DatasetName, SqlDatasetConfig] = Field(min_length=1)


class BigQuerySourceConfig(BigQueryConnection):
    """Usage or state held in BigQuery, read with the user's SQL through dagster-gcp."""

    kind: Literal["bigquery"]
    enabled: bool = True
    description: str = ""
    datasets: dict[DatasetName, SqlDatasetConfig] = Field(min_length=1)


class ApiSourceConfig(_Strict):
    """A SaaS API read over HTTPS. `base_url` reaches the real service unless it is pointed at a
    local stand-in; every request is retried up to `max_attempts` times (429, 5xx, resets)."""

    enabled: bool = True
    description: str = ""
    base_url: str
    max_attempts: int = Field(6, ge=1, le=20, description="attempts per request before the sync fails")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL like https://api.stripe.com")
        return value.rstrip("/")


class StripeSourceConfig(ApiSourceConfig):
    """A Stripe account: customers, products, prices and subscriptions, kept current through
    Stripe's events feed. A customer is matched to the company's own by its metadata key
    `external_id_key`; one without it stays a customer of its own."""

    kind: Literal["stripe"]
    base_url: str = "https://api.stripe.com"
    api_key_env: EnvName = Field("STRIPE_API_KEY", description="environment variable holding a (restricted) key")
    external_id_key: str = Field("external_id", description="customer metadata key holding your customer id")
    webhook_secret_env: EnvName | None = Field(
        None,
        description="variable holding the webhook endpoint's signing secret (whsec_…): enables /v1/webhooks/stripe",
    )


class HubSpotSourceConfig(ApiSourceConfig):
    """A HubSpot portal: companies (customers), deals with their line items and products
    (contracts), kept current through search on the last-modified date."""

    kind: Literal["hubspot"]
    base_url: str = "https://api.hubapi.com"
    token_env: EnvName = Field("HUBSPOT_TOKEN", description="environment variable holding a private-app token")
    external_id_property: str = Field("external_customer_id", description="company property holding your id")
    contract_start_property: str = "contract_start_date__zenskar_"
    contract_end_property: str = "contract_end_date__zenskar_"
    search_requests_per_second: float = Field(4, gt=0, le=10, description="HubSpot allows ~4 searches/s")
    client_secret_env: EnvName | None = Field(
        None,
        description="variable holding the app's client secret (X-HubSpot-Signature-v3): enables /v1/webhooks/hubspot",
    )


SheetDatasetName = Literal["customers", "contracts", "contract_items"]


class GoogleSheetsSourceConfig(ApiSourceConfig):
    """A spreadsheet a billing team keeps by hand: one tab per dataset, headed like the CSV
    templates (or mapped in `columns`), read whole on every sync."""

    kind: Literal["google_sheets"]
    base_url: str = "https://sheets.googleapis.com"
    spreadsheet_id: str
    credentials_env: EnvName = Field(
        "GOOGLE_SHEETS_CREDENTIALS", description="environment variable holding a service-account key JSON"
    )
    tabs: dict[SheetDatasetName, str] = Field(min_length=1, description="dataset -> tab name")
    columns: dict[SheetDatasetName, dict[str, str]] = Field(
        default_factory=dict, description="dataset -> {template column: the sheet's header}"
    )


PulledSource = SqlSourceConfig | SnowflakeSourceConfig | BigQuerySourceConfig
ApiSource = StripeSourceConfig | HubSpotSourceConfig | GoogleSheetsSourceConfig
SourceConfig = Annotated[PulledSource | ApiSource, Field(discriminator="kind")]
"""One entry of `sources:`; `kind` says how it is read."""


class DuckDBWarehouseConfig(_Strict):
    """The embedded default: one DuckDB file, one writer at a time."""

    kind: Literal["duckdb"] = "duckdb"
    path: str = Field("data/warehouse.duckdb", description="DuckDB file, relative to billing.yaml")


class PostgresWarehouseConfig(_Strict):
    """A PostgreSQL database; its URL (with the password) lives in the variable `url_env` names."""

    kind: Literal["postgres"]
    url_env: EnvName = Field("BILLING_WAREHOUSE_URL", description="variable holding postgresql://user:pw@host/db")


class SnowflakeWarehouseConfig(SnowflakeConnection):
    """A Snowflake database: raw_<source> and billing are schemas in it."""

    kind: Literal["snowflake"]


class BigQueryWarehouseConfig(BigQueryConnection):
    """A BigQuery project: raw_<source> and billing are datasets in it."""

    kind: Literal["bigquery"]


WarehouseConfig = Annotated[
    DuckDBWarehouseConfig | PostgresWarehouseConfig | SnowflakeWarehouseConfig | BigQueryWarehouseConfig,
    Field(discriminator="kind"),
]
"""Where the raw and canonical tables live. DuckDB is the embedded default."""


class LandingConfig(_Strict):
    """The landing zone: one inbox folder per dataset; accepted files are archived, never deleted."""

    enabled: bool = True
    path: str = Field("landing", description="folder, relative to billing.yaml")
    poll_seconds: int = Field(30, ge=5, description="how often the sensor looks for new files")


class SchedulesConfig(_Strict):
    """The contemporary sync: latest usage partitions plus the incremental state loads."""

    sync_cron: str = "15 * * * *"
    sync_latest_partitions: int = Field(2, ge=1, le=31, description="usage days re-synced each tick")
    timezone: str = "UTC"
    freshness_hours: float = Field(26, gt=0, description="canonical tables older than this fail freshness")

    @field_validator("sync_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("must be a five-field cron expression like '15 * * * *'")
        return value


_HTTP_URL = re.compile(r"^https?://[^\s/]+")


def _http_url(value: str) -> str:
    if not _HTTP_URL.match(value):
        raise ValueError("must be an http(s) URL like https://hooks.example.com/billing")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class SlackNotifierConfig(_Strict):
    """Posts alerts to a Slack channel through dagster-slack (`chat.postMessage`) with a bot
    token read from the variable `token_env`. `base_url` reaches a stand-in in tests."""

    kind: Literal["slack"]
    enabled: bool = True
    channel: str = Field(min_length=1, description="channel name (#billing-ops) or id")
    token_env: EnvName = Field("SLACK_BOT_TOKEN", description="environment variable holding a bot token")
    base_url: HttpUrl = Field("https://slack.com/api/", description="Slack Web API root")

    @field_validator("base_url")
    @classmethod
    def _api_root(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


class WebhookNotifierConfig(_Strict):
    """POSTs each alert as JSON to `url`, signed the Standard Webhooks way (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`) with the `whsec_…` secret held in `secret_env`."""

    kind: Literal["webhook"]
    enabled: bool = True
    url: HttpUrl
    secret_env: EnvName = Field("BILLING_ALERT_WEBHOOK_SECRET", description="environment variable holding whsec_…")


class EmailNotifierConfig(_Strict):
    """Sends each alert as an e-mail over SMTP. A login (`username` with the password in
    `password_env`) needs STARTTLS: a password never crosses the network in clear text."""

    kind: Literal["email"]
    enabled: bool = True
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    from_: str = Field(alias="from", min_length=3, description="sender address")
    to: list[str] = Field(min_length=1, description="recipient addresses")
    username: str | None = None
    password_env: EnvName | None = Field(None, description="environment variable holding the SMTP password")

    @field_validator("to", mode="before")
    @classmethod
    def _one_address_is_a_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _login_over_tls(self) -> EmailNotifierConfig:
        if (self.username is None) != (self.password_env is None):
            raise ValueError("give both `username` and `password_env`, or neither")
        if self.username is not None and not self.starttls:
            raise ValueError("a login needs `starttls: true` (the password is never sent unencrypted)")
        return self


NotifierConfig = Annotated[
    SlackNotifierConfig | WebhookNotifierConfig | EmailNotifierConfig, Field(discriminator="kind")
]
"""One entry of `alerts.notifiers:`; `kind` says where the alert goes."""


class AlertsConfig(_Strict):
    """Where operators hear about failed runs, failed ERROR checks and stale canonical tables."""

    ui_base_url: HttpUrl = Field("http://127.0.0.1:3000", description="the Dagster UI, for run and asset links")
    notifiers: dict[str, NotifierConfig] = Field(default_factory=dict)
    max_attempts: int = Field(3, ge=1, le=10, description="tries per notifier before the alert is logged as lost")
    backoff_seconds: float = Field(1.0, ge=0, le=30, description="first wait between tries; doubles each time")

    @field_validator("ui_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("notifiers", mode="before")
    @classmethod
    def _notifier_names(cls, value: object) -> object:
        for name in value if isinstance(value, dict) else ():
            if not _IDENTIFIER.match(str(name)):
                raise ValueError(f"notifier name {name!r} must be lower_snake_case")
        return value

    @property
    def enabled_notifiers(self) -> dict[str, SlackNotifierConfig | WebhookNotifierConfig | EmailNotifierConfig]:
        return {name: notifier for name, notifier in self.notifiers.items() if notifier.enabled}


WebhookEventType = Literal["upload.processed", "events.quarantined", "sync.failed"]
"""What an outbound webhook subscription can hear about: an upload or a pushed batch carried into
the canonical tables, records of it quarantined, a sync that failed."""


class WebhookSubscriptionConfig(_Strict):
    """One receiver of ingestion events: each delivery is POSTed as JSON, signed the Standard
    Webhooks way with the `whsec_…` secret held in `secret_env`, retried with backoff."""

    enabled: bool = True
    url: HttpUrl
    secret_env: EnvName = Field(description="environment variable holding whsec_…")
    events: list[WebhookEventType] = Field(min_length=1, description="event types this receiver gets")


class IngestApiConfig(_Strict):
    """The push API (`make api`): where it keeps its own state, and the limits it enforces.

    Host and port come from `BILLING_API_HOST` / `BILLING_API_PORT`; pushed records land in the
    landing zone, so the landing sensor carries them into the canonical tables."""

    state_path: str = Field("data/ingest_api", description="API keys (hashed) and idempotency records")
    workers: int = Field(1, ge=1, le=64, description="API processes serving the port (one per core is the most useful)")
    requests_per_second: float = Field(1000, gt=0, description="sustained requests per second per API key")
    burst: int = Field(2000, ge=1, description="requests a key may send at once before the rate applies")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest JSON body accepted")
    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1024, description="largest CSV upload accepted")
    idempotency_hours: float = Field(24, ge=24, description="how long an Idempotency-Key replays its answer")
    event_index_hours: float = Field(
        24,
        gt=0,
        description="how long the API answers `duplicate` for an event_id it landed (canonical dedups forever)",
    )
    event_index_max_ids: int = Field(
        5_000_000, ge=1000, description="most event ids the API keeps in memory for that answer (~150 bytes each)"
    )
    segment_seconds: float = Field(
        5, gt=0, le=3600, description="how long pushes collect in one landing file before the sensor may take it"
    )


def memory_size_mib(text: str) -> float:
    """`'2GiB'` → 2048.0, `'1536MiB'` → 1536.0."""
    match = _MEMORY_SIZE.match(str(text))
    if not match:
        raise ValueError(f"must be a size like '2GiB' or '1536MiB', got {text!r}")
    return float(match[1]) * (1024 if match[2] == "GiB" else 1)


class BillingConfig(_Strict):
    """Everything `billing.yaml` declares."""

    history_start: date = Field(description="first day of usage history (UTC), YYYY-MM-DD")
    future_tolerance_minutes: float = Field(
        60,
        ge=0,
        le=525_600,
        description="how far after its arrival a usage event's timestamp may lie; later ones are quarantined",
    )
    memory_budget: str = Field("2GiB", description="most memory one run may use, all engines together")
    warehouse: WarehouseConfig = DuckDBWarehouseConfig()
    landing: LandingConfig = LandingConfig()
    schedules: SchedulesConfig = SchedulesConfig()
    alerts: AlertsConfig = AlertsConfig()
    ingest_api: IngestApiConfig = IngestApiConfig()
    webhooks: dict[str, WebhookSubscriptionConfig] = Field(
        default_factory=dict, description="outbound webhook subscriptions for ingestion events"
    )
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    base_dir: Path = Field(PROJECT_ROOT, exclude=True, description="folder relative paths start from")

    @field_validator("sources", mode="before")
    @classmethod
    def _source_names(cls, value: object) -> object:
        for name in value if isinstance(value, dict) else ():
            if not _IDENTIFIER.match(name) or name == "landing":
                raise ValueError(
                    f"source name {name!r} must be lower_snake_case and not 'landing' "
                    "(it becomes the schema raw_<name>)"
                )
        return value

    @field_validator("warehouse", mode="before")
    @classmethod
    def _duckdb_unless_said(cls, value: object) -> object:
        if isinstance(value, dict) and "kind" not in value:
            return {**value, "kind": "duckdb"}
        return value

    @field_validator("memory_budget")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        if memory_size_mib(value) < MIN_MEMORY_BUDGET_MIB:
            raise ValueError(f"must be at least {MIN_MEMORY_BUDGET_MIB}MiB: a run needs that much for its processes")
        return value

    @property
    def memory_budget_mib(self) -> float:
        return memory_size_mib(self.memory_budget)

    @property
    def event_time_range(self) -> EventTimeRange:
        """The event times a usage record may have to be billed (every channel applies it)."""
        return EventTimeRange(self.history_start, timedelta(minutes=self.future_tolerance_minutes))

    @property
    def enabled_sources(self) -> dict[str, PulledSource | ApiSource]:
        return {name: source for name, source in self.sources.items() if source.enabled}

    @property
    def enabled_pulled_sources(self) -> dict[str, PulledSource]:
        """The enabled sources read with the user's SQL, dataset by dataset."""
        return {name: s for name, s in self.enabled_sources.items() if not isinstance(s, ApiSourceConfig)}

    @property
    def enabled_api_sources(self) -> dict[str, ApiSource]:
        """The enabled SaaS sources, read through their APIs into tables of their own shape."""
        return {name: s for name, s in self.enabled_sources.items() if isinstance(s, ApiSourceConfig)}

    def enabled_sources_of(self, kind: str) -> dict:
        """The enabled sources read one way (`sql`, `snowflake`, `stripe`, …)."""
        return {name: source for name, source in self.enabled_sources.items() if source.kind == kind}

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file; `BILLING_WAREHOUSE` overrides the configured path. On a server
        warehouse, the folder beside billing.yaml's data where local run state is kept."""
        configured = self.warehouse.path if self.warehouse.kind == "duckdb" else "data/warehouse.duckdb"
        return self._resolve(os.environ.get(WAREHOUSE_ENV) or configured)

    @property
    def landing_path(self) -> Path:
        return self._resolve(self.landing.path)

    @property
    def ingest_api_state_path(self) -> Path:
        return self._resolve(self.ingest_api.state_path)

    def _resolve(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()


def parse_config(text: str, file_name: str = "billing.yaml", base_dir: Path = PROJECT_ROOT) -> BillingConfig:
    """Validate YAML text; errors name the file, the line and the key path."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{file_name}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file_name}: expected a mapping of settings at the top level")
    try:
        return BillingConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as error:
        raise ConfigError("\n".join(_describe(e, root, file_name) for e in error.errors())) from None


_KIND_TAGS = {"sql", "snowflake", "bigquery", "stripe", "hubspot", "google_sheets", "duckdb", "postgres"}
_NOTIFIER_TAGS = {"slack", "webhook", "email"}


def _key_path(loc: tuple) -> list[str]:
    """pydantic's location of an error as the keys written in the file: without the `kind` tag
    it inserts after `sources.<name>`, `warehouse` and
    `alerts.notifiers.<name>` (the discriminated unions)."""
    path = [str(part) for part in loc if part != "[key]"]
    tag_at = 2 if path[:1] == ["sources"] else 1 if path[:1] == ["warehouse"] else None
    if tag_at is not None and len(path) > tag_at and path[tag_at] in _KIND_TAGS:
        del path[tag_at]
    if path[:2] == ["alerts", "notifiers"] and len(path) > 3 and path[3] in _NOTIFIER_TAGS:
        del path[3]
    return path


def _describe(error: dict, root: yaml.Node | None, file_name: str) -> str:
    path = _key_path(error["loc"])
    # pydantic wraps model-level checks in "Value error, ..."; keep only the user's message.
    message = error["msg"].removeprefix("Value error, ")
    if message.startswith("query: "):
        path.append("query")
        message = message.removeprefix("query: ")
    line = _line_of(root, path)
    where = f"{file_name}:{line}" if line else file_name
    return f"{where}: {'.'.join(path) or '(top level)'}: {message}"


def _line_of(node: yaml.Node | None, path: list[str]) -> int | None:
    """1-based line of the deepest key on `path` that exists in the file."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if not isinstance(node, yaml.MappingNode):
            break
        entry = next(((key, value) for key, value in node.value if key.value == part), None)
        if entry is None:
            break
        line, node = entry[0].start_mark.line + 1, entry[1]
    return line


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH).expanduser().resolve()


def load_config(path: Path | None = None) -> BillingConfig:
    """Read and validate `billing.yaml` (or the file `BILLING_CONFIG` names)."""
    path = path or config_path()
    if not path.exists():
        raise ConfigError(f"{path}: configuration file not found (set {CONFIG_ENV} to point elsewhere)")
    return parse_config(path.read_text(), file_name=str(path), base_dir=path.parent)


@cache
def current_config() -> BillingConfig:
    """The configuration this process runs with, read once."""
    return load_config()
