"""Billing invariants over a DuckDB warehouse, as reusable assertions for tests.

Billing data is money: every usage record a source holds (or a file or a push delivered) ends
either in `billing.usage_events`, exactly once and with its values, or in `billing.quarantine`
with a reason; the daily marts add up to the source's own totals; and the canonical tables pass
their dbt tests (asset checks). A test describes what the sources hold with `ExpectedUsage`
records and asserts:

    assert_usage_accounted(warehouse, expected)     # nothing lost, nothing counted twice
    assert_daily_sums_match(warehouse, expected)    # the marts equal the source's own totals
    assert_dbt_checks_passed(result)                # or (instance, run_id)

`warehouse` is a DuckDB connection or the path of the DuckDB file (opened read-only for the
assertion). Each assertion collects every discrepancy and raises one `AssertionError` listing
them (the first `MAX_LISTED` of each kind), so a failing test says what was lost or doubled.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
import duckdb

MAX_LISTED = 20
"""How many discrepancies of each kind an assertion's message lists."""


class _Unchecked:
    """The value of an `ExpectedUsage` field the assertion does not compare."""

    def __repr__(self) -> str:
        return "UNCHECKED"


UNCHECKED: Any = _Unchecked()


@dataclass(frozen=True)
class ExpectedUsage:
    """One usage record as a source holds it (or a file line or a push delivered it).

    `event_id` is the id the canonical table should hold (with any per-source prefix the source's
    query adds). `billable`: True — it must be in `billing.usage_events` with these values;
    False — it must be in `billing.quarantine` (a bad value, a conflicting duplicate, a rejected
    file) and its id must not be counted from it; None — either one is right.
    A quarantined record is found by its `location` (`file.csv:LINE`, `<dataset> request <id>
    index <i>`, a rejected file's path) when given, else by a quarantine payload that contains
    its `event_id` as a whole JSON/CSV value. `properties` (a JSON text or None) and
    `source_system` are compared only when given.
    """

    event_id: str | None
    customer_id: str
    metric: str
    quantity: Decimal
    event_timestamp: datetime
    properties: Any = UNCHECKED
    source_system: Any = UNCHECKED
    location: str | None = None
    billable: bool | None = True

    @property
    def usage_day(self) -> date:
        """The UTC day the record is billed on."""
        return _utc(self.event_timestamp).date()


class DailyTotals(NamedTuple):
    """One customer × metric × UTC day: event count, exact quantity sum and (when known) max."""

    event_count: int
    total_quantity: Decimal
    max_quantity: Decimal | None = None


DayKey = tuple[str, str, date]
"""(customer_id, metric, UTC day)"""


@dataclass(frozen=True)
class _CanonicalRow:
    event_id: str
    customer_id: str
    metric: str
    quantity: Decimal
    event_timestamp: datetime
    properties: str | None
    source_system: str


