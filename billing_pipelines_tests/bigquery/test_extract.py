"""The pure parts of reading BigQuery: window placeholders become named parameters only where
they are SQL, table names are checked and quoted, and results are re-chunked to the batch size."""

from decimal import Decimal

import pyarrow as pa
import pytest

from billing_pipelines.config import SqlDatasetConfig
from billing_pipelines.defs.bigquery.extract import (
    dataset_query,
    exact_wide_decimals,
    named_parameters,
    quoted_column,
    quoted_table,
)

WHERE = "WHERE t >= :window_start AND t < :window_end"


def test_window_placeholders_become_named_parameters():
    assert (
        named_parameters(f"SELECT * FROM d.t {WHERE}")
        == "SELECT * FROM d.t WHERE t >= @window_start AND t < @window_end"
    )
    assert named_parameters("SELECT 1 WHERE t>=:window_start AND t<(:window_end)").endswith(
        "t>=@window_start AND t<(@window_end)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "':window_start'",
        "'it\\'s :window_start'",
        '":window_end"',
        "'''multi\nline :window_start'''",
        '"""also :window_end"""',
        "r':window_start'",
        "`odd:window_start`",
        "-- a comment :window_start",
        "# a comment :window_end",
        "/* a\ncomment :window_start */",
        "x::window_start",
        ":window_start_day",
        "@:window_end",
    ],
)
def test_placeholders_in_literals_identifiers_comments_and_casts_are_left_alone(text):
    query = f"SELECT {text}\n{WHERE}"
    assert named_parameters(query) == f"SELECT {text}\nWHERE t >= @window_start AND t < @window_end"


def test_a_window_parameter_only_inside_a_literal_is_refused():
    with pytest.raises(ValueError, match=":window_end appears only inside"):
        named_parameters("SELECT ':window_end' WHERE t >= :window_start")


@pytest.mark.parametrize(
    "table, quoted",
    [
        ("product.usage_events", "`product`.`usage_events`"),
        ("sandbox-analytics.product.usage_events", "`sandbox-analytics`.`product`.`usage_events`"),
        ("example.com:billing-prod.events.usage-2026", "`example.com:billing-prod`.`events`.`usage-2026`"),
    ],
)
def test_table_names_are_quoted_part_by_part(table, quoted):
    assert quoted_table(table) == quoted


@pytest.mark.parametrize(
    "table",
    [
        "usage_events",
        "product.usage_events`; DROP TABLE product.usage_events; --",
        "product.usage_events; DROP TABLE x",
        "prod`uct.usage_events",
        "product.usage events",
        "a.b.product.usage_events",
        "Sandbox_Analytics.product.usage_events",
        "product.",
        "product.usage_events\n",
    ],
)
def test_anything_but_a_bigquery_table_name_is_refused(table):
    with pytest.raises(ValueError, match="table"):
        quoted_table(table)


def test_the_table_form_reads_the_window_of_the_quoted_cursor():
    dataset = SqlDatasetConfig(table="product.usage_events", cursor="occurred_at", primary_key="event_id")
    assert dataset_query(dataset) == (
        "SELECT * FROM `product`.`usage_events` WHERE `occurred_at` >= @window_start AND `occurred_at` < @window_end"
    )
    assert quoted_column("updated_at") == "`updated_at`"
    with pytest.raises(ValueError, match="cursor"):
        quoted_column("updated_at` OR TRUE --")
    with pytest.raises(ValueError, match="cursor"):
        quoted_column("updated_at\n")


def test_bignumeric_becomes_exact_text_and_numeric_stays_decimal():
    big = Decimal("123456789012345678901234567890.12345678901234567890123456789")
    table = pa.table(
        {
            "big": pa.array([big, None], pa.decimal256(76, 38)),
            "quantity": pa.array([Decimal("1.000000001"), None], pa.decimal128(38, 9)),
        }
    )
    exact = exact_wide_decimals(table)
    assert exact.schema.field("big").type == pa.string()
    assert Decimal(exact["big"][0].as_py()) == big and exact["big"][1].as_py() is None
    assert exact["quantity"] == table["quantity"]
