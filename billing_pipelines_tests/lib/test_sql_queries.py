"""Reading SQL sources: window parameters bound or written as literals per dialect, the statement
of a window, and DB-API rows to Arrow."""

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from billing_pipelines.lib.sql_queries import (
    bound_timestamp,
    dataset_statement,
    described_sql,
    read_batches,
    render_window,
    resolve_url,
    rows_to_arrow,
    text_cast_sql,
    timestamp_literal,
    window_sql,
    window_text,
)


def test_sqlite_bounds_are_text_that_sorts_like_its_timestamps():
    moment = datetime(2026, 9, 1, tzinfo=UTC)
    assert bound_timestamp(moment, "sqlite") == "2026-09-01 00:00:00"
    assert bound_timestamp(moment, "postgresql") == moment
    assert bound_timestamp(moment, "mysql") == datetime(2026, 9, 1)


def test_relative_sqlite_path_is_relative_to_the_config_folder(tmp_path):
    url = resolve_url("sqlite:///data/app.sqlite", tmp_path)
    assert Path(url.database) == tmp_path / "data" / "app.sqlite"
    assert resolve_url("postgresql://u@h/db", tmp_path).database == "db"


def test_rows_to_arrow_keeps_values_exact():
    table = rows_to_arrow(
        ["id", "amount", "props", "mixed", "empty"],
        [(1, Decimal("1.10"), {"a": 1}, 1, None), (2, Decimal("0.000000001"), None, "x", None)],
    )
    assert table.column("amount").to_pylist() == ["1.10", "0.000000001"]
    assert json.loads(table.column("props")[0].as_py()) == {"a": 1}
    assert table.column("mixed").to_pylist() == ["1", "x"]
    assert table.schema.field("empty").type == pa.string()


def test_table_form_and_query_form_read_the_same_window(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.sqlite'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE usage (id INTEGER, occurred_at TEXT)"))
        connection.execute(
            sa.text(
                "INSERT INTO usage VALUES (1, '2026-08-31 23:59:59'), (2, '2026-09-01 00:00:00'), (3, '2026-09-02 00:00:00')"
            )
        )
    window = {"window_start": "2026-09-01 00:00:00", "window_end": "2026-09-02 00:00:00"}
    query = "SELECT id FROM usage WHERE occurred_at >= :window_start AND occurred_at < :window_end"
    for statement in (
        dataset_statement(query, None, "occurred_at", "sqlite"),
        dataset_statement(None, "usage", "occurred_at", "sqlite"),
    ):
        batches = list(read_batches(engine, statement, window, batch_rows=1))
        assert [row for batch in batches for row in batch.column("id").to_pylist()] == [2]


def test_read_batches_splits_large_results(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.sqlite'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (id INTEGER)"))
        connection.execute(sa.text("INSERT INTO t VALUES (1), (2), (3), (4), (5)"))
    batches = list(read_batches(engine, sa.text("SELECT id FROM t ORDER BY id"), {}, batch_rows=2))
    assert [batch.num_rows for batch in batches] == [2, 2, 1]


START, END = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 2, tzinfo=UTC)
BOUNDS = {"window_start": START, "window_end": END}
PG_START = "CAST('2026-09-01 00:00:00.000000+00:00' AS timestamptz)"
PG_END = "CAST('2026-09-02 00:00:00.000000+00:00' AS timestamptz)"


def test_window_parameters_are_replaced_only_where_they_are_sql_code():
    template = (
        "SELECT ':window_start' AS a, \"col:window_end\", E'it\\'s :window_end', $$ :window_start $$,"
        " $tag$ :window_end $tag$, x::date FROM t -- :window_end\n"
        "/* :window_start */ WHERE y >= :window_start::timestamptz AND y < :window_end"
    )
    assert render_window(template, "postgresql", BOUNDS) == (
        "SELECT ':window_start' AS a, \"col:window_end\", E'it\\'s :window_end', $$ :window_start $$,"
        " $tag$ :window_end $tag$, x::date FROM t -- :window_end\n"
        f"/* :window_start */ WHERE y >= {PG_START}::timestamptz AND y < {PG_END}"
    )


def test_mysql_templates_know_backslash_escapes_backticks_and_hash_comments():
    template = (
        "SELECT 'it\\'s :window_start', \"a:window_end\", `:window_end` FROM t # :window_start\n"
        "WHERE y >= :window_start AND y < :window_end"
    )
    bounds = {name: moment.replace(tzinfo=None) for name, moment in BOUNDS.items()}
    assert render_window(template, "mysql", bounds) == (
        "SELECT 'it\\'s :window_start', \"a:window_end\", `:window_end` FROM t # :window_start\n"
        "WHERE y >= CAST('2026-09-01 00:00:00.000000' AS DATETIME(6))"
        " AND y < CAST('2026-09-02 00:00:00.000000' AS DATETIME(6))"
    )


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("SELECT * FROM t WHERE y >= :window_start AND note = ':window_end'", "no :window_end parameter"),
        ("SELECT * FROM t WHERE y >= :window_start -- AND y < :window_end", "no :window_end parameter"),
        ("SELECT * FROM t WHERE y >= :window_start AND y < :window_end AND z = 'open", "never closes"),
    ],
)
def test_a_template_without_both_bounds_in_its_code_is_refused(template, error):
    with pytest.raises(ValueError, match=error):
        render_window(template, "postgresql", BOUNDS)
    with pytest.raises(ValueError, match=error):
        window_text(template, "sqlite")


