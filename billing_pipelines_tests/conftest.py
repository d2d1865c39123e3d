"""Shared fixtures: real PostgreSQL and MySQL (MariaDB) databases per test session, the
Snowflake and BigQuery stand-ins (started once per session, on first use), and a project config
per test."""

import os
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa

from billing_pipelines.config import current_config, parse_config
from billing_pipelines.lib import step_retries
from billing_pipelines.lib.runtime import apply_process_settings
from billing_pipelines.sandbox.bigquery_standin import running_bigquery
from billing_pipelines.sandbox.snowflake_standin import running_snowflake

apply_process_settings()

POSTGRES_ADMIN_URL = os.environ.get("BILLING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN_URL = os.environ.get("BILLING_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql")


def scratch_database(admin_url: str, drop_suffix: str = ""):
    """A fresh database on a running server, dropped afterwards.

    Unreachable server: skipped on a laptop, a failure in CI (CI=true) — never a silent pass."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"{admin.dialect.name} is required in CI and unreachable at {admin_url}: {error}")
        pytest.skip(f"{admin.dialect.name} unreachable at {admin_url}")
    name = f"billing_test_{uuid.uuid4().hex[:10]}"
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {quoted}"))
    yield admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE {quoted}{drop_suffix}"))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    yield from scratch_database(POSTGRES_ADMIN_URL, drop_suffix=" WITH (FORCE)")


@pytest.fixture(scope="session")
def mysql_url() -> str:
    yield from scratch_database(MYSQL_ADMIN_URL)


@pytest.fixture(scope="session")
def snowflake_standin(tmp_path_factory):
    """A fakesnow server, shared by the session: tests keep to their own tables or reseed them."""
    with running_snowflake(tmp_path_factory.mktemp("snowflake")) as standin:
        yield standin


@pytest.fixture(scope="session")
def bigquery(tmp_path_factory):
    """Settings of a running BigQuery emulator (`project`, `api_endpoint`, `client()`).

    The first session installs the emulator's own virtual environment (`.venvs/bqemulator`); later
    sessions reuse it. An emulator that cannot start fails the tests: it is never skipped."""
    with running_bigquery(tmp_path_factory.mktemp("bigquery")) as settings:
        yield settings


@pytest.fixture
def project_config(tmp_path, monkeypatch):
    """Write a billing.yaml into tmp_path (warehouse and landing there too) and use it."""

    def configure(body: str):
        path = tmp_path / "billing.yaml"
        path.write_text(f'history_start: "2026-08-01"\nwarehouse: {{path: warehouse.duckdb}}\n{body}')
        monkeypatch.setenv("BILLING_CONFIG", str(path))
        monkeypatch.delenv("BILLING_WAREHOUSE", raising=False)
        current_config.cache_clear()
        return parse_config(path.read_text(), str(path), base_dir=tmp_path)

    yield configure
    current_config.cache_clear()


@pytest.fixture
def quick_step_retries(monkeypatch):
    """The shipped retry policy of the raw loads' steps, with waits short enough for a test
    (applies to definitions built after it)."""
    policy = step_retries.RAW_LOAD_RETRY
    monkeypatch.setattr(step_retries, "RAW_LOAD_RETRY", dg.RetryPolicy(policy.max_retries, 0.05, policy.backoff))
