"""A backfill's run worker killed with SIGKILL in each phase — while it reads the source, while
dlt writes the warehouse, while dbt builds the models — then the same partitions run again: the
warehouse holds every source event exactly once, the daily marts equal the source's own totals,
and the re-run's dbt tests pass.

The run executes in a child process against the company's persistent instance; the phase is
seen from outside: the usage query sitting in PostgreSQL (`pg_stat_activity`), a marker the
child writes when dlt's load holds (after the first table chain reached the warehouse, before
the package completes), the first dbt model's materialization in the instance's event log. The
whole process group dies (the run worker and its dbt child), as when a container is killed.

After a kill the test does what an operator does for a dead run: force-terminate it (the UI's
Terminate → Force termination) and free the `warehouse` pool slot it still holds (Concurrency →
warehouse → Free slots) — `test_a_killed_run_leaves_the_warehouse_pool_free` shows why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from billing_pipelines.lib.warehouse import WAREHOUSE_POOL
from billing_pipelines_tests.faults.conftest import Company, assert_billing_invariants, wait_until


def in_step(company: Company, run_id: str, step: str) -> bool:
    steps = company.step_events(run_id)
    return "start" in steps.get(step, {}) and "end" not in steps[step]


def kill_and_force_terminate(company: Company, process, run_id: str) -> None:
    company.kill(process)
    company.force_terminate(run_id)


def change_the_source(company: Company, seed: int) -> None:
    """Between the killed run and the re-run the source moves on: one event's quantity is
    corrected and a new one arrives in the window, so a re-run that kept stale rows or lost new
    ones shows."""
    first = company.events["app-10"]
    corrected = replace(first, quantity=first.quantity + Decimal(f"0.00000000{seed}"))
    arrived = replace(
        first, event_id=f"app-{100 + seed}", event_timestamp=first.event_timestamp + timedelta(minutes=seed)
    )
    company.store_events([corrected, arrived])


@pytest.fixture(scope="module")
def killed_during_extract(company: Company) -> Iterator[tuple[str, set[str]]]:
    """A run killed while its usage query sits in PostgreSQL, then force-terminated: its id and
    the runs holding a `warehouse` slot after that."""
    company.hold_extract(True)
    process, run_id = company.run_in_child()
    try:
        wait_until(company.extract_in_progress, "the usage query in PostgreSQL", process)
        assert in_step(company, run_id, "app_db_usage")
        kill_and_force_terminate(company, process, run_id)
    finally:
        company.hold_extract(False)
    company.run_daemon_slot_release()
    yield run_id, company.warehouse_slot_holders()


def test_a_killed_run_leaves_the_warehouse_pool_free(killed_during_extract):
    """Once the dead run is terminated, the daemon frees the `warehouse` slot it held (the
    shipped dagster.yaml's `run_monitoring.free_slots_after_run_end_seconds`): otherwise every
    later warehouse step of every run — backfills, the sync, landing files — logs "Step blocked
    by limit for pool warehouse" and waits forever."""
    run_id, holders = killed_during_extract
    assert run_id not in holders, (
        f"the killed and terminated run {run_id} still holds the {WAREHOUSE_POOL!r} pool's slot:"
        " every later run waits for it forever"
    )


def test_killed_during_extract(company: Company, killed_during_extract):
    run_id, _ = killed_during_extract
    company.free_pool_slots(run_id)
    change_the_source(company, 1)

    assert_billing_invariants(company, company.run())


def test_killed_during_load(company: Company):
    process, run_id = company.run_in_child(pause_at="load")
    wait_until(company.pause_marker(run_id).exists, "dlt's load holding", process)
    assert in_step(company, run_id, "app_db_usage")
    kill_and_force_terminate(company, process, run_id)
    company.free_pool_slots(run_id)
    change_the_source(company, 2)

    assert_billing_invariants(company, company.run())


def test_killed_during_dbt(company: Company):
    process, run_id = company.run_in_child()
    wait_until(
        lambda: any(key.startswith("staging/") for key in company.materialized(run_id)),
        "dbt's first model built",
        process,
    )
    assert in_step(company, run_id, "dbt_models")
    kill_and_force_terminate(company, process, run_id)
    company.free_pool_slots(run_id)
    change_the_source(company, 3)

    assert_billing_invariants(company, company.run())
