"""The landing zone on disk: inbox folders, the archive and the rejected files.

    landing/<dataset>/                      inbox: users drop CSV files here (subfolders too)
    landing/archive/<dataset>/<digest>__<name>       accepted files, never deleted
    landing/rejected/<dataset>/<digest>__<name>      files rejected whole, kept for review
    … each with a `.json` record beside it: dataset, name, digest, arrival, event days, reason

The archive is a durable source like a database: a usage partition's raw landing data is
rebuilt from every archived file whose events fall in it, so re-running a partition never
loses an earlier file's rows. A file is identified by its content digest: dropping the same
file twice archives it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from billing_pipelines.defs.landing.columns import LANDING_COLUMNS
from billing_pipelines.defs.landing.csv_reader import FileOrigin, RejectedFile, event_days, parse_landing_csv

if TYPE_CHECKING:  # the push API reads archive records without loading Dagster
    import pyarrow as pa

    from billing_pipelines.lib.event_time_range import EventTimeRange
    from billing_pipelines.lib.windows import Window

ARCHIVE = "archive"
REJECTED = "rejected"
RECORD_SUFFIX = ".json"


@dataclass(frozen=True)
class LandedFile:
    """One accepted (or rejected) file and what the pipeline needs to know about it."""

    dataset: str
    name: str
    digest: str
    received_at: datetime
    stored_as: str
    event_days: tuple[date, ...] = field(default=())
    reason: str | None = None

    @property
    def origin(self) -> FileOrigin:
        return FileOrigin(self.name, self.digest, self.received_at)

    def touches(self, window: Window) -> bool:
        return any(window.start.date() <= day < window.end.date() for day in self.event_days)

    def to_json(self) -> str:
        record = asdict(self) | {
            "received_at": self.received_at.isoformat(),
            "event_days": [day.isoformat() for day in self.event_days],
        }
        return json.dumps(record, indent=2)

    @classmethod
    def from_json(cls, text: str) -> LandedFile:
        record = json.loads(text)
        record["received_at"] = datetime.fromisoformat(record["received_at"])
        record["event_days"] = tuple(date.fromisoformat(day) for day in record["event_days"])
        return cls(**record)


def file_digest(path: Path) -> str:
    """First 16 hex characters of the file's SHA-256: its identity in the landing zone."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


CSV_SUFFIX = ".csv"
COMPRESSED_SUFFIXES = frozenset({".gz", ".zip", ".bz2", ".xz", ".zst", ".7z", ".tgz"})
TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", "~")
WHAT_IS_READ = "expected a .csv file (text, comma-separated, UTF-8)"


def left_alone(name: str) -> bool:
    """Whether an inbox entry is not ours to take: hidden (`.DS_Store`, an rsync or editor
    temporary `.name.xyz`, a hidden folder), an Office lock file (`~$name`), or a copy still in
    progress or a backup (a name ending in `.tmp`, `.temp`, `.part`, `.partial`, `.crdownload`
    or `~`, any case). Such a file stays where it is, and such a folder is not entered: moving
    it would take half a file, or a file that is not a user's drop."""
    return name.startswith((".", "~$")) or name.lower().endswith(TEMPORARY_SUFFIXES)


