"""The warehouse every loader and model writes: a DuckDB file in the embedded default, or a
PostgreSQL, Snowflake or BigQuery warehouse (`warehouse.kind` in billing.yaml).

One resource owns the location, so dlt (raw layer), dbt (staging, canonical, marts) and the
read-side helpers always agree on where the data is: the kind picks dlt's destination and dbt's
target (dbt_project/profiles.yml) together, and `query` reads any of them. Secrets stay in the
environment variables the configuration names; the resource's own config holds only their names,
and no error or log line carries a secret.

DuckDB allows one writing process per file; every asset that writes is therefore in the
`warehouse` pool (limit 1 in dagster.yaml; a server warehouse lifts it). Every connection to a
DuckDB warehouse, dlt's, dbt's and the read-side helpers', gets the run's DuckDB memory limit and
spills to `<warehouse>.tmp/` beyond it (see `lib/memory.py`). A server warehouse's engine memory
is the server's; the run's budget still sizes the Arrow batches and dlt's buffer.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import dagster as dg
import dlt
import duckdb
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from pydantic import PrivateAttr, TypeAdapter
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from billing_pipelines.config import (
    WAREHOUSE_ENV,
    BigQueryWarehouseConfig,
    BillingConfig,
    PostgresWarehouseConfig,
    SnowflakeWarehouseConfig,
    WarehouseConfig,
)
from billing_pipelines.lib.memory import EngineLimits, engine_limits

WAREHOUSE_POOL = "warehouse"
CANONICAL_SCHEMA = "billing"
DUCKDB_MEMORY_LIMIT_ENV = "BILLING_DUCKDB_MEMORY_LIMIT"
DLT_BUFFER_ENV = "DATA_WRITER__BUFFER_MAX_ITEMS"
DBT_TARGET_ENV = "BILLING_DBT_TARGET"
STAGING_SUFFIX = "_staging"
"""dlt's name for the staging dataset beside a dataset (its merge loads land there first)."""
READS_PIPELINE = "billing_reads"
"""The dlt pipeline whose SQL client runs the read-side queries on a server warehouse."""
DUCKDB_RELATIONS = "SELECT table_schema, table_name FROM information_schema.tables"
EMULATOR_TOKEN = "emulator"
"""The token dbt-bigquery sends to a BigQuery emulator, which checks none."""

ServerConfig = PostgresWarehouseConfig | SnowflakeWarehouseConfig | BigQueryWarehouseConfig


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached as configured; says which variable to fix, never its value."""


RUN_LOCK_SUFFIX = ".runs.lock"


def hold_warehouse(path: Path, run_id: str, log) -> IO[str]:
    """Take the DuckDB warehouse for one run: an exclusive lock on `<file>.runs.lock`, held until
    the returned file is closed (the run's end), or by the kernel until its process dies, so a
    killed run never keeps it. A DuckDB run's steps run in its own process, one after another
    (`in_process_executor`), so the run holds it from its first step to its last: a second run
    waits here, before any step, rather than alternating steps with the first. The lock file
    names the run holding it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path.with_name(path.name + RUN_LOCK_SUFFIX), "a+")  # noqa: SIM115 (held for the run)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another run"
        log.info(f"waiting for the warehouse {path.name}: run {holder} is writing it (one run at a time on DuckDB)")
        fcntl.flock(handle, fcntl.LOCK_EX)
    handle.seek(0)
    handle.truncate()
    handle.write(run_id)
    handle.flush()
    return handle


