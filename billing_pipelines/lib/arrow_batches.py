"""Arrow batches between a source's driver and dlt: cut to the run's size, read one step ahead.

Every driver hands its rows over in pieces of its own size (ADBC ~16 MB record batches,
ConnectorX the requested size, Snowflake result chunks, BigQuery pages or read streams). A run
moves them in batches of its memory budget's size (`EngineLimits.source_batch_rows`), read a
batch or two ahead of the load, so the source's database and the warehouse work at the same
time instead of taking turns.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from queue import Empty, Full, Queue
from typing import TypeVar

import pyarrow as pa

T = TypeVar("T")
READ_AHEAD = 2
"""Batches read ahead of the one being loaded: enough to keep the source busy while a batch is
written, few enough that the budget's batch size still bounds the run's memory."""
_POLL_SECONDS = 0.1


def rebatched(pieces: Iterable[pa.RecordBatch | pa.Table], batch_rows: int) -> Iterator[pa.Table]:
    """The rows of `pieces`, in order, as tables of exactly `batch_rows` rows (the last one
    fewer, none empty), whatever size the driver's pieces have.

    Slices share the pieces' memory, so at most one pending batch plus one piece is held.
    Pieces may differ in physical type (Snowflake sends the narrowest integer each chunk fits):
    they are promoted to a common one."""
    pending: list[pa.Table] = []
    pending_rows = 0
    for piece in pieces:
        if piece.num_rows == 0:
            continue
        pending.append(piece if isinstance(piece, pa.Table) else pa.Table.from_batches([piece]))
        pending_rows += piece.num_rows
        if pending_rows < batch_rows:
            continue
        joined = pa.concat_tables(pending, promote_options="permissive") if len(pending) > 1 else pending[0]
        offset = 0
        while pending_rows - offset >= batch_rows:
            yield joined.slice(offset, batch_rows)
            offset += batch_rows
        pending = [joined.slice(offset)] if offset < pending_rows else []
        pending_rows -= offset
    if pending_rows:
        yield pa.concat_tables(pending, promote_options="permissive") if len(pending) > 1 else pending[0]


def read_ahead(items: Iterator[T], depth: int = READ_AHEAD) -> Iterator[T]:
    """`items`, produced by a thread of their own up to `depth` items ahead of the consumer.

    An error of the producer is raised to the consumer at the point it occurred in the
    sequence; a consumer that stops early stops the producer (after the item it is reading)
    and closes `items`, so connections and cursors are released."""
    queue: Queue[tuple[bool, object]] = Queue(maxsize=depth)
    stopped = threading.Event()
    finished = object()

    def put(entry: tuple[bool, object]) -> bool:
        while not stopped.is_set():
            try:
                queue.put(entry, timeout=_POLL_SECONDS)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, finished))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            put((False, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            try:
                succeeded, item = queue.get(timeout=_POLL_SECONDS)
            except Empty:
                if not producer.is_alive() and queue.empty():
                    raise RuntimeError("the read-ahead thread ended without a result") from None
                continue
            if not succeeded:
                raise item  # type: ignore[misc]
            if item is finished:
                return
            yield item  # type: ignore[misc]
    finally:
        stopped.set()
        producer.join()
