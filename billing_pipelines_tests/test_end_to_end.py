"""The whole pipeline on a small sandbox company: SQLite app database + CSV landing zone →
raw → staging → canonical → marts, through the real jobs, sensor and Dagster instance.

One migration is shared by the tests of this module (dbt runs are the slow part); each test
states what a billing user relies on: every valid event exactly once, bad rows quarantined
with file and line, re-runs change nothing, a late file re-runs exactly its day.
"""

import os
from datetime import UTC, date, datetime

import dagster as dg
import duckdb
import pytest

from billing_pipelines.config import current_config
from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.landing.archive import accept_inbox
from billing_pipelines.defs.landing.sensors import LANDING_USAGE_JOB
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines.sandbox.generate import generate_company
from billing_pipelines_tests.event_times import TEST_EVENT_TIMES

FIRST, LAST = date(2026, 8, 27), date(2026, 9, 30)
CONFIG = """\
history_start: "2026-08-01"
warehouse: {path: warehouse.duckdb}
landing: {path: landing}
sources:
  app_db:
    kind: sql
    url: sqlite:///app_db.sqlite
    datasets:
      customers:
        query: |
          SELECT id AS account_id, external_id, name, email, phone,
                 address_line1 AS line1, address_line2 AS line2, city, state, postal_code,
                 country, tax_id, currency, created_at, updated_at, deleted_at
          FROM accounts WHERE updated_at >= :window_start AND updated_at < :window_end
        cursor: updated_at
        primary_key: account_id
      contracts:
        query: |
          SELECT s.id AS subscription_id, a.external_id AS customer_external_id, s.name, s.status,
                 s.currency, s.start_date, s.end_date, s.renewal_policy, s.updated_at, s.deleted_at
          FROM subscriptions s JOIN accounts a ON a.id = s.account_id
          WHERE s.updated_at >= :window_start AND s.updated_at < :window_end
        cursor: updated_at
        primary_key: subscription_id
      contract_items:
        table: subscription_items_view
        cursor: updated_at
        primary_key: item_id
      usage_events:
        query: |
          SELECT u.id AS event_id, a.external_id AS customer_external_id, u.metric, u.quantity,
                 u.occurred_at AS event_timestamp, u.properties
          FROM usage_records u JOIN accounts a ON a.id = u.account_id
          WHERE u.occurred_at >= :window_start AND u.occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""
ITEMS_VIEW = """
CREATE VIEW subscription_items_view AS
SELECT id AS item_id, subscription_id, product_code AS product_id, product_name, pricing_model,
       unit_price AS unit_amount, currency, billing_interval AS billing_period, quantity, metric,
       starts_on AS start_date, ends_on AS end_date, updated_at