def name_problem(name: str) -> str | None:
    """Why a dropped file is not read, judged by its name alone; None for a `.csv` file (any
    case). The reason is the one the quarantine shows for the file."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == CSV_SUFFIX:
        return None
    if name != name.rstrip():
        return f"unsupported file name {PurePosixPath(name).name!r}: it ends in whitespace; {WHAT_IS_READ}"
    if suffix in COMPRESSED_SUFFIXES:
        return f"compressed file '{suffix}': compressed files are not read; decompress it first and drop the .csv file"
    kind = f"'{suffix}'" if suffix else "(no extension)"
    return f"unsupported file type {kind}: {WHAT_IS_READ}"


def _dropped_files(folder: Path) -> Iterator[Path]:
    """Every regular file under an inbox folder, at any depth, except those left alone."""
    for directory, subfolders, names in os.walk(folder):
        subfolders[:] = [name for name in subfolders if not left_alone(name)]
        for name in names:
            path = Path(directory, name)
            if not left_alone(name) and path.is_file():
                yield path


def inbox_files(root: Path) -> list[tuple[str, Path]]:
    """Files waiting in the inbox folders `root/<dataset>/` (subfolders included), oldest
    first. Every file is listed, not only `.csv` ones, so that none waits forever unexplained:
    `accept_file` rejects what it cannot read, with the reason. Only the dataset folders are
    looked into: `archive/`, `rejected/`, the push API's `.spool/` and the other folders beside
    them are never an inbox."""
    waiting = [(dataset, path) for dataset in LANDING_COLUMNS for path in _dropped_files(root / dataset)]
    return sorted(waiting, key=lambda item: (item[1].stat().st_mtime, item[1].as_posix()))


def _seen_before(root: Path, dataset: str, digest: str, readable_name: bool) -> bool:
    """Whether these bytes were archived or rejected before. A file rejected for its name only
    (`name_problem`) was never read, so it does not stand for its content: the same bytes
    dropped again under a `.csv` name are read (the user renamed the file as the reason said)."""
    if next((root / ARCHIVE / dataset).glob(f"{digest}__*{RECORD_SUFFIX}"), None) is not None:
        return True
    rejected = (root / REJECTED / dataset).glob(f"{digest}__*{RECORD_SUFFIX}")
    return any(
        not readable_name or name_problem(LandedFile.from_json(path.read_text()).name) is None for path in rejected
    )


def _stored_name(digest: str, path: Path) -> str:
    """`<digest>__<name>` in archive/ or rejected/; a dropped `.json` file gets `.dropped` added,
    so that it is never taken for a record (records are found by their `.json` ending)."""
    stored_name = f"{digest}__{path.name}"
    return stored_name + ".dropped" if stored_name.lower().endswith(RECORD_SUFFIX) else stored_name


def usage_days(rows: pa.Table, in_range: EventTimeRange, arrival: datetime) -> tuple[date, ...]:
    """The partitions a usage file's run must cover: the days of its events within the range;
    for a file with none (every timestamp unparsable or outside the range), the day it arrived
    (never before `history_start`), so one run loads it and each row is quarantined with its
    reason instead of the file waiting for a run that never comes."""
    return tuple(event_days(rows, in_range)) or (max(arrival.date(), in_range.history_start),)


def accept_file(root: Path, dataset: str, path: Path, now: datetime, in_range: EventTimeRange) -> LandedFile | None:
    """Validate an inbox file and move it to the archive (or, if unusable, to rejected/).

    The file keeps the name the user sees in the inbox, its path under `root/<dataset>/`
    (`2026/11/meter.csv`): the quarantine and the canonical tables name it so. A file that is
    not a `.csv` is rejected without being read (`name_problem`).

    Returns None when identical content was accepted before (the inbox copy is removed: the
    archive already holds it, so the same events are never counted twice), and when the file
    changed while it was read: a copy still being written is left for a later tick, rather than
    archived half-written with the days of its first half."""
    name = path.relative_to(root / dataset).as_posix()
    problem = name_problem(name)
    found = path.stat()
    digest = file_digest(path)
    if _seen_before(root, dataset, digest, readable_name=problem is None):
        path.unlink()
        return None
    stored_name = _stored_name(digest, path)
    landed = LandedFile(dataset, name, digest, now, stored_as=f"{ARCHIVE}/{dataset}/{stored_name}")
    try:
        if problem is not None:
            raise RejectedFile(problem)
        rows = parse_landing_csv(path, dataset, landed.origin)
        if dataset == "usage_events":
            landed = LandedFile(**{**asdict(landed), "event_days": usage_days(rows, in_range, now)})
    except RejectedFile as rejection:
        landed = LandedFile(
            dataset, name, digest, now, stored_as=f"{REJECTED}/{dataset}/{stored_name}", reason=str(rejection)
        )
    if _changed_since(path, found):
        return None
    store(path, root / landed.stored_as, landed)
    return landed


def store(path: Path, target: Path, landed: LandedFile) -> None:
    """Move an inbox file to `target` with its record beside it, all or nothing: the record is
    written first, under a temporary name, so a full disk fails before the file leaves the
    inbox (a later tick takes it again), and an archived file always has its whole record."""
    target.parent.mkdir(parents=True, exist_ok=True)
    record = target.with_name(target.name + RECORD_SUFFIX)
    pending = record.with_name(record.name + ".partial")
    try:
        pending.write_text(landed.to_json())
        shutil.move(path, target)  # a rename within the landing zone's file system
    except OSError:
        pending.unlink(missing_ok=True)
        if path.exists():  # a copy across file systems stopped half way
            target.unlink(missing_ok=True)
        raise
    os.replace(pending, record)


def _changed_since(path: Path, found: os.stat_result) -> bool:
    """Whether a file grew or was rewritten since `found` (a copy into the inbox in progress)."""
    now = path.stat()
    return (now.st_size, now.st_mtime_ns) != (found.st_size, found.st_mtime_ns)


def accept_inbox(root: Path, now: datetime, in_range: EventTimeRange) -> list[LandedFile]:
    """Accept every file waiting in the inbox (usage dated by the event-time range); returns
    the newly archived or rejected ones."""
    landed = (accept_file(root, dataset, path, now, in_range) for dataset, path in inbox_files(root))
    return [record for record in landed if record is not None]


def landed_files(root: Path, folder: str = ARCHIVE, dataset: str | None = None) -> list[LandedFile]:
    """The records of archived (or rejected) files, optionally of one dataset, by arrival."""
    pattern = f"{dataset or '*'}/*{RECORD_SUFFIX}"
    records = [LandedFile.from_json(path.read_text()) for path in (root / folder).glob(pattern)]
    return sorted(records, key=lambda record: (record.received_at, record.name))
