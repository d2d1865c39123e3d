"""The billing invariants themselves, against a tiny hand-made warehouse: each assertion passes on
a warehouse that holds what the source holds, and fails on a lost row and on a row counted twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import dagster as dg
import duckdb
import pytest

from billing_pipelines_tests.invariants import (
    DailyTotals,
    ExpectedUsage,
    assert_daily_sums_match,
    assert_dbt_checks_passed,
    assert_usage_accounted,
    daily_totals,
)

EVENTS = [
    ExpectedUsage("e-1", "CUS-1", "api_calls", Decimal("1.5"), datetime(2026, 9, 1, 10, tzinfo=UTC), '{"a": 1}'),
    ExpectedUsage("e-2", "CUS-1", "api_calls", Decimal("2.25"), datetime(2026, 9, 1, 23, 59, tzinfo=UTC), None),
    ExpectedUsage("e-3", "CUS-2", "seats", Decimal("98765432109.123456789"), datetime(2026, 9, 2, tzinfo=UTC)),
]
REJECTED = ExpectedUsage(
    "e-4", "CUS-2", "seats", Decimal("0"), datetime(2026, 9, 2, tzinfo=UTC), location="meter.csv:5", billable=False
)
"""A record the source delivered with a bad value: quarantined at its file line."""


def warehouse_holding(events: list[ExpectedUsage], daily: dict | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the canonical columns the invariants read, holding `events`,
    REJECTED in quarantine, and the daily totals of `events` (or `daily`)."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("CREATE SCHEMA billing")
    connection.execute(
        "CREATE TABLE billing.usage_events (event_id VARCHAR, customer_id VARCHAR, metric VARCHAR,"
        " quantity DECIMAL(38, 9), event_timestamp TIMESTAMPTZ, properties JSON, source_system VARCHAR,"
        " ingested_at TIMESTAMPTZ)"
    )
    connection.execute(
        "CREATE TABLE billing.quarantine (source_system VARCHAR, dataset VARCHAR, location VARCHAR,"
        " reason VARCHAR, payload VARCHAR, quarantined_at TIMESTAMPTZ)"
    )
    connection.execute(
        "CREATE TABLE billing.billable_usage_daily (usage_date DATE, customer_id VARCHAR, metric VARCHAR,"
        " total_quantity DECIMAL(38, 9), event_count BIGINT, max_quantity DECIMAL(38, 9))"
    )
    for event in events:
        connection.execute(
            "INSERT INTO billing.usage_events VALUES (?, ?, ?, ?, ?, ?, 'landing', now())",
            [
                event.event_id,
                event.customer_id,
                event.metric,
                event.quantity,
                event.event_timestamp,
                None if event.properties is None or not isinstance(event.properties, str) else event.properties,
            ],
        )
    connection.execute(
        "INSERT INTO billing.quarantine VALUES ('landing', 'usage_events', 'meter.csv:5',"
        " 'unparsable quantity: ''x''', 'e-4,CUS-2,seats,x,2026-09-02T00:00:00Z,', now())"
    )
    totals = daily if daily is not None else daily_totals(events)
    for (customer, metric, day), (count, total, highest) in totals.items():
        connection.execute(
            "INSERT INTO billing.billable_usage_daily VALUES (?, ?, ?, ?, ?, ?)",
            [day, customer, metric, total, count, highest],
        )
    return connection


def test_a_warehouse_holding_the_source_satisfies_every_invariant():
    warehouse = warehouse_holding(EVENTS)
    assert_usage_accounted(warehouse, [*EVENTS, REJECTED])
    assert_daily_sums_match(warehouse, EVENTS)
    assert_daily_sums_match(
        warehouse,
        {
            ("CUS-1", "api_calls", date(2026, 9, 1)): (2, Decimal("3.75")),
            ("CUS-2", "seats", date(2026, 9, 2)): (1, Decimal("98765432109.123456789")),
        },
    )


def test_a_lost_usage_row_fails_accounting():
    with pytest.raises(AssertionError, match=r"missing from billing.usage_events \(1\):\n  - e-2"):
        assert_usage_accounted(warehouse_holding(EVENTS[:1] + EVENTS[2:]), EVENTS)


def test_a_double_counted_usage_row_fails_accounting():
    with pytest.raises(AssertionError, match=r"counted more than once in billing.usage_events \(1\):\n  - e-3: 2"):
        assert_usage_accounted(warehouse_holding([*EVENTS, EVENTS[2]]), EVENTS)


def test_a_usage_row_counted_with_other_values_or_unexpected_fails_accounting():
    changed = [*EVENTS[:2], replace(EVENTS[2], quantity=Decimal("98765432109.12345678"))]
    with pytest.raises(AssertionError, match=r"other values.*\n  - e-3: quantity 98765432109\.123456780 != "):
        assert_usage_accounted(warehouse_holding(changed), EVENTS)
    with pytest.raises(AssertionError, match=r"that no source delivered \(1\):\n  - e-3"):
        assert_usage_accounted(warehouse_holding(EVENTS), EVENTS[:2])


def test_a_rejected_record_must_be_in_quarantine_and_not_counted():
    unseen = replace(REJECTED, location="meter.csv:6")
    with pytest.raises(AssertionError, match=r"without a quarantine entry and reason \(1\):\n  - e-4 at meter.csv:6"):
        assert_usage_accounted(warehouse_holding(EVENTS), [*EVENTS, unseen])
    # found by its id in the payload when no location is given
    assert_usage_accounted(warehouse_holding(EVENTS), [*EVENTS, replace(REJECTED, location=None)])
    counted = replace(REJECTED, quantity=Decimal("0"))
    with pytest.raises(AssertionError, match=r"e-4: counted although it must be quarantined"):
        assert_usage_accounted(warehouse_holding([*EVENTS, replace(counted, billable=True)]), [*EVENTS, counted])


def test_the_same_event_delivered_twice_is_expected_once():
    twice = [*EVENTS, replace(EVENTS[0], source_system="app_db")]
    assert_usage_accounted(warehouse_holding(EVENTS), twice)
    assert_daily_sums_match(warehouse_holding(EVENTS), twice)


def test_a_lost_day_fails_the_daily_sums():
    totals = daily_totals(EVENTS)
    lost = {key: value for key, value in totals.items() if key[2] != date(2026, 9, 2)}
    with pytest.raises(AssertionError, match=r"days missing from billing.billable_usage_daily \(1\)"):
        assert_daily_sums_match(warehouse_holding(EVENTS, daily=lost), EVENTS)
    # and a lost event inside a day
    with pytest.raises(AssertionError, match=r"totals differ.*\n  - \('CUS-1', 'api_calls'"):
        assert_daily_sums_match(warehouse_holding(EVENTS[1:]), EVENTS)


def test_a_double_counted_day_fails_the_daily_sums():
    key = ("CUS-1", "api_calls", date(2026, 9, 1))
    doubled = {**daily_totals(EVENTS), key: DailyTotals(4, Decimal("7.5"), Decimal("2.25"))}
    with pytest.raises(
        AssertionError, match=r"totals differ.*\n  - \('CUS-1', 'api_calls', datetime.date\(2026, 9, 1\)\)"
    ):
        assert_daily_sums_match(warehouse_holding(EVENTS, daily=doubled), EVENTS)
    with pytest.raises(AssertionError, match=r"days in billing.billable_usage_daily more than once \(1\)"):
        warehouse = warehouse_holding(EVENTS)
        warehouse.execute("INSERT INTO billing.billable_usage_daily SELECT * FROM billing.billable_usage_daily LIMIT 1")
        assert_daily_sums_match(warehouse, EVENTS)


def test_daily_sums_can_be_limited_to_a_window():
    warehouse = warehouse_holding(EVENTS)
    assert_daily_sums_match(warehouse, EVENTS[:2], days=(date(2026, 9, 1), date(2026, 9, 1)))
    with pytest.raises(AssertionError, match=r"the source does not have \(1\)"):
        assert_daily_sums_match(warehouse, EVENTS[:2])


def run_checks(outcome: str) -> dg.ExecuteInProcessResult:
    """A run of `billing/usage_events` with two checks: one passing, one ending as `outcome`
    (`passed`, `warn`, `error` or `raised`: the check never evaluated)."""

    @dg.asset(key=["billing", "usage_events"])
    def usage_events() -> None:
        return None

    @dg.asset_check(asset=usage_events, name="unique_event_id")
    def unique_event_id() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    @dg.asset_check(asset=usage_events, name="relationships_customer_id")
    def relationships() -> dg.AssetCheckResult:
        if outcome == "raised":
            raise RuntimeError("dbt test could not run")
        severity = dg.AssetCheckSeverity.WARN if outcome == "warn" else dg.AssetCheckSeverity.ERROR
        return dg.AssetCheckResult(passed=outcome == "passed", severity=severity)

    return dg.materialize([usage_events, unique_event_id, relationships], raise_on_error=False)


def test_dbt_checks_pass_only_when_every_planned_check_passed():
    assert_dbt_checks_passed(run_checks("passed"))
    assert_dbt_checks_passed(run_checks("warn"))
    with pytest.raises(
        AssertionError, match=r"failed \(1\):\n  - billing/usage_events relationships_customer_id \(WARN\)"
    ):
        assert_dbt_checks_passed(run_checks("warn"), allow_warnings=False)
    with pytest.raises(AssertionError, match=r"checks that failed \(1\):\n  - billing/usage_events relationships"):
        assert_dbt_checks_passed(run_checks("error"))
    with pytest.raises(AssertionError, match=r"planned but never evaluated \(1\)"):
        assert_dbt_checks_passed(run_checks("raised"))
    with pytest.raises(AssertionError, match=r"assets with no check evaluated \(1\):\n  - billing/customers"):
        assert_dbt_checks_passed(run_checks("passed"), assets=["billing/customers"])


def test_dbt_checks_are_read_from_the_instance_of_a_run():
    with dg.instance_for_test() as instance:

        @dg.asset(
            key=["billing", "usage_events"],
            check_specs=[dg.AssetCheckSpec("unique", asset=["billing", "usage_events"])],
        )
        def usage_events():
            yield dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=False)])

        result = dg.materialize([usage_events], instance=instance, raise_on_error=False)
        with pytest.raises(AssertionError, match=r"checks that failed \(1\)"):
            assert_dbt_checks_passed(instance, result.run_id)
