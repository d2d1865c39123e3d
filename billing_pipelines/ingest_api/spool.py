"""Pushed records on disk before the API answers: append, fsync, then acknowledge.

Every accepted record is appended to an open landing file of its dataset under
`landing/.spool/<host>-<pid>/`, and its request is answered only once the file is fsync'd. One
writer thread does all the writing: requests that arrive while it syncs wait for the next sync
together (group commit), so one fsync acknowledges many requests. After `segment_seconds` a
file is sealed and renamed into the inbox folder of its dataset (`landing/<dataset>/api-….csv`),
where the landing sensor archives it and re-runs exactly the days its events fall on.

A process killed at any point loses nothing it acknowledged: its spool folder is handed to the
inbox by the next API process on the same host (`recover_abandoned`); a line torn by the kill
belonged to a request that was never answered, and its client sends it again.
"""

from __future__ import annotations

import asyncio
import csv
import errno
import io
import os
import re
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from billing_pipelines.defs.landing.columns import LANDING_COLUMNS

SPOOL = ".spool"


@dataclass(frozen=True)
class Placement:
    """Where a request's rows landed: the file (as the quarantine and the canonical tables name
    it) and the line of its first row, the others following line by line; and the positions
    of rows not landed because their event id was landed before (or earlier in the request)."""

    file: str
    first_line: int
    duplicates: tuple[int, ...] = ()


@dataclass
class _Segment:
    path: Path
    opened_at: float
    handle: io.BufferedWriter
    lines: int = 1  # the header


@dataclass
class _Pending:
    dataset: str
    rows: list[tuple[str, ...]]
    repeat_keys: list[Hashable] | None = None
    done: Future | asyncio.Future = field(default_factory=Future)
    """An event loop's future for a request (`append`), a thread's otherwise (`submit`)."""


def _settle(future: Future | asyncio.Future, outcome: Placement | BaseException) -> None:
    if future.done():  # an event loop's future whose request was cancelled: nobody waits
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(settled: list[tuple[asyncio.Future, Placement | BaseException]]) -> None:
    for future, outcome in settled:
        _settle(future, outcome)


class SeenEvents(Protocol):
    """The recent event ids (`replay.RecentEventIds`), used only by the spool's writer thread."""

    def seen(self, keys: list[Hashable]) -> set[Hashable]: ...

    def remember(self, keys: list[Hashable]) -> None: ...


def drop_repeated(pending: _Pending, landed_before: set[Hashable], in_group: set[Hashable]) -> list[int]:
    """Remove from `pending` the rows whose key (`push.delivery_keys`: event id and values) was
    landed before or earlier in this group (adding the others to `in_group`); returns the
    removed rows' positions. A row without a key is kept: the canonical table deduplicates it
    by its content."""
    if pending.repeat_keys is None:
        return []
    kept_rows, kept_keys, repeated = [], [], []
    for position, (row, key) in enumerate(zip(pending.rows, pending.repeat_keys)):
        if key and (key in landed_before or key in in_group):
            repeated.append(position)
            continue
        if key:
            in_group.add(key)
        kept_rows.append(row)
        kept_keys.append(key)
    pending.rows, pending.repeat_keys = kept_rows, kept_keys
    return repeated


def csv_lines(rows: list[tuple[str, ...]]) -> bytes:
    """Rows as CSV text, one line each (the API admits no line breaks inside a value)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def usage_csv_lines(rows: list[tuple[str, ...]]) -> bytes:
    """`csv_lines` for usage rows, about twice as fast for the usual ones: when no id, metric,
    quantity or timestamp of the batch holds a comma or a quote, only the properties (JSON,
    quoted always) need quoting, and each line is written directly."""
    if _NEEDS_QUOTES.search("".join([f"{r[0]}{r[1]}{r[2]}{r[3]}{r[4]}" for r in rows])):
        return csv_lines(rows)
    return "".join(
        [
            f'{r[0]},{r[1]},{r[2]},{r[3]},{r[4]},"{r[5].replace(chr(34), chr(34) * 2)}"\n'
            if r[5]
            else f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]},\n"
            for r in rows
        ]
    ).encode()


def fsync_directory(path: Path) -> None:
    """Make a rename or a new file in `path` survive a power cut, not only a process kill."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def owner_is_gone(folder: Path, host: str) -> bool:
    """A spool folder `<host>-<pid>` whose process no longer runs on this host (or is a
    zombie: killed, not yet reaped by its parent)."""
    owner_host, _, pid = folder.name.rpartition("-")
    if owner_host != host or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def write_fully(handle: io.RawIOBase, data: bytes) -> None:
    """Write all of `data` to an unbuffered file, or raise. A nearly full disk takes part of a
    write without an error (the call returns a short count), and a part of a line must never be
    acknowledged: the rest is written, or the write fails (ENOSPC) and the request with it."""
    view = memoryview(data)
    while view:
        written = handle.write(view)
        if not written:
            raise OSError(errno.ENOSPC, "no space left on the landing zone's disk")
        view = view[written:]


