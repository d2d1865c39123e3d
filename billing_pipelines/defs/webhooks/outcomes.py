"""What became of each landed file, once a landing run has carried it into the canonical tables.

A CSV upload or a push-API batch (`landing/<dataset>/*.csv`) is archived by the landing sensor
and loaded by a `landing_usage_by_day` run (usage: the days its events fall on) or a
`landing_state_sync` run (customers, contracts, contract items, and every file rejected whole).
When such a run succeeds, each file it carried gets an outcome: how many of its rows reached the
canonical table and how many were quarantined, and why. The outcome is written to

    landing/outcomes/<digest>.json

(`digest`: the file's content digest, its identity in the landing zone), which is what the push
API's `GET /v1/uploads/{id}` answers with. The format is stable; new keys may be added, none is
renamed or removed:

    {
      "version": 1,
      "digest": "3f9c1d0a7e1b4242",        # the file's identity (first 16 hex of its SHA-256)
      "dataset": "usage_events",           # customers | contracts | contract_items | usage_events
      "file_name": "meter.csv",            # as it was named in the inbox
      "upload_id": "9b1e…" | null,         # the push API's id, for its `upload-<id>.csv` files
      "received_at": "2026-09-03T06:00:00+00:00",
      "status": "processed" | "rejected",
      "reason": null | "unknown column set: …",   # why a rejected file was unusable as a whole
      "rows": 5,                           # data rows in the file; null when rejected
      "loaded": 4,                         # rows that passed validation (an event_id sent again
                                           # still counts once in billing.usage_events); null when rejected
      "quarantined": 1,                    # rows in billing.quarantine; null when rejected
      "quarantine_reasons": {"unparsable quantity: 'lots'": 1},
      "row_errors": [{"line": 5, "reason": "unparsable quantity: 'lots'"}],   # the first 100, by line
      "processed_at": "2026-09-03T06:01:12+00:00",   # when the run that completed it ended
      "run_id": "…"                        # that run
    }

A usage file whose days are not consecutive is loaded by one run per range of days; its outcome
is written when the last of them has succeeded (the days still to come wait in the sensor's
cursor). Files the landing zone held before this sensor was first turned on get an outcome when a
later landing run covers them again. The push API's own `rejected_records` files are not uploads
(the API answered for those records when it refused them) and get no outcome.

The counts come from the warehouse: the file's rows in `raw_landing.<dataset>` (by
`_file_digest`) and their entries in the quarantine (matched on `<file>:<line>` and the arrival
time, so two uploads with the same name never mix). Every query is filtered by the digests of
the run's files (and, for usage, by their event days), never a scan of the history.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from billing_pipelines.config import DATASETS, PARTITIONED_DATASETS, STATE_DATASETS
from billing_pipelines.defs.landing.archive import ARCHIVE, RECORD_SUFFIX, REJECTED, LandedFile
from billing_pipelines.lib.asset_metadata import quoted_table
from billing_pipelines.lib.raw_assets import raw_schema
from billing_pipelines.lib.warehouse import CANONICAL_SCHEMA, Warehouse

OUTCOMES = "outcomes"
OUTCOME_VERSION = 1
MAX_ROW_ERRORS = 100
PROCESSED, REJECTED_STATUS = "processed", "rejected"
LANDING_SOURCE = "landing"
USAGE = PARTITIONED_DATASETS[0]
DIGEST = re.compile(r"^[0-9a-f]{16}$")
API_UPLOAD = re.compile(r"^upload-([0-9A-Za-z]+)\.csv$")
"""How the push API names an uploaded file in the inbox (`POST /v1/uploads/{dataset}`)."""


@dataclass(frozen=True)
class LandingRun:
    """A successful landing run, as far as outcomes go: which run, when it started (a file
    archived before that was in the archive when its loads read it) and ended, and the usage days
    it covered (None: a state run)."""

    run_id: str
    started_at: datetime
    ended_at: datetime
    days: tuple[date, date] | None

    def covers(self, day: date) -> bool:
        return self.days is not None and self.days[0] <= day <= self.days[1]


@dataclass(frozen=True)
class FileCounts:
    """A loaded file in the warehouse: its rows, and its quarantined rows by reason and by line."""

    rows: int = 0
    quarantine_reasons: Mapping[str, int] = field(default_factory=dict)
    row_errors: Sequence[tuple[int, str]] = ()

    @property
    def quarantined(self) -> int:
        return sum(self.quarantine_reasons.values())


def outcome_path(root: Path, digest: str) -> Path:
    return root / OUTCOMES / f"{digest}.json"


def upload_id(file_name: str) -> str | None:
    """The push API's upload id, for a file it wrote as `upload-<id>.csv`."""
    match = API_UPLOAD.match(file_name)
    return match[1] if match else None