@contextmanager
def _opened(warehouse: duckdb.DuckDBPyConnection | str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        yield warehouse
        return
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        yield connection
    finally:
        connection.close()


def _utc(moment: datetime) -> datetime:
    """An instant in UTC (a naive datetime is taken as UTC, as the warehouse stores it)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _same_json(left: str | None, right: str | None) -> bool:
    """Two JSON texts mean the same value (key order and spacing aside)."""
    if left is None or right is None:
        return left is None and right is None
    try:
        return json.loads(left) == json.loads(right)
    except ValueError:
        return left == right


def _listing(title: str, problems: Sequence[str]) -> str:
    shown = "\n".join(f"  - {problem}" for problem in problems[:MAX_LISTED])
    more = f"\n  … and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return f"{title} ({len(problems)}):\n{shown}{more}"


def _fail_if(sections: Mapping[str, Sequence[str]]) -> None:
    found = [_listing(title, problems) for title, problems in sections.items() if problems]
    if found:
        raise AssertionError("billing invariant violated:\n" + "\n".join(found))


def _canonical_rows(connection: duckdb.DuckDBPyConnection) -> list[_CanonicalRow]:
    rows = connection.execute(
        "SELECT event_id, customer_id, metric, quantity, event_timestamp, CAST(properties AS VARCHAR),"
        " source_system FROM billing.usage_events"
    ).fetchall()
    return [_CanonicalRow(*row) for row in rows]


def _quarantine_rows(connection: duckdb.DuckDBPyConnection) -> list[tuple[str | None, str | None, str | None]]:
    """(location, reason, payload) of every usage-related quarantine entry (rejected files too,
    whatever dataset they were dropped as)."""
    return connection.execute("SELECT location, reason, CAST(payload AS VARCHAR) FROM billing.quarantine").fetchall()


def _mismatches(expected: ExpectedUsage, row: _CanonicalRow) -> list[str]:
    differences = []
    if row.customer_id != expected.customer_id:
        differences.append(f"customer_id {row.customer_id!r} != {expected.customer_id!r}")
    if row.metric != expected.metric:
        differences.append(f"metric {row.metric!r} != {expected.metric!r}")
    if row.quantity is None or Decimal(row.quantity) != Decimal(expected.quantity):
        differences.append(f"quantity {row.quantity} != {expected.quantity}")
    if row.event_timestamp is None or _utc(row.event_timestamp) != _utc(expected.event_timestamp):
        differences.append(f"event_timestamp {row.event_timestamp} != {expected.event_timestamp}")
    if expected.properties is not UNCHECKED and not _same_json(row.properties, expected.properties):
        differences.append(f"properties {row.properties!r} != {expected.properties!r}")
    if expected.source_system is not UNCHECKED and row.source_system != expected.source_system:
        differences.append(f"source_system {row.source_system!r} != {expected.source_system!r}")
    return differences


def _holds_id(payload: str | None, event_id: str) -> bool:
    """The payload holds `event_id` as a whole value: a JSON string, or a CSV field."""
    if not payload:
        return False
    if json.dumps(event_id) in payload:
        return True
    return any(field.strip().strip('"') == event_id for field in payload.split(","))


def _in_quarantine(expected: ExpectedUsage, quarantine: list[tuple[str | None, str | None, str | None]]) -> bool:
    for location, reason, payload in quarantine:
        if not (reason and reason.strip()):
            continue
        if expected.location is not None:
            if location == expected.location:
                return True
        elif expected.event_id is not None and _holds_id(payload, expected.event_id):
            return True
    return False


def assert_usage_accounted(
    warehouse: duckdb.DuckDBPyConnection | str | Path,
    expected: Iterable[ExpectedUsage],
    *,
    source_systems: Iterable[str] | None = None,
) -> None:
    """Nothing lost, nothing counted twice.

    - every billable expected record is in `billing.usage_events` exactly once, by `event_id`,
      with its values (the same id expected twice with equal values is one event sent twice);
    - every non-billable one is in `billing.quarantine` with a non-empty reason (a rejected file
      is there too, with its path as location), and is not what canonical counts for its id;
      one with `billable=None` may be either;
    - `billing.usage_events` holds no event_id twice, and no event_id that was not expected
      (only its rows from `source_systems` are considered, when given: other channels' rows may
      be another test's business).
    """
    expected = list(expected)
    by_id: dict[str, list[ExpectedUsage]] = defaultdict(list)
    for record in expected:
        if record.billable and record.event_id is None:
            raise ValueError(f"a billable expected record needs its event_id: {record}")
        if record.event_id is not None:
            by_id[record.event_id].append(record)
    for event_id, records in by_id.items():
        if len({_billed_values(r) for r in records if r.billable}) > 1:
            raise ValueError(f"event_id {event_id!r} is expected as billable with different values: {records}")

    with _opened(warehouse) as connection:
        canonical = _canonical_rows(connection)
        quarantine = _quarantine_rows(connection)

    rows_by_id: dict[str, list[_CanonicalRow]] = defaultdict(list)
    for row in canonical:
        rows_by_id[row.event_id].append(row)

    lost, wrong_values, not_quarantined, unexpected = [], [], [], []
    doubled = [f"{event_id}: {len(rows)} rows" for event_id, rows in rows_by_id.items() if len(rows) > 1]
    scope = set(source_systems) if source_systems is not None else None
    for event_id, rows in rows_by_id.items():
        if event_id not in by_id and (scope is None or any(row.source_system in scope for row in rows)):
            unexpected.append(f"{event_id} ({rows[0].source_system}, {rows[0].customer_id}, {rows[0].quantity})")

    for event_id, records in by_id.items():
        # the same event delivered several times (a retry, a re-export through another channel)
        # is counted once, as any one of its deliveries
        billable = [record for record in records if record.billable]
        rows = rows_by_id.get(event_id, [])
        if billable and not rows:
            lost.append(f"{event_id} ({billable[0].customer_id}, {billable[0].metric}, {billable[0].quantity})")
        elif billable and not any(not _mismatches(record, row) for record in billable for row in rows):
            wrong_values.append(f"{event_id}: " + "; ".join(_mismatches(billable[0], rows[0])))
    for record in expected:
        rows = rows_by_id.get(record.event_id, []) if record.event_id is not None else []
        counted_as_this = any(not _mismatches(record, row) for row in rows)
        quarantined = _in_quarantine(record, quarantine)
        if record.billable is False:
            if not quarantined:
                not_quarantined.append(f"{record.event_id} at {record.location or 'any location'}: no quarantine entry")
            if counted_as_this and not any(other.billable for other in by_id[record.event_id]):
                wrong_values.append(f"{record.event_id}: counted although it must be quarantined")
        elif record.billable is None and not counted_as_this and not quarantined:
            lost.append(f"{record.event_id} at {record.location}: neither counted nor quarantined")

    _fail_if(
        {
            "expected usage missing from billing.usage_events": lost,
            "event_id counted more than once in billing.usage_events": doubled,
            "usage counted with other values than the source's": wrong_values,
            "rejected usage without a quarantine entry and reason": not_quarantined,
            "event_id in billing.usage_events that no source delivered": unexpected,
        }
    )


def _billed_values(record: ExpectedUsage) -> tuple:
    """What billing counts of a record: customer, metric, exact quantity, UTC instant."""
    return (record.customer_id, record.metric, Decimal(record.quantity), _utc(record.event_timestamp))


def daily_totals(expected: Iterable[ExpectedUsage]) -> dict[DayKey, DailyTotals]:
    """The billable expected records' totals per customer × metric × UTC day (an event_id
    expected twice counts once)."""
    counted: dict[str, ExpectedUsage] = {}
    for record in expected:
        if record.billable and record.event_id is not None:
            counted.setdefault(record.event_id, record)
    totals: dict[DayKey, DailyTotals] = {}
    for record in counted.values():
        key = (record.customer_id, record.metric, record.usage_day)
        count, total, highest = totals.get(key, (0, Decimal(0), None))
        quantity = Decimal(record.quantity)
        totals[key] = DailyTotals(count + 1, total + quantity, quantity if highest is None else max(highest, quantity))
    return totals


def assert_daily_sums_match(
    warehouse: duckdb.DuckDBPyConnection | str | Path,
    expected: Mapping[DayKey, DailyTotals | tuple] | Iterable[ExpectedUsage],
    *,
    table: str = "billing.billable_usage_daily",
    days: tuple[date, date] | None = None,
) -> None:
    """Per customer × metric × UTC day, `table`'s event count, exact sum and max equal the
    source's own.

    `expected` is either the source's aggregate (`{(customer, metric, day): (count, sum[, max])}`,
    e.g. from a GROUP BY in the source database; a max of None is not compared) or the records
    themselves (`ExpectedUsage`, totalled by `daily_totals`). `table` is
    `billing.billable_usage_daily` (customers known in `billing.customers` only) or
    `billing.daily_usage_totals` (every customer). `days` (first, last) restricts both sides to a
    window; without it every row of `table` must be expected.
    """
    if isinstance(expected, Mapping):
        wanted = {key: DailyTotals(*value) for key, value in expected.items()}
    else:
        wanted = daily_totals(expected)
    if days is not None:
        first, last = days
        wanted = {key: value for key, value in wanted.items() if first <= key[2] <= last}
        where, params = " WHERE usage_date BETWEEN ? AND ?", [first, last]
    else:
        where, params = "", []
    with _opened(warehouse) as connection:
        rows = connection.execute(
            f"SELECT customer_id, metric, usage_date, event_count, total_quantity, max_quantity FROM {table}{where}",
            params,
        ).fetchall()
    actual: dict[DayKey, list[DailyTotals]] = defaultdict(list)
    for customer, metric, day, count, total, highest in rows:
        actual[(customer, metric, day)].append(DailyTotals(count, Decimal(total), Decimal(highest)))

    missing, doubled, different, unexpected = [], [], [], []
    for key, totals in actual.items():
        if len(totals) > 1:
            doubled.append(f"{key}: {len(totals)} rows")
        if key not in wanted:
            unexpected.append(f"{key}: {totals[0]}")
    for key, want in wanted.items():
        got = actual.get(key)
        if not got:
            missing.append(f"{key}: expected {want}")
            continue
        have = got[0]
        if (
            have.event_count != want.event_count
            or have.total_quantity != Decimal(want.total_quantity)
            or (want.max_quantity is not None and have.max_quantity != Decimal(want.max_quantity))
        ):
            different.append(f"{key}: {table} has {have}, the source {want}")
    _fail_if(
        {
            f"days missing from {table}": missing,
            f"days in {table} more than once": doubled,
            f"days whose totals differ from the source's in {table}": different,
            f"days in {table} the source does not have": unexpected,
        }
    )


def _run_events_and_planned_checks(
    result_or_instance: dg.ExecuteInProcessResult | dg.DagsterInstance, run_id: str | None
) -> tuple[list[dg.DagsterEvent], set[dg.AssetCheckKey]]:
    """The run's events and the checks it set out to evaluate: the instance's planned-check
    events, or (an in-process result carries no planned events) the checks the run selected,
    else every check of the job on an asset the run selected."""
    if isinstance(result_or_instance, dg.DagsterInstance):
        if run_id is None:
            raise ValueError("assert_dbt_checks_passed(instance, …) needs the run_id")
        events = [
            entry.dagster_event for entry in result_or_instance.all_logs(run_id) if entry.dagster_event is not None
        ]
        planned = {
            event.event_specific_data.asset_check_key
            for event in events
            if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
        }
        return events, planned
    run = result_or_instance.dagster_run
    if run.asset_check_selection is not None:
        planned = set(run.asset_check_selection)
    else:
        asset_layer = result_or_instance.job_def.asset_layer
        selected = run.asset_selection or set(asset_layer.selected_asset_keys)
        planned = {key for key in asset_layer.asset_graph.asset_check_keys if key.asset_key in selected}
    return list(result_or_instance.all_events), planned


def assert_dbt_checks_passed(
    result_or_instance: dg.ExecuteInProcessResult | dg.DagsterInstance,
    run_id: str | None = None,
    *,
    assets: Iterable[dg.AssetKey | str] | None = None,
    allow_warnings: bool = True,
) -> None:
    """The run evaluated every asset check (dbt test) it planned, and they passed.

    Reads the run's events: an `ExecuteInProcessResult`, or an instance and a run id (a run in
    another process). Every planned check has an evaluation (a check the dbt step never got to
    fails this); every evaluation passed, except, with `allow_warnings`, WARN-severity ones (the
    project's WARN checks flag e.g. usage of a customer not loaded yet, kept by design).
    `assets` (default: `billing/usage_events`) must each have had at least one check evaluated,
    so a run whose dbt step tested nothing does not pass by having nothing to fail.
    """
    events, planned = _run_events_and_planned_checks(result_or_instance, run_id)
    evaluations = [
        event.event_specific_data for event in events if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    evaluated = {evaluation.asset_check_key for evaluation in evaluations}
    required = [
        key if isinstance(key, dg.AssetKey) else dg.AssetKey.from_user_string(key)
        for key in (assets if assets is not None else ["billing/usage_events"])
    ]
    failed = [
        f"{evaluation.asset_key.to_user_string()} {evaluation.check_name} ({evaluation.severity.value})"
        for evaluation in evaluations
        if not evaluation.passed and not (allow_warnings and evaluation.severity == dg.AssetCheckSeverity.WARN)
    ]
    _fail_if(
        {
            "asset checks that failed": failed,
            "asset checks planned but never evaluated": sorted(
                f"{key.asset_key.to_user_string()} {key.name}" for key in planned - evaluated
            ),
            "assets with no check evaluated": [
                key.to_user_string() for key in required if not any(e.asset_key == key for e in evaluations)
            ],
        }
    )
