"""Two runs writing the same days at once: the same backfill range launched twice, and a backfill
overlapping the scheduled sync. DuckDB takes one writing process per file, so every step that
writes the warehouse is in the `warehouse` pool (limit 1 in the shipped dagster.yaml): the second
run's warehouse steps wait for the slot, and a run holds the DuckDB warehouse from its start to
its end (`lib/warehouse.py: hold_warehouse`), so the second run waits before its first step.
Asserted: both runs succeed, no two warehouse-writing steps overlapped in time (STEP_START …
STEP_SUCCESS in the instance's event log), the runs did not interleave (one run's warehouse
steps all ended before the other's began), and the warehouse holds every source event exactly
once with the source's daily totals.

One run executes in a child process (a run worker) and is held in its usage load (its source
read waits in PostgreSQL) until the other, started in the test's process, waits for the pool:
the moment a scheduler would most likely hand the slot to the other run. Both record into the
company's persistent instance.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.sync.jobs import SYNC_JOB, USAGE_JOB
from billing_pipelines.lib.runs import PARTITION_RANGE_END, PARTITION_RANGE_START
from billing_pipelines_tests.faults.conftest import (
    FIRST,
    LAST,
    RUN_TIMEOUT_SECONDS,
    USAGE_MODELS,
    WAREHOUSE_STEPS,
    Company,
    assert_billing_invariants,
    finish,
    wait_until,
)


@dataclass(frozen=True)
class Step:
    run_id: str
    step: str
    start: float
    end: float

    def overlaps(self, other: Step) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class TwoRuns:
    child: str
    in_process: str
    steps: list[Step]


def warehouse_steps(company: Company, run_id: str) -> list[Step]:
    steps = []
    for step, times in company.step_events(run_id).items():
        if step in WAREHOUSE_STEPS:
            assert times.get("outcome") == "STEP_SUCCESS", f"{run_id} {step}: {times}"
            steps.append(Step(run_id, step, times["start"], times["end"]))
    return steps


def run_two_at_once(company: Company, job: str, second: dict) -> TwoRuns:
    """`job` over FIRST..LAST in a child; while it holds the warehouse in its usage load (its read
    held in PostgreSQL), `second` (`job`, `first`, `last`, tags) starts in this process (on a
    thread); once that run waits for the warehouse, the first is let go. Both must succeed."""
    company.hold_extract(True)
    second_id = str(uuid.uuid4())
    failures: list[BaseException] = []

    def run_second() -> None:
        try:
            company.run(run_id=second_id, **second)
        except BaseException as error:  # reported by the test's thread
            failures.append(error)

    thread = threading.Thread(target=run_second)
    try:
        process, child = company.run_in_child(job, tags={"dagster/backfill": "faults"})
        wait_until(company.extract_in_progress, "the first run reading the source", process)
        thread.start()
        wait_until(
            lambda: company.waits_for_the_warehouse(second_id) or not thread.is_alive(), "the second run waiting"
        )
    finally:
        company.hold_extract(False)
    thread.join(RUN_TIMEOUT_SECONDS)
    output = finish(process)
    assert not failures, failures
    assert process.returncode == 0, f"run {child} failed:\n{output[-6000:]}"
    steps = warehouse_steps(company, child) + warehouse_steps(company, second_id)
    assert {s.run_id for s in steps} == {child, second_id}
    return TwoRuns(child, second_id, steps)


def assert_one_writer_at_a_time(runs: TwoRuns) -> None:
    overlapping = [(a, b) for i, a in enumerate(runs.steps) for b in runs.steps[i + 1 :] if a.overlaps(b)]
    assert not overlapping, f"warehouse-writing steps ran at the same time: {overlapping}"


def assert_not_interleaved(runs: TwoRuns) -> None:
    """One run's warehouse steps all ended before the other's first began."""
    order = [step.run_id for step in sorted(runs.steps, key=lambda step: step.start)]
    switches = sum(1 for before, after in zip(order, order[1:], strict=False) if before != after)
    assert switches == 1, "the runs' warehouse steps interleaved: " + ", ".join(
        f"{'child' if s.run_id == runs.child else 'second'}:{s.step}" for s in sorted(runs.steps, key=lambda s: s.start)
    )


def new_event(company: Company, number: int) -> None:
    """A late event for the window arrives in the source before the runs."""
    model = company.events["app-7"]
    company.store_events(
        [replace(model, event_id=f"app-{number}", event_timestamp=model.event_timestamp + timedelta(seconds=number))]
    )


@pytest.fixture(scope="module")
def same_range_twice(company: Company) -> Iterator[TwoRuns]:
    new_event(company, 200)
    yield run_two_at_once(company, USAGE_JOB, {"job": USAGE_JOB, "first": FIRST, "last": LAST})


def test_the_same_range_twice_at_once_writes_one_step_at_a_time(company: Company, same_range_twice: TwoRuns):
    assert_one_writer_at_a_time(same_range_twice)
    assert_billing_invariants(company, same_range_twice.child)
    assert_billing_invariants(company, same_range_twice.in_process)


def test_the_same_range_twice_at_once_does_not_interleave(same_range_twice: TwoRuns):
    assert_not_interleaved(same_range_twice)


def scheduled_sync_request(company: Company, at: datetime) -> dg.RunRequest:
    """What the `contemporary_sync` schedule asks for at `at`."""
    with company.configured():
        schedule = build_definitions().resolve_schedule_def("contemporary_sync")
        with dg.build_schedule_context(scheduled_execution_time=at) as context:
            requests = schedule.evaluate_tick(context).run_requests
    assert len(requests) == 1
    return requests[0]


@pytest.fixture(scope="module")
def backfill_and_sync(company: Company) -> Iterator[TwoRuns]:
    new_event(company, 201)
    request = scheduled_sync_request(company, datetime(2026, 9, 4, 0, 15, tzinfo=UTC))
    first, last = (date.fromisoformat(request.tags[tag]) for tag in (PARTITION_RANGE_START, PARTITION_RANGE_END))
    assert (first, last) == (LAST - timedelta(days=1), LAST)  # overlaps the backfill's last two days
    sync = {"job": SYNC_JOB, "first": first, "last": last, "dagster/schedule_name": "contemporary_sync"}
    yield run_two_at_once(company, SYNC_JOB, sync)


def test_a_backfill_overlapping_the_scheduled_sync_writes_one_step_at_a_time(company: Company, backfill_and_sync):
    assert_one_writer_at_a_time(backfill_and_sync)
    for run_id in (backfill_and_sync.child, backfill_and_sync.in_process):
        assert_billing_invariants(company, run_id, [*USAGE_MODELS, "billing/customers", "billing/contracts"])


def test_a_backfill_overlapping_the_scheduled_sync_does_not_interleave(backfill_and_sync: TwoRuns):
    assert_not_interleaved(backfill_and_sync)