def seal(path: Path, landing_root: Path, rows: int | None = None) -> Path | None:
    """Hand a spool file to the inbox of its dataset; a file with no row is removed. Returns
    the inbox path. `rows` is known for a file closed cleanly; a file left by a killed process
    is read first, and a torn last line cut (its request was never answered)."""
    if rows is None:
        rows = _cut_torn_line(path)
    if rows == 0:
        path.unlink()
        return None
    dataset = path.parent.name
    target = landing_root / dataset / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(path, target)
    fsync_directory(target.parent)
    return target


def _cut_torn_line(path: Path) -> int:
    """Cut the file after its last complete line; returns its number of data rows."""
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1
    if complete < len(data):
        with path.open("r+b") as handle:
            handle.truncate(complete)
            os.fsync(handle.fileno())
    return max(0, data.count(b"\n", 0, complete) - 1)


def recover_abandoned(landing_root: Path, host: str | None = None) -> list[Path]:
    """Seal the spool files of API processes on this host that are gone (killed, crashed)."""
    host = host or socket.gethostname()
    handed = []
    for folder in sorted((landing_root / SPOOL).glob("*")):
        if folder.is_dir() and owner_is_gone(folder, host):
            for path in sorted(folder.glob("*/*")):
                # an unanswered upload (incoming-uploads/) was never acknowledged: its client retries
                sealed = seal(path, landing_root) if path.parent.name in LANDING_COLUMNS else path.unlink()
                if sealed is not None:
                    handed.append(sealed)
            for empty in sorted(folder.glob("*")):
                empty.rmdir()
            folder.rmdir()
    return handed