class Warehouse(dg.ConfigurableResource):
    """Where the warehouse is (raw_<source> schemas, staging, billing), and the memory budget of a
    run that works on it.

    `path` is the DuckDB file; on a server warehouse, a file beside which local run state (dlt's
    pipeline folders) is kept. `server` is billing.yaml's `warehouse` section for a server kind
    (names of secret variables, never secrets), empty for DuckDB.
    """

    path: str
    memory_budget_mib: float = 2048
    server: dict[str, Any] = {}

    @property
    def kind(self) -> str:
        return self.server.get("kind", "duckdb")

    @property
    def server_config(self) -> ServerConfig:
        return TypeAdapter(WarehouseConfig).validate_python(self.server)

    @property
    def limits(self) -> EngineLimits:
        return engine_limits(self.memory_budget_mib)

    @property
    def duckdb_settings(self) -> dict[str, str]:
        """Settings of every connection: bounded memory (beyond it DuckDB spills to its default
        temp directory, `<warehouse file>.tmp/`) and no insertion-order bookkeeping, so large
        inserts stream. dbt's profile applies the same settings."""
        return {"memory_limit": self.limits.duckdb_memory_limit, "preserve_insertion_order": "false"}

    @property
    def identity(self) -> str:
        """Which warehouse this is, without credentials (keys dbt's parse cache)."""
        if self.kind == "duckdb":
            return str(Path(self.path).resolve())
        return server_identity(self.server_config)

    @property
    def drops_dependent_views(self) -> bool:
        """PostgreSQL binds a view to the relations it reads: dbt's replace of a table or view
        (swap, then DROP ... CASCADE) drops the views that read it."""
        return self.kind == "postgres"

    @property
    def exists(self) -> bool:
        """False for a DuckDB file not created yet (nothing to read); a server always exists."""
        return self.kind != "duckdb" or Path(self.path).exists()

    _run_lock: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Fail a run at its start, naming the variable, when a server warehouse's secret is
        missing. On DuckDB, hold the warehouse for the whole run (`hold_warehouse`): two runs
        over the same days never interleave, the second waits for the first to end."""
        if self.kind != "duckdb":
            dbt_environment(self.server_config)
        elif context.run is not None:
            self._run_lock = hold_warehouse(Path(self.path), context.run.run_id, context.log)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._run_lock is not None:
            self._run_lock.close()  # releases the lock
            self._run_lock = None

    def dlt_pipeline(self, pipeline_name: str, dataset_name: str) -> dlt.Pipeline:
        """A dlt pipeline loading into `dataset_name` (a `raw_<source>` schema) of this warehouse."""
        location = Path(self.path)
        location.parent.mkdir(parents=True, exist_ok=True)
        # dlt's write buffer holds this many rows before writing them to its load files.
        os.environ[DLT_BUFFER_ENV] = str(self.limits.source_batch_rows)
        if self.kind == "duckdb":
            credentials = DuckDbCredentials(str(location), global_config=self.duckdb_settings)
            destination = dlt.destinations.duckdb(credentials)
        else:
            destination = dlt_destination(self.server_config)
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=destination,
            dataset_name=dataset_name,
            pipelines_dir=str(location.parent / ".dlt_pipelines"),
        )

    def export_for_dbt(self) -> None:
        """dbt's profile reads its target and the warehouse's location (and, for DuckDB, its
        limits) from the environment."""
        if self.kind == "duckdb":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            os.environ.update(
                {
                    DBT_TARGET_ENV: "duckdb",
                    WAREHOUSE_ENV: str(Path(self.path).resolve()),
                    DUCKDB_MEMORY_LIMIT_ENV: self.duckdb_settings["memory_limit"],
                }
            )
        else:
            os.environ.update(dbt_environment(self.server_config))

    @contextmanager
    def connect(self, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the DuckDB warehouse file (DuckDB only; `query` reads any kind)."""
        if self.kind != "duckdb":
            raise WarehouseError(f"connect() opens the DuckDB file; this warehouse is {self.kind}: use query()")
        connection = duckdb.connect(self.path, read_only=read_only, config=self.duckdb_settings)
        try:
            yield connection
        finally:
            connection.close()

    def query(self, sql: str) -> list[tuple]:
        """The rows of a read query, whatever the warehouse: DuckDB read-only; PostgreSQL and
        Snowflake through dlt's SQL client for the destination; BigQuery through its client
        (which, unlike dlt's, reaches an emulator's `api_endpoint`)."""
        if self.kind == "duckdb":
            with self.connect() as connection:
                return connection.execute(sql).fetchall()
        if self.kind == "bigquery":
            return [tuple(row.values()) for row in bigquery_client(self.server_config).query(sql).result()]
        with self.dlt_pipeline(READS_PIPELINE, CANONICAL_SCHEMA).sql_client() as client:
            return [tuple(row) for row in client.execute_sql(sql) or []]

    def relations_sql(self) -> str:
        """A query listing (schema, name) of every table and view, in the warehouse's own case."""
        return DUCKDB_RELATIONS if self.kind == "duckdb" else relations_sql(self.server_config)

    def has_row_ids(self, dataset_name: str) -> bool:
        """Whether a raw table of `dataset_name` has dlt's per-row `_dlt_id` column: tables made
        before loads stopped writing it (see `lib/runtime.py`) declare it, and their loads keep
        filling it (a load without it would fail there)."""
        if not self.exists:
            return False
        config = None if self.kind == "duckdb" else self.server_config
        return bool(self.query(row_id_columns_sql(config, [dataset_name, f"{dataset_name}{STAGING_SUFFIX}"])))


def warehouse_for(config: BillingConfig) -> Warehouse:
    """The warehouse resource of a configuration: its location and the run's memory budget."""
    server = {} if config.warehouse.kind == "duckdb" else config.warehouse.model_dump(by_alias=True, exclude_none=True)
    return Warehouse(path=str(config.warehouse_path), memory_budget_mib=config.memory_budget_mib, server=server)


