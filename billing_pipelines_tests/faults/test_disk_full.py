"""The landing zone's disk filling up, on a real file system of a few hundred KiB (a tmpfs
mounted for the test: this sandbox runs as root), so every write meets the kernel's own ENOSPC
and short writes, not a simulated exception.

- The push API (`ingest_api/spool.py`) writing its landing segments: a push whose records
  cannot all be written is answered with a 5xx, never a 2xx; once space comes back, the client's
  retry is accepted, and every record the API acknowledged, before, during and after the fault,
  reaches `billing.usage_events` exactly once (no torn line quarantined).
- The landing sensor archiving an inbox file (`defs/landing/archive.py: accept_file`): a tick
  that runs out of space leaves the file whole, in the inbox or in the archive with its record,
  never half-archived; once space is freed the next tick takes it and asks for the run of its
  day, and the run loads each of its events exactly once.

Both fail today. The spool writes each group of rows with one unbuffered `write()` and does not
look at how many bytes it took: on a full disk the kernel takes part of it and says so, the
spool fsyncs and answers 202, and the rest of the rows are gone (the next push's first line is
joined to the torn one). `accept_file` moves the file into the archive, then fails to write its
`.json` record: the file is archived with an empty record, and every later tick fails reading it.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import httpx

from billing_pipelines.defs.landing.archive import ARCHIVE, RECORD_SUFFIX
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines_tests.ingest_api.conftest import RunningApi
from billing_pipelines_tests.ingest_api.pipeline import carry_landing, configured, warehouse_rows
from billing_pipelines_tests.invariants import ExpectedUsage, assert_usage_accounted

DAY = date(2026, 11, 20)
FILE_SYSTEM_SIZE = "512k"


@contextmanager
def small_file_system(mount_point: Path, size: str = FILE_SYSTEM_SIZE) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mount_point` for the block."""
    mount_point.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(file_system: Path) -> Path:
    """Take every free byte of the file system into one file; returns it (delete it to free)."""
    filler = file_system / ".filler"
    with open(filler, "ab", buffering=0) as handle:
        for size in (64 * 1024, 4096, 1):
            while True:
                try:
                    if handle.write(b"\0" * size) < size:
                        continue  # a short write: the next one says why
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
    assert os.statvfs(file_system).f_bavail == 0
    return filler


def at(day: date, n: int) -> datetime:
    return datetime(day.year, day.month, day.day, n % 24, n % 60, tzinfo=UTC)


def usage_events(prefix: str, count: int) -> list[dict]:
    """A push body: `count` events of DAY."""
    return [
        {
            "event_id": f"{prefix}-{n}",
            "customer_id": f"CUS-{n % 4}",
            "metric": "api_calls",
            "timestamp": at(DAY, n).isoformat(),
            "quantity": str(n + 1),
            "properties": {"batch": prefix, "padding": "p" * 40},
        }
        for n in range(count)
    ]


def expected(event: dict) -> ExpectedUsage:
    """What billing must hold of a pushed event."""
    return ExpectedUsage(
        event["event_id"],
        event["customer_id"],
        event["metric"],
        Decimal(event["quantity"]),
        datetime.fromisoformat(event["timestamp"]),
    )


def canonical_events(config_path: Path) -> list[str]:
    return [
        event_id for (event_id,) in warehouse_rows(config_path, "select event_id from billing.usage_events order by 1")
    ]


