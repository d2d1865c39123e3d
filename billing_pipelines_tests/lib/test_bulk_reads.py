"""Bulk reads of PostgreSQL (ADBC) and MySQL/MariaDB (ConnectorX): batches of the run's size,
values as the SQLAlchemy reader delivered them, and no credential in an error."""

import json
import uuid
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from billing_pipelines.lib.bulk_reads import (
    SourceReadError,
    bulk_batches,
    driver_uri,
    redacted,
    text_columns,
    widened,
)


def test_widened_gives_the_python_drivers_integer_and_float_widths():
    table = pa.table(
        {
            "i": pa.array([1], pa.int32()),
            "f": pa.array([1.5], pa.float32()),
            "t": pa.array(["x"]),
            "big": pa.array([2**40], pa.int64()),
        }
    )
    assert widened(table).schema == pa.schema(
        [("i", pa.int64()), ("f", pa.float64()), ("t", pa.string()), ("big", pa.int64())]
    )
    plain = pa.table({"big": pa.array([1], pa.int64())})
    assert widened(plain) is plain


def test_columns_without_a_plain_arrow_type_are_read_as_text():
    schema = pa.schema(
        [
            ("id", pa.int32()),
            ("name", pa.string()),
            ("at", pa.timestamp("us", "UTC")),
            ("day", pa.date32()),
            ("amount", pa.decimal128(38, 10)),
            ("props", pa.json_(pa.string())),
            ("key", pa.uuid()),
            ("tags", pa.list_(pa.string())),
            ("every", pa.month_day_nano_interval()),
            pa.field("price", pa.int64(), metadata={"POSTGRESQL:type": "money"}),
            pa.field("count", pa.int64(), metadata={"POSTGRESQL:type": "int8"}),
        ]
    )
    assert text_columns(schema) == ["amount", "props", "key", "tags", "every", "price"]


def test_driver_uris_keep_credentials_and_drop_python_driver_options():
    postgres = sa.make_url("postgresql+psycopg://app:s3cr%40t@db:5432/billing?sslmode=require")
    assert driver_uri(postgres) == "postgresql://app:s3cr%40t@db:5432/billing?sslmode=require"
    mysql = sa.make_url("mysql+pymysql://app:pw@db/shop?charset=utf8mb4&ssl_ca=/ca.pem")
    assert driver_uri(mysql) == "mysql://app:pw@db/shop?ssl_ca=%2Fca.pem"
    assert driver_uri(sa.make_url("mariadb+pymysql://app@db/shop")) == "mysql://app@db/shop"


def test_redacted_blanks_the_url_and_password_in_every_form():
    url = sa.make_url("postgresql+psycopg://app:s3cr@t/x@db/billing")
    message = f"failed: {driver_uri(url)} / password s3cr@t/x / encoded s3cr%40t%2Fx / {url.render_as_string(False)}"
    assert "s3cr" not in redacted(message, url)
    assert redacted("no secret here", sa.make_url("mysql://app@db/shop")) == "no secret here"


def test_a_failed_connection_names_no_credential(postgres_url):
    url = sa.make_url(postgres_url).set(port=1, password="hunter2-secret")
    with pytest.raises(SourceReadError) as failure:
        list(bulk_batches(url, "SELECT 1 AS one", batch_rows=10))
    assert "hunter2" not in str(failure.value)
    assert failure.value.__cause__ is None and failure.value.__context__ is None


def test_postgres_values_arrive_as_the_database_writes_them(postgres_url):
    key = uuid.uuid4()
    sql = f"""
        SELECT g AS id, (g * 1.5)::real AS ratio, 12345678901.123456789::numeric(20, 9) AS amount,
               1e-20::numeric AS tiny, '{{"region": "eu", "tags": [1, 2]}}'::jsonb AS props,
               '{key}'::uuid AS key, interval '1 day 2 hours' AS every, 12.34::money AS price, timestamptz '2026-09-02 23:30:00-02:00' AS at
        FROM generate_series(1, 2500) AS g
    """
    tables = list(bulk_batches(sa.make_url(postgres_url), sql, batch_rows=1000))
    assert [table.num_rows for table in tables] == [1000, 1000, 500]
    first = tables[0].slice(0, 1).to_pylist()[0]
    assert first["id"] == 1 and first["ratio"] == 1.5
    assert Decimal(first["amount"]) == Decimal("12345678901.123456789")
    assert first["tiny"] == "0.00000000000000000001"
    assert json.loads(first["props"]) == {"region": "eu", "tags": [1, 2]}
    assert (first["key"], first["every"], first["price"]) == (str(key), "1 day 02:00:00", "$12.34")
    assert first["at"].isoformat() == "2026-09-03T01:30:00+00:00"
    assert tables[0].schema.field("id").type == pa.int64()


def test_mysql_values_arrive_as_the_database_writes_them(mysql_url):
    engine = sa.create_engine(mysql_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS readings"))
        connection.execute(
            sa.text(
                "CREATE TABLE readings (id INT PRIMARY KEY, amount DECIMAL(20, 9), wide DECIMAL(40, 20),"
                " props JSON, at DATETIME(6), stamped TIMESTAMP(6) NULL)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO readings VALUES (1, 12345678901.123456789, 12345678901234567890.12345678901234567891,"
                " '{\"region\": \"eu\"}', '2026-09-01 23:59:59.999999', '2026-09-01 10:00:00'),"
                " (2, 0.000000001, NULL, NULL, NULL, NULL), (3, 2.5, 1, '[]', NULL, NULL)"
            )
        )
    engine.dispose()
    tables = list(bulk_batches(sa.make_url(mysql_url), "SELECT * FROM readings ORDER BY id", batch_rows=2))
    assert [table.num_rows for table in tables] == [2, 1]
    rows = [row for table in tables for row in table.to_pylist()]
    assert [Decimal(row["amount"]) for row in rows] == [
        Decimal("12345678901.123456789"),
        Decimal("0.000000001"),
        Decimal("2.5"),
    ]
    assert rows[0]["wide"] == "12345678901234567890.12345678901234567891"
    assert json.loads(rows[0]["props"]) == {"region": "eu"}
    assert rows[0]["at"].isoformat() == "2026-09-01T23:59:59.999999"  # naive UTC, as stored
    assert rows[0]["stamped"].isoformat() == "2026-09-01T10:00:00"