def outcome(landed: LandedFile, counts: FileCounts | None, run: LandingRun) -> dict:
    """The outcome record of one file (see the module docstring); `counts` None: rejected whole."""
    rejected = counts is None
    return {
        "version": OUTCOME_VERSION,
        "digest": landed.digest,
        "dataset": landed.dataset,
        "file_name": landed.name,
        "upload_id": upload_id(landed.name),
        "received_at": landed.received_at.isoformat(),
        "status": REJECTED_STATUS if rejected else PROCESSED,
        "reason": landed.reason,
        "rows": None if rejected else counts.rows,
        "loaded": None if rejected else counts.rows - counts.quarantined,
        "quarantined": None if rejected else counts.quarantined,
        "quarantine_reasons": {} if rejected else dict(sorted(counts.quarantine_reasons.items())),
        "row_errors": [] if rejected else [{"line": line, "reason": reason} for line, reason in counts.row_errors],
        "processed_at": run.ended_at.isoformat(),
        "run_id": run.run_id,
    }


def write_outcome(root: Path, record: Mapping) -> Path:
    """Write an outcome atomically (a temporary file renamed over it): the API never reads half."""
    path = outcome_path(root, record["digest"])
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(record, indent=2))
    os.replace(temporary, path)
    return path


# --- which files a run carried ------------------------------------------------------------------


def _waiting_records(root: Path, folder: str, dataset: str) -> Iterator[Path]:
    """Records in `folder/dataset` of files that have no outcome yet (read by name only: the
    record is `<digest>__<name>.json`)."""
    directory = root / folder / dataset
    if not directory.is_dir():
        return
    for entry in os.scandir(directory):
        if entry.name.endswith(RECORD_SUFFIX) and not outcome_path(root, entry.name.split("__", 1)[0]).exists():
            yield Path(entry.path)


def _archived_before(path: Path, moment: datetime) -> bool:
    """Whether the record was written (the file archived) before `moment`."""
    return path.stat().st_mtime < moment.timestamp()


def carried_files(root: Path, run: LandingRun) -> list[LandedFile]:
    """The files without an outcome that `run` loaded: for a usage run, the archived usage
    files with an event on one of its days; for a state run, the archived state files and every
    file rejected whole. Only files archived before the run started (its loads read them)."""
    if run.days is None:
        places = [(ARCHIVE, dataset) for dataset in STATE_DATASETS] + [(REJECTED, dataset) for dataset in DATASETS]
    else:
        places = [(ARCHIVE, USAGE)]
    files = [
        LandedFile.from_json(path.read_text())
        for folder, dataset in places
        for path in _waiting_records(root, folder, dataset)
        if _archived_before(path, run.started_at)
    ]
    if run.days is not None:
        files = [landed for landed in files if any(run.covers(day) for day in landed.event_days)]
    return sorted(files, key=lambda landed: (landed.received_at, landed.name))


def days_left(landed: LandedFile, waiting: Sequence[date] | None, run: LandingRun, history_start: date) -> list[date]:
    """The days of a usage file still to be loaded once `run` has loaded its share: `waiting`
    (what earlier runs left) or, the first time, every day of the file a partition exists for."""
    days = waiting if waiting is not None else [day for day in landed.event_days if day >= history_start]
    return [day for day in days if not run.covers(day)]


# --- counts from the warehouse ------------------------------------------------------------------


def _string_type(warehouse: Warehouse) -> str:
    return "STRING" if warehouse.kind == "bigquery" else "VARCHAR"


def _digest_list(digests: Iterable[str]) -> str:
    checked = sorted(set(digests))
    for digest in checked:
        if not DIGEST.match(digest):
            raise ValueError(f"not a landing file digest: {digest!r}")
    return ", ".join(f"'{digest}'" for digest in checked)


