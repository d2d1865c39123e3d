"""Staging refuses what the push API refuses (the bad-input corpus), on DuckDB.

Each staging view of usage is built over hand-written raw tables and read directly: its
`reject_reason` per record, the first failing check. The checks: an absent required value is
`missing <column>`; ids and metric without control characters (the API's words); a quantity
with at most 9 decimal places, whatever its spelling (1e-12, 100e-11), through text or from a
typed column; properties a JSON object (or absent, or JSON null, as the API reads it). A valid
neighbour of every bad record stays valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from billing_pipelines_tests.dbt.test_models import (
    LandingFile,
    Warehouse,
    add_landing_rows,
    assert_ok,
    create_landing_table,
)

CONTROL = "{}: must not contain control characters (tabs, newlines, …)"
AT = "2024-01-01T10:00:00Z"


def event(event_id, quantity="1", properties="{}", customer="C1", metric="api_calls", timestamp=AT) -> tuple:
    return (event_id, customer, metric, quantity, timestamp, properties)


# (location, expected reject_reason) per landing line, in file order (line 2 on)
LANDING_USAGE = [
    # valid: every spelling the checks must let through
    (event("ok-object", properties='{"region": "eu", "n": [1, 2]}'), None),
    (event("ok-absent-properties", properties=None), None),
    (event("ok-json-null", properties="null"), None),
    (event("ok-padded-object", properties=' {"a": 1} '), None),
    (event("ok-nine-places", quantity="0.000000001"), None),
    (event("ok-trailing-zeros", quantity="1.500000000000000"), None),
    (event("ok-exponent", quantity="1e-9"), None),
    (event("ok-scaled-exponent", quantity="100e-11"), None),
    (event("ok-grouped", quantity="1_000.250000000000"), None),
    (event("ok-zero", quantity="0e-20"), None),
    (event("ok-positive-exponent", quantity="2.5E+3"), None),
    (event("ok-unicode", customer="Zürich-1", metric="api·calls"), None),
    # properties
    (event("bad-json", properties="{region: eu}"), "unparsable properties: '{region: eu}'"),
    (
        event("bad-json-newline", properties='{"note": "two\nlines"}'),
        'unparsable properties: \'{"note": "two\nlines"}\'',
    ),
    (event("bad-array", properties="[1,2]"), "properties is not a JSON object: '[1,2]'"),
    (event("bad-string", properties='"x"'), "properties is not a JSON object: '\"x\"'"),
    (event("bad-number", properties="3"), "properties is not a JSON object: '3'"),
    (event("bad-boolean", properties="true"), "properties is not a JSON object: 'true'"),
    # control characters, in the API's words, whatever their place (trimming keeps none)
    (event("bad-esc", customer="C\x1b1\x07"), CONTROL.format("customer_id")),
    (event("bad-nul", customer="C\x001"), CONTROL.format("customer_id")),
    (event("bad-trailing-newline", customer="C1\n"), CONTROL.format("customer_id")),
    (event("bad-tab", metric="api\tcalls"), CONTROL.format("metric")),
    (event("bad-del", metric="api_calls\x7f"), CONTROL.format("metric")),
    (event("bad-id\r"), CONTROL.format("event_id")),
    # quantity precision: checked on the text, before the parse would round it
    (event("bad-ten-places", quantity="0.0000000001"), "quantity has more than 9 decimal places: '0.0000000001'"),
    (event("bad-rounds-up", quantity="-1.0000000005"), "quantity has more than 9 decimal places: '-1.0000000005'"),
    (event("bad-exponent", quantity="1e-12"), "quantity has more than 9 decimal places: '1e-12'"),
    (event("bad-scaled-exponent", quantity="100e-12"), "quantity has more than 9 decimal places: '100e-12'"),
    (event("bad-huge-exponent", quantity="1E-99999"), "quantity has more than 9 decimal places: '1E-99999'"),
    (
        event("bad-wide-and-precise", quantity="123456789012345678901234567890.0000000001"),
        "quantity has more than 9 decimal places: '123456789012345678901234567890.0000000001'",
    ),
    (event("bad-words", quantity="1.0000000000x"), "unparsable quantity: '1.0000000000x'"),
    (event("bad-nan", quantity="NaN"), "unparsable quantity: 'NaN'"),
    # an absent required value
    (event("bad-no-quantity", quantity=None), "missing quantity"),
    (event("bad-blank-quantity", quantity="   "), "missing quantity"),
    (event("bad-no-timestamp", timestamp=None), "missing event_timestamp"),
    (event("bad-empty-timestamp", timestamp=""), "missing event_timestamp"),
    # the first failing check wins: ids, control characters, timestamp, quantity, properties
    (event("order-1", customer=None, metric="a\tb"), "missing customer_id"),
    (event("order-2", metric="a\tb", timestamp="yesterday"), CONTROL.format("metric")),
    (event("order-3", quantity="0.0000000001", timestamp=None), "missing event_timestamp"),
    (event("order-4", quantity=None, properties="[1]"), "missing quantity"),
    (event("order-5", quantity="1e-10", properties="{x"), "quantity has more than 9 decimal places: '1e-10'"),
]

# raw_app_db.usage_events: a Postgres-style typed source (numeric with more places than the
# canonical 9, JSON), read through text
APP_DB_USAGE = [
    ("A-ok", "C1", "api_calls", "1.500000000000", AT, '{"a": 1}'),
    ("A-precise", "C1", "api_calls", "0.000000000001", AT, "{}"),
    ("A-null-quantity", "C1", "api_calls", None, AT, "{}"),
    ("A-array", "C1", "api_calls", "1", AT, "[1, 2]"),
    ("A-control", "C1\n", "api_calls", "1", AT, "{}"),
]
APP_DB_REASONS = {
    "usage_events event_id=A-ok": None,
    "usage_events event_id=A-precise": "quantity has more than 9 decimal places: '0.000000000001'",
    "usage_events event_id=A-null-quantity": "missing quantity",
    "usage_events event_id=A-array": "properties is not a JSON object: '[1, 2]'",
    "usage_events event_id=A-control": CONTROL.format("customer_id"),
}

# raw_usage_lake.usage_events: a float quantity (its text is the shortest spelling)
LAKE_USAGE = [("U-ok", 0.25), ("U-precise", 1e-10)]
LAKE_REASONS = {
    "usage_events event_id=U-ok": None,
    "usage_events event_id=U-precise": "quantity has more than 9 decimal places: '1e-10'",
}


def create_raw_tables(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw_landing")
        for table in ("usage_events", "customers", "contracts"):
            create_landing_table(con, table)
        received = "2024-01-03 08:00:00+00"
        add_landing_rows(con, "usage_events", LandingFile("usage.csv", received, [row for row, _ in LANDING_USAGE]))
        customers = [("C1", "Acme", *[None] * 11), ("C\t9", "Tabbed", *[None] * 11)]
        add_landing_rows(con, "customers", LandingFile("customers.csv", received, customers))
        contracts = [
            ("K-1", "C1", "Growth", "active", "EUR", "2024-01-01", None, "none", None),
            ("K-2", "C1", "No start", "active", "EUR", None, None, "none", None),
            ("K-3\n", "C1", "Broken id", "active", "EUR", "2024-01-01", None, "none", None),
        ]
        add_landing_rows(con, "contracts", LandingFile("contracts.csv", received, contracts))

        for schema in ("raw_app_db", "raw_usage_lake"):
            con.execute(f"create schema {schema}")
            con.execute(
                f"create table {schema}._dlt_loads (load_id varchar, schema_name varchar, status bigint,"
                " inserted_at timestamptz, schema_version_hash varchar)"
            )
            con.execute(
                f"insert into {schema}._dlt_loads values ('1704067200.1', 'x', 0, '2024-01-01 00:00:00+00', 'h')"
            )
        con.execute(
            "create table raw_app_db.usage_events (event_id varchar, customer_external_id varchar, metric varchar,"
            " quantity decimal(38, 12), event_timestamp timestamptz, properties json, _dlt_load_id varchar)"
        )
        con.executemany("insert into raw_app_db.usage_events values (?, ?, ?, ?, ?, ?, '1704067200.1')", APP_DB_USAGE)
        con.execute(
            "create table raw_usage_lake.usage_events (event_id varchar, customer_external_id varchar,"
            " metric varchar, quantity double, event_timestamp timestamptz, properties varchar,"
            " _event_date date, _dlt_load_id varchar)"
        )
        con.executemany(
            f"insert into raw_usage_lake.usage_events values (?, 'C1', 'api_calls', ?, '{AT}', null, null,"
            " '1704067200.1')",
            LAKE_USAGE,
        )


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Iterator[Warehouse]:
    work = tmp_path_factory.mktemp("usage_checks")
    warehouse = Warehouse(work / "warehouse.duckdb", work)
    create_raw_tables(warehouse.path)
    assert_ok(
        warehouse.dbt(
            "run",
            "--select",
            "stg_landing__usage_events stg_app_db__usage_events stg_usage_lake__usage_events"
            " stg_landing__customers stg_landing__contracts",
        )
    )
    yield warehouse


def reasons(warehouse: Warehouse, view: str) -> dict[str, str | None]:
    return dict(warehouse.rows(f"select location, reject_reason from staging.{view}"))


def test_each_landing_usage_record_has_the_reason_the_api_would_give(warehouse):
    expected = {f"usage.csv:{line}": reason for line, (_, reason) in enumerate(LANDING_USAGE, start=2)}
    actual = reasons(warehouse, "stg_landing__usage_events")
    wrong = {
        (location, LANDING_USAGE[int(location.split(":")[1]) - 2][0][0]): (actual.get(location), reason)
        for location, reason in expected.items()
        if actual.get(location) != reason
    }
    assert not wrong, wrong  # (location, event id): (actual, expected)
    assert len(actual) == len(expected)


def test_typed_sources_are_checked_through_their_text(warehouse):
    assert reasons(warehouse, "stg_app_db__usage_events") == APP_DB_REASONS
    assert reasons(warehouse, "stg_usage_lake__usage_events") == LAKE_REASONS


def test_valid_properties_and_quantities_keep_their_values(warehouse):
    rows = dict(
        warehouse.rows(
            "select event_id, (cast(quantity as varchar), properties) from staging.stg_landing__usage_events"
            " where event_id like 'ok-%'"
        )
    )
    assert rows["ok-nine-places"] == ("0.000000001", "{}")
    assert rows["ok-scaled-exponent"] == ("0.000000001", "{}")
    assert rows["ok-grouped"] == ("1000.250000000", "{}")
    assert rows["ok-object"] == ("1.000000000", '{"region": "eu", "n": [1, 2]}')
    assert rows["ok-absent-properties"][1] is None


def test_ids_of_other_entities_refuse_control_characters_and_an_absent_start_date_is_missing(warehouse):
    assert reasons(warehouse, "stg_landing__customers") == {
        "customers.csv:2": None,
        "customers.csv:3": CONTROL.format("external_id"),
    }
    assert reasons(warehouse, "stg_landing__contracts") == {
        "contracts.csv:2": None,
        "contracts.csv:3": "missing start_date",
        "contracts.csv:4": CONTROL.format("contract_id"),
    }
