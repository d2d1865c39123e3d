"""The landing zone on disk: inbox folders, the archive and the rejected files.

    landing/<dataset>/                      inbox: users drop CSV files here
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
import shutil
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from billing_pipelines.defs.landing.columns import LANDING_COLUMNS
from billing_pipelines.defs.landing.csv_reader import FileOrigin, RejectedFile, event_days, parse_landing_csv

if TYPE_CHECKING:  # the push API reads archive records without loading Dagster
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


def inbox_files(root: Path) -> list[tuple[str, Path]]:
    """CSV files waiting in the inbox folders, oldest first."""
    waiting = [
        (dataset, path) for dataset in LANDING_COLUMNS for path in (root / dataset).glob("*.csv") if path.is_file()
    ]
    return sorted(waiting, key=lambda item: (item[1].stat().st_mtime, item[1].name))


def accept_file(root: Path, dataset: str, path: Path, now: datetime) -> LandedFile | None:
    """Validate an inbox file and move it to the archive (or, if unusable, to rejected/).

    Returns None when identical content was accepted before (the inbox copy is removed: the
    archive already holds it, so the same events are never counted twice)."""
    digest = file_digest(path)
    seen_before = (
        next((root / folder / dataset).glob(f"{digest}__*{RECORD_SUFFIX}"), None) for folder in (ARCHIVE, REJECTED)
    )
    if any(seen_before):
        path.unlink()
        return None
    stored_name = f"{digest}__{path.name}"
    landed = LandedFile(dataset, path.name, digest, now, stored_as=f"{ARCHIVE}/{dataset}/{stored_name}")
    try:
        rows = parse_landing_csv(path, dataset, landed.origin)
        if dataset == "usage_events":
            days = tuple(event_days(rows))
            if not days:
                raise RejectedFile("unreadable file: no row has a parsable event_timestamp")
            landed = LandedFile(**{**asdict(landed), "event_days": days})
    except RejectedFile as rejection:
        landed = LandedFile(
            dataset, path.name, digest, now, stored_as=f"{REJECTED}/{dataset}/{stored_name}", reason=str(rejection)
        )
    target = root / landed.stored_as
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, target)
    target.with_name(target.name + RECORD_SUFFIX).write_text(landed.to_json())
    return landed


def accept_inbox(root: Path, now: datetime) -> list[LandedFile]:
    """Accept every file waiting in the inbox; returns the newly archived or rejected ones."""
    landed = (accept_file(root, dataset, path, now) for dataset, path in inbox_files(root))
    return [record for record in landed if record is not None]


def landed_files(root: Path, folder: str = ARCHIVE, dataset: str | None = None) -> list[LandedFile]:
    """The records of archived (or rejected) files, optionally of one dataset, by arrival."""
    pattern = f"{dataset or '*'}/*{RECORD_SUFFIX}"
    records = [LandedFile.from_json(path.read_text()) for path in (root / folder).glob(pattern)]
    return sorted(records, key=lambda record: (record.received_at, record.name))