FROM subscription_items
"""
FINGERPRINTS = {
    "usage_events": "SELECT count(*), sum(hash(event_id, customer_id, metric, quantity, event_timestamp)) FROM billing.usage_events",
    "customers": "SELECT count(*), sum(hash(customer_id, name, is_deleted)) FROM billing.customers",
    "contracts": "SELECT count(*), sum(hash(contract_id, status)) FROM billing.contracts",
    "contract_items": "SELECT count(*) FROM billing.contract_items",
    "billable": "SELECT count(*), sum(total_quantity), sum(event_count) FROM billing.billable_usage_daily",
    "quarantine": "SELECT count(*), sum(hash(location, reason)) FROM billing.quarantine",
}


class Sandbox:
    """A small generated company wired to its own billing.yaml, warehouse and instance."""

    def __init__(self, root):
        self.root = root
        (root / "billing.yaml").write_text(CONFIG)
        os.environ["BILLING_CONFIG"] = str(root / "billing.yaml")
        os.environ.pop("BILLING_WAREHOUSE", None)
        current_config.cache_clear()
        self.expected = generate_company(
            root / "app_db.sqlite",
            root / "landing",
            end_date=LAST,
            days=(LAST - FIRST).days + 1,
            accounts=40,
            usage_events=20_000,
            landing_usage_events=2_000,
        )
        import sqlite3

        with sqlite3.connect(root / "app_db.sqlite") as app_db:
            app_db.execute(ITEMS_VIEW)
        self.defs = build_definitions()
        self.instance = dg.DagsterInstance.ephemeral()

    def run(self, job: str, first: date | None, last: date | None) -> dg.ExecuteInProcessResult:
        result = run_days(self.defs, job, first, last, self.instance)
        assert result.success, failure_messages(result)
        return result

    def query(self, sql: str, *params):
        with duckdb.connect(str(self.root / "warehouse.duckdb"), read_only=True) as warehouse:
            return warehouse.execute(sql, list(params)).fetchall()

    def fingerprint(self) -> dict:
        return {name: self.query(sql) for name, sql in FINGERPRINTS.items()}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    saved = dict(os.environ)
    sandbox = Sandbox(tmp_path_factory.mktemp("sandbox"))
    accept_inbox(sandbox.root / "landing", datetime(2026, 10, 1, 6, tzinfo=UTC), TEST_EVENT_TIMES)
    sandbox.run(SYNC_JOB, date(2026, 8, 1), LAST)
    yield sandbox
    os.environ.clear()
    os.environ.update(saved)
    current_config.cache_clear()


def test_migration_loads_every_valid_event_exactly_once(sandbox):
    counts = sandbox.expected["counts"]
    [(events, distinct)] = sandbox.query("SELECT count(*), count(DISTINCT event_id) FROM billing.usage_events")
    assert events == distinct == counts["usage_events"]
    by_source = dict(sandbox.query("SELECT source_system, count(*) FROM billing.usage_events GROUP BY ALL"))
    assert by_source == {"app_db": counts["usage_events_app_db"], "landing": counts["usage_events_landing"]}
    assert sandbox.query("SELECT count(*) FROM billing.customers") == [(counts["customers"],)]
    assert sandbox.query("SELECT count(*) FROM billing.contracts") == [(counts["contracts"],)]
    assert sandbox.query("SELECT count(*) FROM billing.contract_items") == [(counts["contract_items"],)]


def test_bad_rows_are_quarantined_with_file_line_and_reason(sandbox):
    expected = {
        (row["file"] if row["line"] is None else f"{row['file']}:{row['line']}", row["reason_code"])
        for row in sandbox.expected["quarantine_rows"]
    }
    quarantined = sandbox.query(
        "SELECT location, split_part(reason, ':', 1), payload IS NOT NULL FROM billing.quarantine WHERE source_system = 'landing'"
    )
    assert {(location, code) for location, code, _ in quarantined} == expected
    assert len(quarantined) == len(expected) and all(has_payload for *_, has_payload in quarantined)


def test_unknown_customer_usage_is_kept_but_not_billed_yet(sandbox):
    unknown = sandbox.query(
        "SELECT count(*) FROM billing.usage_events WHERE customer_id NOT IN (SELECT customer_id FROM billing.customers)"
    )
    assert unknown == [(sandbox.expected["unknown_customer_events"],)]
    [(billed,)] = sandbox.query("SELECT sum(event_count) FROM billing.billable_usage_daily")
    assert billed == sandbox.expected["counts"]["usage_events"] - sandbox.expected["unknown_customer_events"]


def test_rerunning_the_backfill_and_a_sync_changes_nothing(sandbox):
    before = sandbox.fingerprint()
    sandbox.run(SYNC_JOB, date(2026, 9, 1), date(2026, 9, 10))
    sandbox.run(SYNC_JOB, date(2026, 8, 1), LAST)
    assert sandbox.fingerprint() == before


def test_a_late_file_reruns_exactly_its_old_day(sandbox):
    late_day = date(2026, 9, 5)
    inbox = sandbox.root / "landing" / "usage_events"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "late_upload.csv").write_text(
        "event_id,customer_external_id,metric,quantity,event_timestamp,properties\n"
        "late-1,CUS-000001,api_calls,5,2026-09-05T10:00:00Z,{}\n"
        "late-2,CUS-000001,api_calls,7,2026-09-05T23:59:59Z,{}\n"
    )
    per_day = "SELECT event_timestamp::date AS day, count(*) FROM billing.usage_events GROUP BY day ORDER BY day"
    before = dict(sandbox.query(per_day))

    sensor = sandbox.defs.resolve_sensor_def("landing_files")
    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=sandbox.instance, cursor="2026-10-01T06:00:00+00:00"))
    [request] = tick.run_requests
    assert request.job_name == LANDING_USAGE_JOB
    assert request.partition_key_range == dg.PartitionKeyRange("2026-09-05", "2026-09-05")

    result = sandbox.run(LANDING_USAGE_JOB, late_day, late_day)
    partitions = {
        event.event_specific_data.materialization.partition
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(["billing", "usage_events"])
    }
    assert partitions == {"2026-09-05"}
    after = dict(sandbox.query(per_day))
    assert after[late_day] == before[late_day] + 2
    assert {day: n for day, n in after.items() if day != late_day} == {
        day: n for day, n in before.items() if day != late_day
    }