# --- server warehouses: pure functions of the configuration (and the secrets it names) ----------


def secret(name: str, holds: str) -> str:
    """The value of the environment variable `name`, which must hold `holds`."""
    value = os.environ.get(name)
    if not value:
        raise WarehouseError(f"environment variable {name} is not set: it must hold {holds}")
    return value


def postgres_url(config: PostgresWarehouseConfig) -> URL:
    """The PostgreSQL URL in the variable `url_env` names; an error never repeats the URL."""
    holds = "the warehouse URL, postgresql://user:password@host:5432/dbname"
    try:
        url = make_url(secret(config.url_env, holds))
    except ArgumentError:
        raise WarehouseError(f"environment variable {config.url_env} does not hold {holds}") from None
    if not url.drivername.startswith("postgres") or not url.host or not url.database:
        raise WarehouseError(f"environment variable {config.url_env} does not hold {holds}")
    return url


def bigquery_key(config: BigQueryWarehouseConfig) -> str | None:
    """The service-account key JSON in `credentials_env`; None = application-default credentials."""
    return secret(config.credentials_env, "a service-account key JSON") if config.credentials_env else None


def snowflake_secret(config: SnowflakeWarehouseConfig) -> dict[str, str]:
    """`password` or `private_key` (PEM) from the variable the configuration names."""
    if config.private_key_env:
        return {"private_key": secret(config.private_key_env, "a PEM private key")}
    if config.password_env:
        return {"password": secret(config.password_env, "the Snowflake password")}
    raise WarehouseError("warehouse: name the variable holding the password (password_env) or key (private_key_env)")


def dbt_environment(config: ServerConfig) -> dict[str, str]:
    """The variables dbt's profile reads for this warehouse's target (dbt_project/profiles.yml).
    Secrets go into DBT_ENV_SECRET_* variables, which dbt keeps out of its logs."""
    if isinstance(config, PostgresWarehouseConfig):
        url = postgres_url(config)
        return {
            DBT_TARGET_ENV: "postgres",
            "BILLING_PG_HOST": url.host,
            "BILLING_PG_PORT": str(url.port or 5432),
            "BILLING_PG_USER": url.username or "",
            "DBT_ENV_SECRET_BILLING_PG_PASSWORD": url.password or "",
            "BILLING_PG_DBNAME": url.database,
            "BILLING_PG_SSLMODE": str(url.query.get("sslmode", "prefer")),
            "PGTZ": "UTC",  # libpq's session time zone: text timestamps without an offset are UTC
        }
    if isinstance(config, SnowflakeWarehouseConfig):
        secrets = {
            f"DBT_ENV_SECRET_BILLING_SF_{name.upper()}": value for name, value in snowflake_secret(config).items()
        }
        settings = {
            "ACCOUNT": config.account,
            "USER": config.user,
            "DATABASE": config.database,
            "WAREHOUSE": config.warehouse,
            "ROLE": config.role,
            "HOST": config.host,
            "PORT": config.port,
            "PROTOCOL": config.protocol,
        }
        return {
            DBT_TARGET_ENV: "snowflake",
            **{f"BILLING_SF_{name}": str(value) for name, value in settings.items() if value is not None},
            **secrets,
        }
    key = bigquery_key(config)
    environment = {DBT_TARGET_ENV: "bigquery", "BILLING_BQ_PROJECT": config.project}
    if config.location:
        environment["BILLING_BQ_LOCATION"] = config.location
    if config.api_endpoint:
        environment["BILLING_BQ_API_ENDPOINT"] = config.api_endpoint
    if key:
        environment["BILLING_BQ_METHOD"] = "service-account-json"
        environment["DBT_ENV_SECRET_BILLING_BQ_KEYFILE_JSON"] = base64.b64encode(key.encode()).decode()
    elif config.api_endpoint:  # an emulator checks no credentials; dbt-bigquery still wants some
        environment["BILLING_BQ_METHOD"] = "oauth-secrets"
        environment["DBT_ENV_SECRET_BILLING_BQ_TOKEN"] = EMULATOR_TOKEN
    else:
        environment["BILLING_BQ_METHOD"] = "oauth"  # the machine's application-default credentials
    return environment


