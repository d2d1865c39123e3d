"""Reading SQL sources: parameter binding per dialect and DB-API rows to Arrow."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from billing_pipelines.lib.sql_queries import (
    bound_timestamp,
    dataset_statement,
    read_batches,
    resolve_url,
    rows_to_arrow,
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
    for statement in (dataset_statement(query, None, "occurred_at"), dataset_statement(None, "usage", "occurred_at")):
        batches = list(read_batches(engine, statement, window, batch_rows=1))
        assert [row for batch in batches for row in batch.column("id").to_pylist()] == [2]


def test_read_batches_splits_large_results(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.sqlite'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (id INTEGER)"))
        connection.execute(sa.text("INSERT INTO t VALUES (1), (2), (3), (4), (5)"))
    batches = list(read_batches(engine, sa.text("SELECT id FROM t ORDER BY id"), {}, batch_rows=2))
    assert [batch.num_rows for batch in batches] == [2, 2, 1]