def test_a_push_the_full_disk_cannot_hold_gets_a_5xx_and_nothing_acknowledged_is_lost(tmp_path):
    landing = tmp_path / "landing"
    with small_file_system(landing):
        config_path = tmp_path / "billing.yaml"
        config_path.write_text(
            'history_start: "2026-08-01"\nwarehouse: {path: warehouse.duckdb}\n'
            f"landing: {{path: {landing}}}\n"
            # one open landing file for the whole test: the fault meets acknowledged rows in it
            "ingest_api: {state_path: api_state, segment_seconds: 3600}\n"
        )
        api = RunningApi(tmp_path, config_path).start()
        try:
            key = api.key("usage:write")
            acknowledged: list[dict] = []
            with api.client(key) as client:

                def push(batch: list[dict], idempotency_key: str) -> httpx.Response:
                    answer = client.post("/v1/usage-events", json=batch, headers={"Idempotency-Key": idempotency_key})
                    if answer.is_success:
                        accepted = answer.json()["accepted"]
                        acknowledged.extend(batch[index] for index in accepted)
                    return answer

                before = push(usage_events("before", 10), "batch-before")
                assert before.status_code == 202, before.text
                filler = fill(landing)
                during = usage_events("during", 200)  # ~30 KiB: more than the open file's last page holds
                full = push(during, "batch-during")
                filler.unlink()
                if not full.is_success:  # a client retries a 5xx with the same key, once space is back
                    retried = push(during, "batch-during")
                    assert retried.status_code == 202 and "Idempotent-Replayed" not in retried.headers, retried.text
                after = push(usage_events("after", 10), "batch-after")
                assert after.status_code == 202, after.text
        finally:
            api.stop()  # seals the open landing files into the inbox

        carry_landing(config_path)

        lost = sorted({event["event_id"] for event in acknowledged} - set(canonical_events(config_path)))
        assert lost == [], f"{len(lost)} acknowledged events never reached billing.usage_events: {lost[:5]} …"
        assert_usage_accounted(tmp_path / "warehouse.duckdb", [expected(event) for event in acknowledged])
        assert warehouse_rows(config_path, "select reason, location from billing.quarantine") == []
        assert full.status_code >= 500, (
            f"the push the full disk could not hold was answered {full.status_code}: {full.text[:300]}"
        )
        json_error = full.headers.get("content-type", "").startswith("application/json") and full.json().get("error")
        assert json_error and json_error.get("message"), f"a 5xx says what went wrong: {full.text[:300]!r}"


def test_an_archive_move_that_runs_out_of_space_leaves_the_file_whole_and_a_later_tick_takes_it(tmp_path):
    landing = tmp_path / "landing"
    with small_file_system(landing):
        config_path = tmp_path / "billing.yaml"
        config_path.write_text(
            f'history_start: "2026-08-01"\nwarehouse: {{path: warehouse.duckdb}}\nlanding: {{path: {landing}}}\n'
        )
        header = "event_id,customer_external_id,metric,quantity,event_timestamp,properties\n"
        inbox = landing / "usage_events"
        inbox.mkdir()

        def drop(name: str, prefix: str, count: int) -> list[ExpectedUsage]:
            events = [
                ExpectedUsage(f"{prefix}-{n}", f"CUS-{n % 3}", "api_calls", Decimal(n + 1), at(DAY, n))
                for n in range(count)
            ]
            lines = [
                f"{e.event_id},{e.customer_id},api_calls,{e.quantity},{e.event_timestamp.isoformat()},{{}}"
                for e in events
            ]
            (inbox / name).write_text(header + "\n".join(lines) + "\n")
            return events

        with configured(config_path):
            from billing_pipelines.definitions import build_definitions

            defs, instance = build_definitions(), dg.DagsterInstance.ephemeral()
            sensor = defs.resolve_sensor_def("landing_files")

            def tick(cursor: str | None):
                return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor))

            first = drop("first.csv", "first", 20)
            earlier = tick(None)  # the sensor has run before: it has a cursor
            assert [r.run_key for r in earlier.run_requests], "the first file is taken"
            second = drop("second.csv", "second", 20)
            filler = fill(landing)

            failed_tick, error = None, None
            try:
                failed_tick = tick(earlier.cursor)
            except Exception as raised:  # a failed tick keeps its cursor; the daemon runs the sensor again
                error = raised

            archive = landing / ARCHIVE / "usage_events"
            archived = list(archive.glob("*__second.csv"))
            assert (inbox / "second.csv").exists() != bool(archived), "in the inbox or in the archive, exactly one"
            if archived:
                record = archived[0].with_name(archived[0].name + RECORD_SUFFIX)
                text = record.read_text() if record.exists() else "(no record)"
                assert text.startswith("{") and json.loads(text)["name"] == "second.csv", (
                    f"archived without a readable record (half-archived): {text!r}; the tick failed with {error!r}"
                )

            filler.unlink()
            cursor = failed_tick.cursor if failed_tick is not None and failed_tick.cursor else earlier.cursor
            later = tick(cursor)
            asked = [*(failed_tick.run_requests if failed_tick is not None else []), *later.run_requests]
            assert asked, f"no tick asked for the second file's run (the full tick: {error!r})"
            assert {r.partition_key_range.start for r in asked} == {DAY.isoformat()}
            assert not (inbox / "second.csv").exists() and len(list(archive.glob("*__second.csv"))) == 1
            result = run_days(defs, asked[-1].job_name, DAY, DAY, instance)
            assert result.success, failure_messages(result)

        assert_usage_accounted(tmp_path / "warehouse.duckdb", [*first, *second])
