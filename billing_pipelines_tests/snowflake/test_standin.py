"""The Snowflake stand-in keeps what was seeded in its data folder: the demo seeds it, and a
later server (`make dev`, the next demo) reads the same typed rows."""

import json
from contextlib import closing
from decimal import Decimal

import pyarrow.parquet as pq
import snowflake.connector

from billing_pipelines.sandbox.snowflake_standin import USAGE_DATABASE, USAGE_SCHEMA, running_snowflake, seed_usage
from billing_pipelines_tests.snowflake.conftest import SEED_EVENTS, seed_table


def test_seeded_usage_survives_a_restart_of_the_standin(tmp_path):
    parquet = tmp_path / "usage_events.parquet"
    pq.write_table(seed_table(), parquet)
    data_dir = tmp_path / "snowflake"
    with running_snowflake(data_dir) as standin:
        assert seed_usage(standin, parquet) == len(SEED_EVENTS)
    with running_snowflake(data_dir) as standin:
        connection = snowflake.connector.connect(
            **standin.connect_arguments(), database=USAGE_DATABASE, schema=USAGE_SCHEMA
        )
        with closing(connection):
            cursor = connection.cursor()
            (count,) = cursor.execute("SELECT COUNT(*) FROM METERED_USAGE").fetchone()
            quantity, properties = cursor.execute(
                "SELECT QUANTITY, PROPERTIES FROM METERED_USAGE WHERE EVENT_ID = 'e-02'"
            ).fetchone()
    assert count == len(SEED_EVENTS)
    assert quantity == Decimal("0.000000001")
    assert json.loads(properties) == {"tags": [1, 2]}  # a VARIANT, parsed from the Parquet's JSON text