class LandingSpool:
    """The API's durable append path into the landing zone (see the module docstring)."""

    def __init__(self, landing_root: Path, segment_seconds: float, event_index: SeenEvents | None = None):
        self.landing_root = landing_root
        self.event_index = event_index
        self.segment_seconds = segment_seconds
        self.folder = landing_root / SPOOL / f"{socket.gethostname()}-{os.getpid()}"
        self._queue: list[_Pending] = []
        self._segments: dict[str, _Segment] = {}
        self._condition = threading.Condition()
        self._stopping = False
        self._sequence = 0
        self._thread = threading.Thread(target=self._run, name="landing-spool", daemon=True)
        recover_abandoned(landing_root)
        self._thread.start()

    async def append(
        self, dataset: str, rows: list[tuple[str, ...]], repeat_keys: list[Hashable] | None = None
    ) -> Placement:
        """Append rows of `dataset`; returns once they are fsync'd. With `repeat_keys` (one per
        row, "" for none), rows whose key was landed before are left out (`duplicates`)."""
        landed = asyncio.get_running_loop().create_future()
        self._enqueue(_Pending(dataset, rows, repeat_keys, landed))
        return await landed

    def submit(self, dataset: str, rows: list[tuple[str, ...]], repeat_keys: list[Hashable] | None = None) -> Future:
        """`append` for a caller outside an event loop: the future of its `Placement`."""
        pending = _Pending(dataset, rows, repeat_keys)
        self._enqueue(pending)
        return pending.done

    def _enqueue(self, pending: _Pending) -> None:
        if pending.dataset not in LANDING_COLUMNS:
            raise ValueError(f"unknown landing dataset {pending.dataset!r}")
        with self._condition:
            if self._stopping:
                raise RuntimeError("the landing spool is closed")
            self._queue.append(pending)
            self._condition.notify()

    def close(self) -> None:
        """Write what is queued, seal every open file into the inbox and stop."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._stopping:
                    if not self._condition.wait(timeout=self._seconds_to_next_seal()):
                        break
                group, self._queue = self._queue, []
                stopping = self._stopping
            if group:
                self._commit(group)
            self._seal_due(everything=stopping and not self._queue)
            if stopping and not self._queue:
                return

    def _seconds_to_next_seal(self) -> float | None:
        if not self._segments:
            return None
        oldest = min(segment.opened_at for segment in self._segments.values())
        return max(0.0, oldest + self.segment_seconds - time.monotonic())

    def _commit(self, group: list[_Pending]) -> None:
        """One write and one fsync per file for every request queued meanwhile; event ids are
        checked against the index once for the group and recorded once it is on disk."""
        outcomes: list[Placement | BaseException]
        try:
            repeated = self._drop_repeated(group)
            placements = self._write(group)
        except Exception as error:  # disk full, index unreadable: these requests fail, the API goes on
            outcomes = [error] * len(group)
            self._abandon_open_segments()
        else:
            new_keys = [key for pending in group for key in pending.repeat_keys or () if key]
            if new_keys and self.event_index is not None:
                self.event_index.remember(new_keys)
            outcomes = [
                Placement(placement.file, placement.first_line, tuple(duplicates))
                for placement, duplicates in zip(placements, repeated, strict=True)
            ]
        self._answer(group, outcomes)

    @staticmethod
    def _answer(group: list[_Pending], outcomes: list[Placement | BaseException]) -> None:
        """Settle each request's future; an event loop is woken once for all of its requests."""
        by_loop: dict[asyncio.AbstractEventLoop, list] = defaultdict(list)
        for pending, outcome in zip(group, outcomes, strict=True):
            if isinstance(pending.done, asyncio.Future):
                by_loop[pending.done.get_loop()].append((pending.done, outcome))
            else:
                _settle(pending.done, outcome)
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _drop_repeated(self, group: list[_Pending]) -> list[list[int]]:
        keys = [key for pending in group for key in pending.repeat_keys or () if key]
        landed_before = self.event_index.seen(keys) if keys and self.event_index is not None else set()
        in_group: set[Hashable] = set()
        return [drop_repeated(pending, landed_before, in_group) for pending in group]

    def _write(self, group: list[_Pending]) -> list[Placement]:
        by_dataset: dict[str, list[_Pending]] = defaultdict(list)
        for pending in group:
            by_dataset[pending.dataset].append(pending)
        placements: dict[int, Placement] = {}
        for dataset, pendings in by_dataset.items():
            segment = self._segments.get(dataset) or self._open(dataset)
            for pending in pendings:
                placements[id(pending)] = Placement(segment.path.name, segment.lines + 1)
                segment.lines += len(pending.rows)
            encode = usage_csv_lines if dataset == "usage_events" else csv_lines
            write_fully(segment.handle, encode([row for pending in pendings for row in pending.rows]))
            os.fsync(segment.handle.fileno())
        return [placements[id(pending)] for pending in group]

    def _open(self, dataset: str) -> _Segment:
        folder = self.folder / dataset
        new_folder = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = folder / f"api-{stamp}-{self.folder.name}-{self._sequence:06d}.csv"
        handle = path.open("xb", buffering=0)
        write_fully(handle, csv_lines([LANDING_COLUMNS[dataset]]))
        fsync_directory(folder)
        if new_folder:
            fsync_directory(folder.parent)
        segment = self._segments[dataset] = _Segment(path, time.monotonic(), handle)
        return segment

    def _seal_due(self, everything: bool) -> None:
        now = time.monotonic()
        for dataset, segment in list(self._segments.items()):
            if everything or now - segment.opened_at >= self.segment_seconds:
                segment.handle.close()
                del self._segments[dataset]
                seal(segment.path, self.landing_root, rows=segment.lines - 1)
        if everything and self.folder.exists():
            for folder in sorted(self.folder.glob("*")):
                if not any(folder.iterdir()):
                    folder.rmdir()
            if not any(self.folder.iterdir()):
                self.folder.rmdir()

    def _abandon_open_segments(self) -> None:
        """After a failed write (disk full) a file may end in a torn line: seal what is whole."""
        for dataset, segment in list(self._segments.items()):
            segment.handle.close()
            del self._segments[dataset]
            try:
                seal(segment.path, self.landing_root)
            except OSError:
                pass