def raw_rows_sql(warehouse: Warehouse, dataset: str, digests: Iterable[str]) -> str:
    """(digest, rows) of the files' rows in raw_landing."""
    raw = quoted_table(warehouse, raw_schema(LANDING_SOURCE), dataset)
    where = f"_file_digest IN ({_digest_list(digests)})"
    return f"SELECT _file_digest, count(*) FROM {raw} WHERE {where} GROUP BY _file_digest"


def quarantined_rows_sql(warehouse: Warehouse, dataset: str, digests: Iterable[str], days: Iterable[date]) -> str:
    """`FROM … WHERE …` of the files' quarantined rows, as `r` (raw: `_file_digest`, `_line`)
    and `q` (quarantine: `reason`). A landing row's quarantine location is `<file>:<line>` and its
    time the file's arrival (the staging `file_lines()` delivery). Usage rejects are read from
    usage_events_quarantine for the files' days (and the undated rows); the state tables'
    through billing.quarantine."""
    raw = quoted_table(warehouse, raw_schema(LANDING_SOURCE), dataset)
    if dataset == USAGE:
        quarantine = quoted_table(warehouse, CANONICAL_SCHEMA, "usage_events_quarantine")
        day_list = ", ".join(f"DATE '{day.isoformat()}'" for day in sorted(set(days)))
        on_days = f" AND (q.event_date IS NULL OR q.event_date IN ({day_list}))" if day_list else ""
    else:
        quarantine, on_days = quoted_table(warehouse, CANONICAL_SCHEMA, "quarantine"), ""
    return (
        f"FROM {raw} AS r JOIN {quarantine} AS q"
        f" ON q.location = r._file || ':' || CAST(r._line AS {_string_type(warehouse)})"
        " AND q.quarantined_at = r._received_at"
        f" WHERE r._file_digest IN ({_digest_list(digests)})"
        f" AND q.source_system = '{LANDING_SOURCE}' AND q.dataset = '{dataset}'{on_days}"
    )


def quarantine_reasons_sql(matches: str) -> str:
    """(digest, reason, rows) of the quarantined rows `matches` selects."""
    return f"SELECT r._file_digest, q.reason, count(*) {matches} GROUP BY r._file_digest, q.reason"


def row_errors_sql(matches: str) -> str:
    """(digest, line, reason) of the first MAX_ROW_ERRORS quarantined rows of each file, by line."""
    return (
        "SELECT digest, line, reason FROM ("
        " SELECT r._file_digest AS digest, r._line AS line, q.reason AS reason,"
        " row_number() OVER (PARTITION BY r._file_digest ORDER BY r._line) AS position"
        f" {matches}) AS numbered WHERE position <= {MAX_ROW_ERRORS} ORDER BY digest, line"
    )


def file_counts(warehouse: Warehouse, dataset: str, files: Sequence[LandedFile]) -> dict[str, FileCounts]:
    """Each file's counts, by digest (three queries over the files' own rows)."""
    digests = [landed.digest for landed in files]
    matches = quarantined_rows_sql(warehouse, dataset, digests, [day for f in files for day in f.event_days])
    rows = {digest: int(count) for digest, count in warehouse.query(raw_rows_sql(warehouse, dataset, digests))}
    reasons: dict[str, dict[str, int]] = {}
    for digest, reason, count in warehouse.query(quarantine_reasons_sql(matches)):
        reasons.setdefault(digest, {})[str(reason)] = int(count)
    errors: dict[str, list[tuple[int, str]]] = {}
    for digest, line, reason in warehouse.query(row_errors_sql(matches)):
        errors.setdefault(digest, []).append((int(line), str(reason)))
    return {
        digest: FileCounts(rows.get(digest, 0), reasons.get(digest, {}), errors.get(digest, [])) for digest in digests
    }


def outcomes_of(warehouse: Warehouse, files: Sequence[LandedFile], run: LandingRun) -> list[dict]:
    """The outcome of each finished file: rejected ones from their record, loaded ones with the
    warehouse's counts (queried per dataset)."""
    counts: dict[str, FileCounts] = {}
    loaded = [landed for landed in files if landed.reason is None]
    for dataset in sorted({landed.dataset for landed in loaded}):
        counts |= file_counts(warehouse, dataset, [landed for landed in loaded if landed.dataset == dataset])
    return [outcome(landed, counts.get(landed.digest), run) for landed in files]