def test_timestamp_literals_are_written_from_datetimes_only():
    berlin = timezone(timedelta(hours=2))
    assert timestamp_literal(datetime(2026, 9, 1, 2, 30, tzinfo=berlin), "postgresql") == (
        "CAST('2026-09-01 00:30:00.000000+00:00' AS timestamptz)"
    )
    assert timestamp_literal(datetime(2026, 9, 1, 0, 0, 0, 5), "postgresql") == (
        "CAST('2026-09-01 00:00:00.000005' AS timestamp)"
    )
    assert timestamp_literal(datetime(2026, 9, 1, 2, 30, tzinfo=berlin), "mariadb") == (
        "CAST('2026-09-01 00:30:00.000000' AS DATETIME(6))"
    )
    for not_a_datetime in ("2026-09-01'); DROP TABLE t; --", date(2026, 9, 1), 1788220800):
        with pytest.raises(TypeError, match="must be a datetime"):
            timestamp_literal(not_a_datetime, "postgresql")
    with pytest.raises(ValueError, match="sqlite"):
        timestamp_literal(START, "sqlite")


def test_table_form_quotes_its_identifiers():
    assert window_sql(None, 'Odd Schema.us"age', "Occurred At", "postgresql", START, END) == (
        f'SELECT * \nFROM "Odd Schema"."us""age" \nWHERE "Occurred At" >= {PG_START} AND "Occurred At" < {PG_END}'
    )
    assert window_sql(None, "metering.select", "occurred_at", "mysql", START, END).startswith(
        "SELECT * \nFROM metering.`select` \nWHERE occurred_at >= CAST("
    )


def test_the_sqlalchemy_path_binds_no_colon_inside_a_literal(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.sqlite'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE usage (id INTEGER, occurred_at TEXT)"))
        connection.execute(sa.text("INSERT INTO usage VALUES (1, '2026-09-01 10:00:00')"))
    query = (
        "SELECT id, ':window_start' AS note FROM usage -- up to :window_end\n"
        "WHERE occurred_at >= :window_start AND occurred_at < :window_end"
    )
    window = {"window_start": "2026-09-01 00:00:00", "window_end": "2026-09-02 00:00:00"}
    (batch,) = read_batches(engine, dataset_statement(query, None, "occurred_at", "sqlite"), window)
    assert batch.to_pylist() == [{"id": 1, "note": ":window_start"}]


def test_columns_the_driver_cannot_carry_are_cast_to_text_by_the_database():
    sql = "SELECT id, amount, props FROM t WHERE x >= 1;\n"
    assert text_cast_sql(sql, ["id", "amount", "props"], [], "postgresql") == sql
    assert text_cast_sql(sql, ["id", "Amount", "props"], ["Amount", "props"], "postgresql") == (
        'SELECT "id", CAST("Amount" AS text) AS "Amount", CAST("props" AS text) AS "props"'
        " FROM (\nSELECT id, amount, props FROM t WHERE x >= 1\n) AS window_rows"
    )
    assert text_cast_sql(sql, ["id", "amount"], ["amount"], "mysql").startswith(
        "SELECT `id`, CAST(`amount` AS CHAR) AS `amount` FROM ("
    )
    with pytest.raises(ValueError, match="column name twice"):
        text_cast_sql(sql, ["id", "id"], ["id"], "postgresql")
    assert (
        described_sql(sql) == "SELECT * FROM (\nSELECT id, amount, props FROM t WHERE x >= 1\n) AS window_rows LIMIT 0"
    )
