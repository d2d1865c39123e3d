"""The session's BigQuery emulator (`bigquery` in the root conftest), seeded with a
product-analytics usage table."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from billing_pipelines.sandbox.bigquery_standin import seed_usage

HOSTILE_METRIC = "x'); DROP TABLE product.usage_events; --"
BIG_QUANTITY = Decimal("12345678901234567890.123456789")
"""29 integer and 9 fractional digits: the widest NUMERIC, which a float would round."""
EVENT_DAYS = (datetime(2026, 8, 30, tzinfo=UTC), datetime(2026, 9, 7, tzinfo=UTC))
BOUNDARY_TIMES = (
    datetime(2026, 9, 1, tzinfo=UTC),
    datetime(2026, 9, 3, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 9, 4, tzinfo=UTC),
)
"""Events on the edges of the window 2026-09-01 .. 2026-09-03 (the first two are in it)."""


def usage_rows(count: int, seed: int = 7) -> pa.Table:
    """Product-analytics usage as the Parquet file the stand-in is seeded from: random
    customers, metrics (one of them hostile SQL), nine-decimal quantities, event times and
    JSON properties, plus events on the window's edges."""
    rng = random.Random(seed)
    span = (EVENT_DAYS[1] - EVENT_DAYS[0]).total_seconds()
    times = [EVENT_DAYS[0] + timedelta(microseconds=rng.randrange(int(span * 1e6))) for _ in range(count)]
    times[: len(BOUNDARY_TIMES)] = BOUNDARY_TIMES
    quantities = [Decimal(rng.randrange(1, 10**12)).scaleb(-9) for _ in range(count)]
    quantities[0] = BIG_QUANTITY  # on the first instant of the window
    metrics = ["api_calls", "storage_gb_hours", "seats", HOSTILE_METRIC]
    return pa.table(
        {
            "event_id": pa.array([f"evt-{index:06d}" for index in range(count)]),
            "account_external_id": pa.array([f"CUS-{rng.randrange(1, 6)}" for _ in range(count)]),
            "metric": pa.array([rng.choice(metrics) for _ in range(count)]),
            "quantity": pa.array(quantities, pa.decimal128(38, 9)),
            "occurred_at": pa.array(times, pa.timestamp("us", tz="UTC")),
            "properties": pa.array(
                [
                    None if index % 5 == 0 else f'{{"region": "eu-{index % 3}", "tags": [{index}]}}'
                    for index in range(count)
                ]
            ),
        }
    )


@pytest.fixture(scope="session")
def usage_table(bigquery, tmp_path_factory) -> pa.Table:
    """`product.usage_events` in the emulator, seeded once per session; returns its rows."""
    rows = usage_rows(4_000)
    path = tmp_path_factory.mktemp("seed") / "usage_events.parquet"
    pq.write_table(rows, path)
    assert seed_usage(bigquery, path) == rows.num_rows
    return rows
