"""Batches between a driver and dlt: every row once and in order, at the run's batch size, read
ahead by a bounded number of batches, with a driver's failure surfacing where it happened."""

import threading
import time
from decimal import Decimal

import pyarrow as pa
import pytest

from billing_pipelines.lib.arrow_batches import read_ahead, rebatched


def _pieces(*sizes: int, as_tables: bool = False) -> list[pa.RecordBatch | pa.Table]:
    pieces, start = [], 0
    for size in sizes:
        batch = pa.record_batch({"n": pa.array(range(start, start + size), pa.int64())})
        pieces.append(pa.Table.from_batches([batch]) if as_tables else batch)
        start += size
    return pieces


@pytest.mark.parametrize("as_tables", [False, True], ids=["record batches", "tables"])
@pytest.mark.parametrize(
    "sizes, batch_rows, expected",
    [
        ((3, 5, 0, 7), 4, [4, 4, 4, 3]),
        ((3, 0, 7, 1, 5), 4, [4, 4, 4, 4]),
        ((3, 0, 7, 1, 5), 5, [5, 5, 5, 1]),
        ((10,), 10, [10]),
        ((1, 1, 1), 5, [3]),
        ((25,), 10, [10, 10, 5]),
        ((0,), 10, []),
        ((), 10, []),
    ],
)
def test_pieces_are_cut_and_joined_into_batches_of_the_run_size_keeping_every_row_in_order(
    sizes, batch_rows, expected, as_tables
):
    tables = list(rebatched(_pieces(*sizes, as_tables=as_tables), batch_rows))
    assert [table.num_rows for table in tables] == expected
    assert [n for table in tables for n in table["n"].to_pylist()] == list(range(sum(sizes)))


def test_pieces_of_different_widths_are_promoted_to_one_schema():
    narrow = pa.table({"quantity": pa.array([1, 2], pa.int8()), "amount": pa.array([Decimal("0.5")] * 2)})
    wide = pa.table({"quantity": pa.array([2**40], pa.int64()), "amount": pa.array([Decimal("1.000000001")])})
    (batch,) = rebatched([narrow, wide], batch_rows=10)
    assert batch.schema.field("quantity").type == pa.int64()
    assert batch["quantity"].to_pylist() == [1, 2, 2**40]
    assert batch["amount"].to_pylist() == [Decimal("0.5"), Decimal("0.5"), Decimal("1.000000001")]


def test_read_ahead_yields_every_item_in_order():
    assert list(read_ahead(iter(range(1000)))) == list(range(1000))
    assert list(read_ahead(iter([]))) == []


def test_read_ahead_holds_at_most_its_depth_of_items_ahead_of_the_consumer():
    produced = []

    def items():
        for n in range(100):
            produced.append(n)
            yield n

    reader = read_ahead(items(), depth=2)
    assert next(reader) == 0
    time.sleep(0.3)
    # one handed over, two waiting in the queue, one read and waiting to be queued
    assert len(produced) <= 4
    reader.close()


def test_a_producers_error_is_raised_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise ConnectionResetError("server closed the connection")

    received = []
    with pytest.raises(ConnectionResetError, match="server closed"):
        for item in read_ahead(items()):
            received.append(item)
    assert received == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer_and_closes_its_source():
    closed = threading.Event()

    def items():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    reader = read_ahead(items())
    assert [next(reader) for _ in range(3)] == [0, 1, 2]
    reader.close()
    assert closed.wait(timeout=5)
    assert not any(thread.name == "read-ahead" for thread in threading.enumerate())
