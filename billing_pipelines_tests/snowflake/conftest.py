"""The Snowflake stand-in (the session's fakesnow server, `snowflake_standin` in the root
conftest) seeded with usage, and the billing.yaml entry of a source reading it."""

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import snowflake.connector

from billing_pipelines.sandbox.snowflake_standin import (
    STANDIN_PASSWORD,
    USAGE_DATABASE,
    USAGE_SCHEMA,
    seed_usage,
)

PASSWORD_ENV = "USAGE_LAKE_PASSWORD"
HOSTILE_METRIC = "x'); DROP TABLE METERED_USAGE; --"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


SEED_EVENTS = [
    # event_id, account, metric, quantity, occurred_at (UTC), properties
    ("e-01", "CUS-1", "api_calls", "1.5", "2026-08-31 23:59:59.999999", '{"region": "eu"}'),  # day before
    ("e-02", "CUS-1", "api_calls", "0.000000001", "2026-09-01 00:00:00", '{"tags": [1, 2]}'),  # first instant
    ("e-03", "CUS-1", "api_calls", "12345678901.123456789", "2026-09-01 13:14:15.123456", None),
    ("e-04", "CUS-1", "storage_gb_hours", "0.333333333", "2026-09-01 18:00:00", "{}"),
    ("e-05", "CUS-2", "api_calls", "7", "2026-09-02 08:00:00", '{"region": "us"}'),
    ("e-06", "CUS-2", "api_calls", "2.000000001", "2026-09-02 08:00:00.000001", None),
    ("e-07", "CUS-2", "storage_gb_hours", "99999999999999999999.999999999", "2026-09-03 23:59:59.999999", None),
    ("e-08", "CUS-1", HOSTILE_METRIC, "1", "2026-09-03 12:00:00", '{"note": "\'; DROP TABLE x; --"}'),
    ("e-09", "CUS-3", "api_calls", "5", "2026-09-04 00:00:00", None),  # the window's end: excluded
]


def seed_table() -> pa.Table:
    """The seed events with the stand-in's Parquet types."""
    columns = list(zip(*SEED_EVENTS))
    return pa.table(
        {
            "event_id": pa.array(columns[0], pa.string()),
            "account_external_id": pa.array(columns[1], pa.string()),
            "metric": pa.array(columns[2], pa.string()),
            "quantity": pa.array([Decimal(q) for q in columns[3]], pa.decimal128(38, 9)),
            "occurred_at": pa.array([_at(t) for t in columns[4]], pa.timestamp("us", tz="UTC")),
            "properties": pa.array(columns[5], pa.string()),
        }
    )


@pytest.fixture
def usage_lake(snowflake_standin, tmp_path, monkeypatch):
    """METERED_USAGE freshly seeded with SEED_EVENTS and the password variable set; yields a
    numeric-binding cursor on USAGE_LAKE.METERING for the test's own SQL."""
    parquet = tmp_path / "usage_events.parquet"
    pq.write_table(seed_table(), parquet)
    assert seed_usage(snowflake_standin, parquet) == len(SEED_EVENTS)
    monkeypatch.setenv(PASSWORD_ENV, STANDIN_PASSWORD)
    connection = snowflake.connector.connect(
        **snowflake_standin.connect_arguments(), database=USAGE_DATABASE, schema=USAGE_SCHEMA, paramstyle="numeric"
    )
    yield connection.cursor()
    connection.close()


@pytest.fixture
def snowflake_config(project_config, snowflake_standin):
    """A project config with the source `usage_lake` on the stand-in, given its datasets YAML."""

    def configure(datasets: str):
        return project_config(
            f"""
sources:
  usage_lake:
    kind: snowflake
    account: {snowflake_standin.account}
    user: {snowflake_standin.user}
    password_env: {PASSWORD_ENV}
    database: {USAGE_DATABASE}
    schema: {USAGE_SCHEMA}
    host: {snowflake_standin.host}
    port: {snowflake_standin.port}
    protocol: {snowflake_standin.protocol}
    datasets:
{datasets}"""
        )

    return configure
