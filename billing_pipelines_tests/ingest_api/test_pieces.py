"""The push API's parts on their own: record checks, landing rows, the durable spool and its
recovery, recent event ids, rate limits, keys and idempotency records."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import socket
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from billing_pipelines.defs.landing.columns import LANDING_COLUMNS
from billing_pipelines.ingest_api.auth import RateLimiter
from billing_pipelines.ingest_api.keys import KeyStore, split_key
from billing_pipelines.ingest_api.main import main
from billing_pipelines.ingest_api.models import (
    ContractIn,
    CustomerIn,
    UsageEventIn,
    contract_item_rows,
    contract_row,
    customer_row,
    fast_usage_rows,
    fast_validate,
    usage_rows,
    validate_records,
)
from billing_pipelines.ingest_api.push import delivery_keys, read_usage_events
from billing_pipelines.ingest_api.replay import IdempotencyConflict, IdempotencyStore, RecentEventIds
from billing_pipelines.ingest_api.spool import (
    SPOOL,
    LandingSpool,
    _Pending,
    drop_repeated,
    recover_abandoned,
    usage_csv_lines,
)
from billing_pipelines.ingest_api.state import STATE_FILE, open_state
from billing_pipelines.lib.event_time_range import EventTimeRange

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


# -- records ------------------------------------------------------------------------------


def test_landing_rows_follow_the_landing_columns_of_their_dataset():
    contract = ContractIn.model_validate(
        {
            "contract_id": "ct",
            "customer_id": "c",
            "status": "active",
            "currency": "EUR",
            "start_date": "2026-09-01",
            "items": [{"product_id": "p", "pricing_model": "per_unit", "unit_amount": "0.5", "metric": "m"}],
        }
    )
    customer = CustomerIn.model_validate({"external_id": "c", "name": "Acme", "country": "FR"})
    event = UsageEventIn.model_validate(
        {"customer_id": "c", "metric": "m", "timestamp": "2026-11-28T13:00:00+01:00", "quantity": 1e3}
    )
    assert len(customer_row(customer, NOW)) == len(LANDING_COLUMNS["customers"])
    assert len(contract_row(contract, NOW)) == len(LANDING_COLUMNS["contracts"])
    [item] = contract_item_rows(contract)
    assert dict(zip(LANDING_COLUMNS["contract_items"], item)) | {} == {
        **dict.fromkeys(LANDING_COLUMNS["contract_items"], ""),
        "contract_id": "ct",
        "product_id": "p",
        "pricing_model": "per_unit",
        "unit_amount": "0.5",
        "metric": "m",
    }
    assert dict(zip(LANDING_COLUMNS["contracts"], contract_row(contract, NOW)))["customer_external_id"] == "c"
    assert dict(zip(LANDING_COLUMNS["customers"], customer_row(customer, NOW)))["updated_at"] == NOW.isoformat()
    [row] = usage_rows([event])
    assert dict(zip(LANDING_COLUMNS["usage_events"], row)) == {
        "event_id": "",
        "customer_external_id": "c",
        "metric": "m",
        "quantity": "1000.0",
        "event_timestamp": "2026-11-28T13:00:00+01:00",
        "properties": "",
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"metric": "api\tcalls"}, "metric: must not contain control characters (tabs, newlines, …)"),
        ({"customer_id": ""}, "customer_id: String should have at least 1 character"),
        ({"quantity": "Infinity"}, "quantity: Input should be a finite number"),
        ({"quantity": "1" * 30}, "quantity: Decimal input should have no more than 29 digits before the decimal point"),
        ({"timestamp": "yesterday"}, "timestamp: Input should be a valid datetime or date"),
        ({"properties": [1, 2]}, "properties: Input should be a valid dictionary"),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_a_bad_event_is_rejected_naming_its_field(change, reason):
    good = {"event_id": "e", "customer_id": "c", "metric": "m", "timestamp": "2026-11-28T10:00:00Z", "quantity": 1}
    valid, rejected = validate_records(UsageEventIn, [good, {**good, **change}])
    assert [index for index, _ in valid] == [0]
    assert [r.index for r in rejected] == [1] and rejected[0].reason.startswith(reason)
    assert orjson.loads(rejected[0].payload) == {**good, **change}


def test_one_pass_validation_gives_up_on_any_bad_record_and_never_raises():
    good = {"customer_id": "c", "metric": "m", "timestamp": "2026-11-28T10:00:00Z", "quantity": 1}
    assert len(fast_validate(UsageEventIn, orjson.dumps([good, good]))) == 2
    assert fast_validate(UsageEventIn, orjson.dumps([good, {**good, "quantity": "x"}])) is None
    assert fast_validate(UsageEventIn, b"[{") is None


GOOD_EVENT = {"event_id": "e", "customer_id": "c", "metric": "m", "timestamp": "2026-11-28T10:00:00Z", "quantity": 1}
EARLIEST, LATEST = datetime(2026, 8, 1, tzinfo=UTC), NOW + timedelta(hours=1)


def instant(row: tuple[str, ...]) -> tuple:
    """A usage landing row with its timestamp as the instant it names (the text may differ)."""
    return (*row[:4], datetime.fromisoformat(row[4]), *row[5:])


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"event_id": None, "properties": None},
        {"properties": {"region": "eu", "tags": ["a", "b"], "note": 'said "hi", left'}},
        {"quantity": "0.000000001"},
        {"quantity": "-12.5"},
        {"quantity": 1e-9},
        {"quantity": "1e3"},
        {"quantity": "0.0000000001"},
        {"quantity": "1.1234567891"},
        {"quantity": "9" * 29},
        {"quantity": "9" * 30},
        {"quantity": "1E+29"},
        {"quantity": "NaN"},
        {"quantity": True},
        {"timestamp": "2026-11-28T10:00:00"},
        {"timestamp": "2026-11-28T11:00:00+01:00"},
        {"timestamp": "2026-07-31T23:59:59Z"},
        {"timestamp": "2026-08-01T00:00:00Z"},
        {"timestamp": "2026-11-28T13:00:01Z"},
        {"timestamp": 1764324000},
        {"timestamp": "2026-11-28T10:00:00.123456Z"},
        {"timestamp": "2026-11-28 10:00:00Z"},
        {"timestamp": "2026-02-30T10:00:00Z"},
        {"timestamp": "2026-11-28T10:00:60Z"},
        {"timestamp": "2026-11-28T10:00:00+24:00"},
        {"metric": "api\ncalls"},
        {"event_id": "e\u0000"},
        {"customer_id": "c\u007f"},
        {"event_id": ""},
        {"customer_id": "x" * 501},
        {"colour": "blue"},
    ],
)
def test_the_one_pass_read_of_usage_events_is_never_more_lenient_than_the_model(change):
    """The fast path lands a request only when every event passes `UsageEventIn` and the
    event-time range; its rows are those the record-by-record path would land."""
    items = [GOOD_EVENT, {**GOOD_EVENT, "event_id": "f", **change}]
    rows = fast_usage_rows(orjson.dumps(items), EARLIEST, LATEST)
    valid, rejected = validate_records(UsageEventIn, items)
    in_range = not rejected and all(EARLIEST <= event.timestamp <= LATEST for _, event in valid)
    if rows is not None:
        assert in_range, f"the fast path took what the model refuses: {change}"
        assert [instant(row) for row in rows] == [instant(row) for row in usage_rows([event for _, event in valid])]
    if in_range and not {"quantity", "timestamp"} & set(change):
        assert rows is not None, "an ordinary valid request takes the fast path"


def test_usage_rows_are_written_as_the_landing_zone_reads_them():
    """As sent where the text is the usual one, else in the same shapes: what staging parses."""
    usual = {**GOOD_EVENT, "quantity": "12.50", "properties": {"a": 1}}
    [row] = fast_usage_rows(orjson.dumps([usual]), EARLIEST, LATEST)
    assert row == ("e", "c", "m", "12.50", "2026-11-28T10:00:00Z", '{"a":1}')
    unusual = {**GOOD_EVENT, "quantity": "1e3", "timestamp": "2026-11-28 11:00:00+01:00"}
    indexes, [row], rejected = read_usage_events(
        orjson.dumps([unusual]), EventTimeRange(date(2026, 8, 1), timedelta(hours=1)), NOW
    )
    assert (indexes, rejected) == ([0], [])
    assert row == ("e", "c", "m", "1000", "2026-11-28T11:00:00+01:00", "")


def test_the_event_time_range_runs_from_history_start_to_a_little_ahead_of_now():
    time_range = EventTimeRange(date(2026, 8, 1), timedelta(minutes=60))
    assert time_range.problem(datetime(2026, 8, 1, tzinfo=UTC), NOW) is None
    assert time_range.problem(NOW + timedelta(minutes=60), NOW) is None
    assert "before history_start 2026-08-01" in time_range.problem(datetime(2026, 7, 31, 23, tzinfo=UTC), NOW)
    assert "more than 60 minutes in the future" in time_range.problem(NOW + timedelta(minutes=61), NOW)


# -- the spool ------------------------------------------------------------------------------


def usage_line(event_id: str) -> tuple[str, ...]:
    return (event_id, "c", "m", "1", "2026-11-28T10:00:00Z", "")


def test_appended_rows_are_on_disk_when_answered_and_sealed_into_the_inbox(tmp_path):
    spool = LandingSpool(tmp_path, segment_seconds=3600, event_index=RecentEventIds(24, 1000))
    first = spool.submit("usage_events", [usage_line("a"), usage_line("b")], ["a", "b"]).result()
    second = spool.submit("usage_events", [usage_line("b"), usage_line("c")], ["b", "c"]).result()
    assert (first.first_line, first.duplicates) == (2, ())
    assert (second.first_line, second.duplicates) == (4, (0,))
    open_file = spool.folder / "usage_events" / first.file
    assert open_file.read_text().splitlines()[1:] == [
        "a,c,m,1,2026-11-28T10:00:00Z,",
        "b,c,m,1,2026-11-28T10:00:00Z,",
    ] + ["c,c,m,1,2026-11-28T10:00:00Z,"]
    spool.close()
    assert not open_file.exists() and not (tmp_path / SPOOL / spool.folder.name).exists()
    assert (tmp_path / "usage_events" / first.file).read_text().count("\n") == 4


@pytest.mark.parametrize(
    "unusual",
    [
        ("e", "c", "m", "1", "2026-11-28T10:00:00Z", ""),
        ("e,1", "c", "m", "1", "2026-11-28T10:00:00Z", ""),
        ("e", 'the "c"', "m", "1", "2026-11-28T10:00:00Z", '{"a":"b,c"}'),
        ("e", "c", "m", "1", "2026-11-28T10:00:00Z", "{}"),
    ],
)
def test_usage_rows_are_written_as_csv_that_reads_back_as_they_were(unusual):
    rows = [("", "c", "m", "2.5", "2026-11-28T10:00:00+01:00", '{"note":"said \\"hi\\", left"}'), unusual]
    assert list(csv.reader(io.StringIO(usage_csv_lines(rows).decode()))) == [list(row) for row in rows]


def test_files_of_a_killed_api_are_handed_to_the_inbox_without_their_torn_line(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / SPOOL / f"{socket.gethostname()}-{dead.pid}"
    (folder / "usage_events").mkdir(parents=True)
    (folder / "incoming-uploads").mkdir()
    (folder / "usage_events" / "api-1.csv").write_bytes(
        b"event_id,customer_external_id,metric,quantity,event_timestamp,properties\n"
        b"a,c,m,1,2026-11-28T10:00:00Z,\nb,c,m,1,2026-11-2"
    )
    (folder / "incoming-uploads" / "upload-1.csv").write_bytes(b"half an upload")
    live = tmp_path / SPOOL / f"{socket.gethostname()}-{os.getpid()}"
    live.mkdir()

    [handed] = recover_abandoned(tmp_path)
    assert handed == tmp_path / "usage_events" / "api-1.csv"
    assert handed.read_bytes().endswith(b"a,c,m,1,2026-11-28T10:00:00Z,\n")
    assert not folder.exists()
    assert live.exists(), "a running process's folder is never taken"


def test_requests_in_an_event_loop_are_answered_together_and_a_cancelled_one_harms_none(tmp_path):
    spool = LandingSpool(tmp_path, segment_seconds=3600)

    async def three_requests_one_cancelled() -> list:
        appends = [asyncio.ensure_future(spool.append("customers", [(name,) * 13])) for name in "abc"]
        await asyncio.sleep(0)
        appends[1].cancel()  # its client went away
        return await asyncio.gather(*appends, return_exceptions=True)

    first, cancelled, third = asyncio.run(three_requests_one_cancelled())
    assert isinstance(cancelled, asyncio.CancelledError)
    assert (first.first_line, third.first_line) == (2, 4), "the cancelled request's row landed all the same"
    assert spool.submit("customers", [("d",) * 13]).result().first_line == 5
    spool.close()


def test_a_write_that_fails_fails_its_requests_and_the_spool_goes_on(tmp_path, monkeypatch):
    spool = LandingSpool(tmp_path, segment_seconds=3600)
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space left"):
        spool.submit("customers", [("c",) * 13]).result()
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert spool.submit("customers", [("d",) * 13]).result().first_line == 2
    spool.close()


# -- recent event ids, rate limit -----------------------------------------------------------


def test_recent_event_ids_forget_the_oldest_past_their_age_or_count():
    now = [0.0]
    ids = RecentEventIds(retention_hours=1, max_ids=1000, clock=lambda: now[0])
    ids.remember(["a", "b"])
    now[0] = 1800
    ids.remember(["c"])
    assert ids.seen(["a", "c", "z"]) == {"a", "c"}
    now[0] = 3700
    ids.remember(["d"])
    assert ids.seen(["a", "b", "c", "d"]) == {"c", "d"}
    ids.remember(f"x{n}" for n in range(1000))
    assert len(ids) == 1000 and ids.seen(["c", "d", "x999"]) == {"x999"}


def test_a_key_gets_its_burst_then_its_rate():
    now = [0.0]
    limiter = RateLimiter(per_second=2, burst=3, clock=lambda: now[0])
    assert [limiter.wait_seconds("k") for _ in range(3)] == [0, 0, 0]
    assert limiter.wait_seconds("k") == pytest.approx(0.5)
    assert limiter.wait_seconds("other") == 0
    now[0] = 0.5
    assert limiter.wait_seconds("k") == 0


# -- keys and idempotency records -----------------------------------------------------------


def test_keys_are_stored_as_hashes_checked_by_scope_and_revocable(tmp_path):
    keys = KeyStore(open_state(tmp_path))
    key, text = keys.create("shop", ["usage:write", "usage:write"])
    assert key.scopes == ("usage:write",)
    key_id, secret = split_key(text)
    assert key_id == key.key_id and secret.encode() not in (tmp_path / STATE_FILE).read_bytes()
    assert keys.authenticate(text) == key
    assert keys.authenticate(text + "x") is None and keys.authenticate("Bearer nonsense") is None
    assert keys.revoke(key.key_id) and not keys.revoke(key.key_id)
    keys._loaded_at = float("-inf")
    assert keys.authenticate(text) is None
    with pytest.raises(ValueError, match="unknown scope 'usage:read'"):
        keys.create("x", ["usage:read"])


def test_an_idempotency_key_replays_refuses_another_body_and_frees_itself_on_failure(tmp_path):
    store = IdempotencyStore(open_state(tmp_path), retention_hours=24)
    assert store.begin("k1", "idem", "body-a") is None
    with pytest.raises(IdempotencyConflict, match="still being processed"):
        store.begin("k1", "idem", "body-a")
    store.finish("k1", "idem", 202, b'{"ok":1}')
    assert store.begin("k1", "idem", "body-a").body == b'{"ok":1}'
    with pytest.raises(IdempotencyConflict, match="different request"):
        store.begin("k1", "idem", "body-b")
    assert store.begin("k2", "idem", "body-a") is None
    store.abandon("k2", "idem")
    assert store.begin("k2", "idem", "body-a") is None


def test_answers_reach_sqlite_in_batches_where_other_workers_find_them(tmp_path):
    """In a server, answers are written a moment later, all at once; another process (a
    second worker, a restart) reads them there."""
    serving = IdempotencyStore(open_state(tmp_path), retention_hours=24, flush_seconds=0.05)
    other_worker = IdempotencyStore(open_state(tmp_path), retention_hours=24)

    async def answer_two_requests() -> tuple:
        for idempotency_key in ("a", "b"):
            assert serving.begin("k", idempotency_key, "body") is None
            serving.finish("k", idempotency_key, 202, idempotency_key.encode())
        replayed_from_memory = serving.begin("k", "a", "body")
        not_yet_written = other_worker.begin("k", "b", "body")
        other_worker.abandon("k", "b")
        await asyncio.sleep(0.2)
        return replayed_from_memory, not_yet_written

    replayed_from_memory, not_yet_written = asyncio.run(answer_two_requests())
    assert replayed_from_memory.body == b"a" and not_yet_written is None
    assert other_worker.begin("k", "b", "body").body == b"b"
    with pytest.raises(IdempotencyConflict, match="different request"):
        other_worker.begin("k", "a", "another body")


def test_the_key_command_creates_lists_and_revokes(tmp_path, monkeypatch, capsys):
    for name in [name for name in os.environ if name.startswith("BILLING_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "billing.yaml"
    config.write_text('history_start: "2026-08-01"\ningest_api: {state_path: state}\n')
    monkeypatch.setenv("BILLING_CONFIG", str(config))
    main(["keys", "create", "--name", "shop", "--scope", "usage:write", "--scope", "uploads:write"])
    text = capsys.readouterr().out.strip()
    key_id, _ = split_key(text)
    main(["keys", "list"])
    listed = capsys.readouterr().out
    assert key_id in listed and "usage:write uploads:write" in listed and "active" in listed
    assert text.split("_")[-1] not in listed
    main(["keys", "revoke", key_id])
    main(["keys", "list"])
    assert "revoked" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no active key"):
        main(["keys", "revoke", key_id])


def test_only_the_same_event_with_the_same_values_is_a_repeat():
    first = ("e1", "CUS-1", "api_calls", "1", "2026-11-28T10:00:00Z", "")
    retry, other_values, no_id = first, ("e1", "CUS-1", "api_calls", "7", "2026-11-28T10:00:00Z", ""), ("",) * 6
    index = RecentEventIds(retention_hours=24, max_ids=1000)
    index.remember([key for key in delivery_keys([first]) if key])
    pending = _Pending(
        "usage_events",
        [retry, other_values, no_id, other_values],
        delivery_keys([retry, other_values, no_id, other_values]),
    )
    repeated = drop_repeated(pending, index.seen(pending.repeat_keys), in_group=set())
    # the retry is a duplicate; the other values land (canonical quarantines the conflict), once per group
    assert repeated == [0, 3] and pending.rows == [other_values, no_id]