def bigquery_client(config: BigQueryWarehouseConfig) -> Any:
    """A BigQuery client of the warehouse project: with the key in `credentials_env`, else the
    machine's application-default credentials, or none for an emulator's `api_endpoint`."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery
    from google.oauth2 import service_account

    key = bigquery_key(config)
    if key:
        credentials = service_account.Credentials.from_service_account_info(json.loads(key))
    else:
        credentials = AnonymousCredentials() if config.api_endpoint else None
    options = {"api_endpoint": config.api_endpoint} if config.api_endpoint else None
    return bigquery.Client(config.project, credentials, location=config.location, client_options=options)


def dlt_destination(config: ServerConfig) -> Any:
    """dlt's destination for a server warehouse. The secret is read when one is set; otherwise
    (loading definitions without it) dlt gets none and the run fails at its start, naming it."""
    import google.oauth2.credentials
    from dlt.common.configuration.specs import GcpOAuthCredentials, GcpServiceAccountCredentials
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials
    from dlt.destinations.impl.snowflake.configuration import SnowflakeCredentials

    if isinstance(config, PostgresWarehouseConfig):
        if not os.environ.get(config.url_env):
            return dlt.destinations.postgres()
        url = postgres_url(config)
        credentials = PostgresCredentials()
        credentials.parse_native_representation(url.render_as_string(hide_password=False))
        credentials.password = url.password or ""  # a server with trust or peer authentication has none
        return dlt.destinations.postgres(credentials=credentials)
    if isinstance(config, SnowflakeWarehouseConfig):
        credentials = SnowflakeCredentials()
        credentials.host, credentials.username, credentials.database = config.account, config.user, config.database
        credentials.warehouse, credentials.role = config.warehouse, config.role
        if os.environ.get(config.private_key_env or config.password_env or ""):
            for name, value in snowflake_secret(config).items():
                setattr(credentials, name, value)
        # host/port/protocol reach a private link or a local stand-in; the connector takes them as-is
        credentials.query = {
            name: value
            for name, value in {"host": config.host, "port": config.port, "protocol": config.protocol}.items()
            if value is not None
        }
        return dlt.destinations.snowflake(credentials=credentials)
    key = bigquery_key(config) if os.environ.get(config.credentials_env or "") else None
    if key:
        credentials = GcpServiceAccountCredentials()
        credentials.parse_native_representation(key)
    elif config.api_endpoint:  # an emulator checks none (dlt has no endpoint setting: see README)
        credentials = GcpOAuthCredentials()
        credentials.parse_native_representation(google.oauth2.credentials.Credentials(token=EMULATOR_TOKEN))
        credentials.project_id = config.project
    else:
        credentials = None  # the machine's application-default credentials
    return dlt.destinations.bigquery(
        credentials=credentials, location=config.location or "US", project_id=config.project
    )


def relations_sql(config: ServerConfig) -> str:
    """Every table and view of the warehouse from its information_schema, as (schema, name)."""
    if isinstance(config, SnowflakeWarehouseConfig):
        return f'SELECT table_schema, table_name FROM "{config.database.upper()}".information_schema.tables'
    if isinstance(config, BigQueryWarehouseConfig):
        region = f"region-{(config.location or 'US').lower()}"
        return f"SELECT table_schema, table_name FROM `{config.project}`.`{region}`.INFORMATION_SCHEMA.TABLES"
    return (
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
    )


def row_id_columns_sql(config: ServerConfig | None, schemas: list[str]) -> str:
    """(schema, table) of every data table in `schemas` with a `_dlt_id` column (config None:
    DuckDB; dlt's own `_dlt_*` tables always have one), matched without regard to case
    (Snowflake folds dlt's names to upper case)."""
    names = ", ".join(f"'{schema.upper()}'" for schema in schemas)
    where = (
        f"upper(table_schema) IN ({names}) AND upper(substr(table_name, 1, 4)) <> '_DLT'"
        " AND upper(column_name) = '_DLT_ID'"
    )
    columns = "SELECT table_schema, table_name FROM"
    if isinstance(config, SnowflakeWarehouseConfig):
        return f'{columns} "{config.database.upper()}".information_schema.columns WHERE {where}'
    if isinstance(config, BigQueryWarehouseConfig):
        region = f"region-{(config.location or 'US').lower()}"
        return f"{columns} `{config.project}`.`{region}`.INFORMATION_SCHEMA.COLUMNS WHERE {where}"
    return f"{columns} information_schema.columns WHERE {where}"


def server_identity(config: ServerConfig) -> str:
    """Which server warehouse a configuration points at, with no credentials in it."""
    if isinstance(config, PostgresWarehouseConfig):
        url = postgres_url(config)
        return f"postgres://{url.host}:{url.port or 5432}/{url.database}"
    if isinstance(config, SnowflakeWarehouseConfig):
        return f"snowflake://{config.host or config.account}:{config.port or ''}/{config.database}"
    return f"bigquery://{config.api_endpoint or ''}/{config.project}"
