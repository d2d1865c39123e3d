"""A partitioned usage backfill from PostgreSQL and from MySQL into raw: per customer × metric ×
UTC day, raw holds exactly the source's own counts and sums over the window, and re-running the
window changes nothing."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import pytest
import sqlalchemy as sa

from billing_pipelines.lib.runs import partition_range_tags

FIRST, LAST = date(2026, 9, 1), date(2026, 9, 3)
START, END = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 4, tzinfo=UTC)
# 25,000 events from 2026-08-31 00:00 UTC, one every 17.28 s, up to the 5th: 15,000 in the window
# (event 5,000 sits exactly on its start, event 20,000 exactly on its end), read in 10,000-row
# batches (the 512MiB budget's batch size).
EVENTS = 25_000
RAW_SUMS = """
    SELECT customer_external_id, metric, _event_date, count(*), sum(CAST(quantity AS DECIMAL(38, 9)))
    FROM raw_app.usage_events GROUP BY ALL
"""


@dataclass(frozen=True)
class Source:
    """A metering table in one database kind, the config that reads it, and its own daily sums."""

    config: str
    create: tuple[str, ...]
    daily_sums: str
    naive_utc: bool


POSTGRES = Source(
    config="""
      usage_events:
        query: |
          SELECT event_id, customer AS customer_external_id, metric, quantity,
                 occurred_at AS event_timestamp, properties
          FROM metering_events
          WHERE occurred_at >= :window_start AND occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
""",
    create=(
        "DROP TABLE IF EXISTS metering_events",
        """CREATE TABLE metering_events AS
           SELECT g::bigint AS event_id, 'CUS-' || (g % 7) AS customer,
                  (ARRAY['api_calls', 'storage_gb_hours', 'seats'])[1 + g % 3] AS metric,
                  ((g % 1000) / 1000.0 + (g % 5) * 0.000000001)::numeric(20, 9) AS quantity,
                  timestamptz '2026-08-31 00:00:00+00' + g * interval '17.28 seconds' AS occurred_at,
                  jsonb_build_object('n', g) AS properties
           FROM generate_series(0, :events - 1) AS g""",
    ),
    daily_sums="""
        SELECT customer, metric, (occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(quantity)
        FROM metering_events WHERE occurred_at >= :start AND occurred_at < :end GROUP BY 1, 2, 3
    """,
    naive_utc=False,
)

MYSQL = Source(
    config="""
      usage_events:
        table: meter_events
        cursor: event_timestamp
        primary_key: event_id
""",
    create=(
        "DROP TABLE IF EXISTS meter_events",
        "DROP TABLE IF EXISTS digits",
        "CREATE TABLE digits (d INT)",
        "INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)",
        """CREATE TABLE meter_events (event_id BIGINT PRIMARY KEY, customer_external_id VARCHAR(40),
           metric VARCHAR(40), quantity DECIMAL(20, 9), event_timestamp DATETIME(6), properties JSON)""",
        """INSERT INTO meter_events
           SELECT n, CONCAT('CUS-', n % 7), ELT(1 + n % 3, 'api_calls', 'storage_gb_hours', 'seats'),
                  (n % 1000) / 1000 + (n % 5) * 0.000000001,
                  TIMESTAMPADD(MICROSECOND, n * 17280000, '2026-08-31 00:00:00'), JSON_OBJECT('n', n)
           FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n
                 FROM digits a, digits b, digits c, digits e, digits f) AS numbers
           WHERE n < :events""",
    ),
    daily_sums="""
        SELECT customer_external_id, metric, DATE(event_timestamp), count(*), sum(quantity)
        FROM meter_events WHERE event_timestamp >= :start AND event_timestamp < :end GROUP BY 1, 2, 3
    """,
    naive_utc=True,
)


@pytest.fixture(params=[POSTGRES, MYSQL], ids=["postgres", "mysql"])
def source(request, postgres_url, mysql_url, monkeypatch):
    """The source's table filled with EVENTS events, its URL in APP_DATABASE_URL."""
    url = postgres_url if request.param is POSTGRES else mysql_url
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in request.param.create:
            connection.execute(sa.text(statement), {"events": EVENTS})
    monkeypatch.setenv("APP_DATABASE_URL", url)
    yield request.param, engine
    engine.dispose()


def sums(rows) -> set[tuple[str, str, date, int, Decimal]]:
    return {(customer, metric, day, count, Decimal(total)) for customer, metric, day, count, total in rows}


def test_backfill_holds_the_sources_own_daily_sums_and_a_rerun_changes_nothing(source, project_config, load_raw):
    kind, engine = source
    config = project_config(
        f"memory_budget: 512MiB\nsources:\n  app:\n    kind: sql\n    url_env: APP_DATABASE_URL\n    datasets:{kind.config}"
    )
    bounds = {"start": START, "end": END}
    if kind.naive_utc:
        bounds = {name: moment.replace(tzinfo=None) for name, moment in bounds.items()}
    with engine.connect() as connection:
        expected = sums(connection.execute(sa.text(kind.daily_sums), bounds))
    assert sum(count for *_, count, _ in expected) == 15_000

    loaded = []
    for _ in range(2):
        assert load_raw(config, tags=partition_range_tags(FIRST, LAST)).success
        with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:
            assert sums(warehouse.execute(RAW_SUMS).fetchall()) == expected
            loaded.append(
                warehouse.execute(
                    "SELECT * EXCLUDE (_dlt_load_id) FROM raw_app.usage_events ORDER BY event_id"
                ).fetchall()
            )
    assert len(loaded[0]) == 15_000 and loaded[1] == loaded[0]
    assert (loaded[0][0][0], loaded[0][-1][0]) == (5_000, 19_999)  # the window's first and last event
