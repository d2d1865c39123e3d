"""The DuckDB warehouse file held by another process (an analyst's DuckDB shell, a notebook, a
stray run) while a usage backfill runs: the run fails, saying the warehouse file is locked and by
which process, after its raw load's retries (a lock is transient: `lib/step_retries.py`; here
with short waits); nothing of the run reaches the warehouse; once the lock is released, a re-run
of the same days holds every source event exactly once with the source's daily totals.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import duckdb

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.sync.jobs import USAGE_JOB
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines_tests.faults.conftest import FIRST, LAST, Company, assert_billing_invariants

SNAPSHOT = {
    "raw_app_db.usage_events": "SELECT event_id, customer_external_id, metric, CAST(quantity AS VARCHAR),"
    " CAST(event_timestamp AS VARCHAR), CAST(properties AS VARCHAR), _dlt_load_id FROM raw_app_db.usage_events",
    "billing.usage_events": "SELECT * FROM billing.usage_events",
    "billing.daily_usage_totals": "SELECT * FROM billing.daily_usage_totals",
    "billing.quarantine": "SELECT * FROM billing.quarantine",
}
"""What a run of the window writes: raw, canonical, the mart and the quarantine."""


def snapshot(company: Company) -> dict[str, list[tuple]]:
    with duckdb.connect(str(company.warehouse), read_only=True) as warehouse:
        return {name: sorted(map(repr, warehouse.execute(sql).fetchall())) for name, sql in SNAPSHOT.items()}


@contextmanager
def warehouse_held_by_another_process(company: Company) -> Iterator[int]:
    """A process with the warehouse open for writing (as `duckdb warehouse.duckdb` holds it);
    yields its pid."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); sys.stdin.readline()",
            str(company.warehouse),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield holder.pid
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_locked_warehouse_fails_the_run_clearly_and_a_rerun_after_it_is_released_loads_it(
    company: Company, quick_step_retries
):
    corrected = replace(company.events["app-12"], quantity=company.events["app-12"].quantity + Decimal("1"))
    arrived = replace(corrected, event_id="app-300", event_timestamp=corrected.event_timestamp + timedelta(seconds=3))
    company.store_events([corrected, arrived])
    before = snapshot(company)

    with warehouse_held_by_another_process(company) as holder_pid, company.configured(), company.instance() as instance:
        result = run_days(build_definitions(), USAGE_JOB, FIRST, LAST, instance)
    assert not result.success
    message = failure_messages(result)
    print(f"the locked run's failure: {message}")  # shown with -rP
    assert message.startswith("app_db_usage: "), message  # the first writer fails; dbt never starts
    assert str(company.warehouse) in message, message
    assert "Could not set lock on file" in message and f"(PID {holder_pid})" in message, message
    assert snapshot(company) == before

    assert_billing_invariants(company, company.run())
