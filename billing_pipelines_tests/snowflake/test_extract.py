"""The pure parts of the Snowflake reader: where the window is bound, how names are quoted,
how the connector's result chunks become the run's batches."""

from datetime import UTC, date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from billing_pipelines.config import SqlDatasetConfig
from billing_pipelines.defs.snowflake.extract import (
    dataset_statement,
    numeric_binds,
    quoted_name,
    typed_bind,
    unfolded_names,
)


def test_window_parameters_become_numeric_binds_wherever_they_are_used():
    query = "SELECT * FROM t WHERE ts >= :window_start AND ts < :window_end OR (:window_start IS NULL)"
    assert numeric_binds(query) == "SELECT * FROM t WHERE ts >= :1 AND ts < :2 OR (:1 IS NULL)"


@pytest.mark.parametrize(
    "kept",
    [
        "'at :window_start'",  # string literal
        "'it''s :window_start'",  # literal with a doubled quote
        "'it\\'s :window_end'",  # literal with a backslash escape
        "$$ :window_start $$",  # dollar-quoted literal
        '":window_start"',  # quoted identifier
        "x::window_start",  # a cast to a type of that name
        "properties:window_start",  # a key of a VARIANT column
        "-- :window_start\n",  # line comment
        "// :window_end\n",  # Snowflake's other line comment
        "/* :window_start\n :window_end */",  # block comment
    ],
)
def test_window_parameters_inside_literals_comments_and_casts_are_left_alone(kept):
    query = f"SELECT {kept} AS note FROM t WHERE ts >= :window_start AND ts < :window_end"
    assert numeric_binds(query) == f"SELECT {kept} AS note FROM t WHERE ts >= :1 AND ts < :2"


def test_a_query_whose_window_is_only_in_a_literal_is_refused():
    with pytest.raises(ValueError, match="no :window_end parameter outside string literals"):
        numeric_binds("SELECT * FROM t WHERE ts >= :window_start AND note = ':window_end'")


@pytest.mark.parametrize("opening", ["'", '"', "$$", "/*"])
def test_a_literal_or_comment_that_never_closes_is_refused(opening):
    with pytest.raises(ValueError, match="never closes"):
        numeric_binds(f"SELECT * FROM t WHERE ts >= :window_start AND ts < :window_end AND x = {opening}abc")


def test_a_parameter_name_that_only_starts_like_a_window_bound_is_not_one():
    with pytest.raises(ValueError, match="no :window_end"):
        numeric_binds("SELECT * FROM t WHERE ts >= :window_start AND ts < :window_ending")


@pytest.mark.parametrize(
    ("written", "quoted"),
    [
        ("metered_usage", '"METERED_USAGE"'),
        ("metering.metered_usage", '"METERING"."METERED_USAGE"'),
        ("Usage_Lake.Metering.Metered$Usage", '"USAGE_LAKE"."METERING"."METERED$USAGE"'),
        ('metering."Metered Usage"', '"METERING"."Metered Usage"'),
        ('"odd "" name; DROP TABLE x; --"', '"odd "" name; DROP TABLE x; --"'),
    ],
)
def test_names_are_quoted_as_snowflake_reads_them_unquoted(written, quoted):
    assert quoted_name(written) == quoted


@pytest.mark.parametrize(
    "hostile",
    [
        "metered_usage; DROP TABLE metered_usage",
        'metered_usage"; DROP TABLE metered_usage; --',
        "metered_usage --",
        "metering.metered_usage WHERE 1=1",
        "a.b.c.d",
        "metering.",
        "",
        "1table",
    ],
)
def test_names_that_are_not_plain_identifiers_are_refused(hostile):
    with pytest.raises(ValueError, match="is not a Snowflake name"):
        quoted_name(hostile)


def test_a_table_dataset_reads_its_window_on_the_quoted_cursor():
    dataset = SqlDatasetConfig(table="metering.accounts", cursor="updated_at", primary_key="id")
    assert dataset_statement(dataset) == (
        'SELECT * FROM "METERING"."ACCOUNTS" WHERE "UPDATED_AT" >= :1 AND "UPDATED_AT" < :2'
    )


def test_window_bounds_are_bound_with_their_snowflake_type():
    offset = datetime(2026, 9, 2, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    assert typed_bind(offset) == ("TIMESTAMP_TZ", datetime(2026, 9, 3, 1, 30, tzinfo=UTC))
    assert typed_bind(datetime(2026, 9, 3)) == ("TIMESTAMP_NTZ", datetime(2026, 9, 3))
    assert typed_bind(date(2026, 9, 3)) == date(2026, 9, 3)
    assert typed_bind(42) == 42


def test_column_names_folded_by_snowflake_come_back_as_written():
    table = pa.table({"EVENT_ID": ["e1"], "eventSource": ["api"], "_EVENT_DATE": [None], "COUNT(*)": [1]})
    assert unfolded_names(table).column_names == ["event_id", "eventSource", "_event_date", "count(*)"]
