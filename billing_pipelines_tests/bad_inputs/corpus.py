"""The bad-input corpus (`billing_pipelines_tests/data/bad_inputs/`) and one pass of it through
the real pipeline: every CSV file dropped into one landing zone, every push sent to one API
process, every source row read from one PostgreSQL table, then one landing-sensor tick and one
sync run over the days it plans. What each case became is read back from the warehouse
afterwards, so each case costs an assertion, not a run."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import yaml

from billing_pipelines.definitions import build_definitions
from billing_pipelines.defs.landing.archive import landed_files
from billing_pipelines.defs.sync.jobs import SYNC_JOB
from billing_pipelines.lib.runs import failure_messages, run_days
from billing_pipelines_tests.ingest_api.conftest import RunningApi, write_api_config
from billing_pipelines_tests.ingest_api.pipeline import configured, warehouse_rows

CORPUS = Path(__file__).parents[1] / "data" / "bad_inputs"
MANIFEST = CORPUS / "cases.yaml"
CORPUS_DAYS = (date(2026, 9, 1), date(2026, 9, 2))
"""The usage days every valid corpus record falls on (an offset moves some to the 2nd)."""
SOURCE_URL_ENV = "BAD_INPUTS_APP_DB_URL"
SOURCE_TABLE = "bad_inputs_usage"
SOURCE_CONFIG = f"""sources:
  app_db:
    kind: sql
    url_env: {SOURCE_URL_ENV}
    datasets:
      usage_events:
        query: |
          SELECT event_id, customer AS customer_external_id, metric, quantity,
                 occurred_at AS event_timestamp, properties
          FROM {SOURCE_TABLE}
          WHERE occurred_at >= :window_start AND occurred_at < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""
"""The source channel: the `sql` source `app_db` (whose staging models exist) on PostgreSQL. The
table has no primary key, so it can hold what a real metering table sometimes does (an id twice,
no id at all); quantity is numeric (NaN and Infinity are numeric values in PostgreSQL) and
properties free text (a database does not check JSON kept in a text column)."""


def load_cases() -> list[dict]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["cases"]


def marker(case_id: str) -> re.Pattern:
    """Every id a case's records carry starts with `<case id>.`: its event ids and customer ids
    (an event without an id keeps the marker in its customer id). Not preceded by an id
    character, so case `a-b` never claims the records of case `x-a-b`."""
    return re.compile(rf"(?<![A-Za-z0-9_.-]){re.escape(case_id)}\.")


@dataclass
class Outcome:
    """What the pipeline made of the whole corpus."""

    root: Path
    answers: dict[str, list[dict]] = field(default_factory=dict)
    """Per API case, each request's status code and JSON answer."""
    planned_runs: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    run_failures: list[str] = field(default_factory=list)
    """Why a run failed, per failed run."""
    usage: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    rejected_files: set[tuple[str, str]] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)
    """Files still in the usage inbox, by their path under it."""
    arrival_day: date | None = None
    """The UTC day the landing zone accepted the corpus's files (the sensor's tick)."""

    def loaded_for(self, case: dict) -> list[dict]:
        found = marker(case["id"])
        return [row for row in self.usage if found.search(row["event_id"]) or found.search(row["customer_id"] or "")]

    def quarantined_for(self, case: dict) -> list[dict]:
        """The quarantine rows a case produced: its file rejected whole, a line of its file (of a
        file shared with other cases, its own `line` only), a record of one of its requests, or
        a record carrying its marker (one the push API landed names the API's landing file)."""
        found = marker(case["id"])
        files = case_files(case)
        line = case["input"].get("line")
        lines = {f"{name}:{line}" for name in files} if line else None
        answers = self.answers.get(case["id"], [])
        requests = [f"request {answer['json']['request_id']} " for answer in answers if "request_id" in answer["json"]]
        return [
            row
            for row in self.quarantine
            if row["location"] in files
            or (row["location"] in lines if lines else row["location"].rsplit(":", 1)[0] in files)
            or any(request in row["location"] for request in requests)
            or found.search(row["payload"] or "")
        ]


def case_files(case: dict) -> list[str]:
    """The landing files of a case, named as the landing zone names them (path under the
    dataset folder)."""
    paths = [case["input"].get("file"), *case["input"].get("also", [])]
    return [path.split("/", 1)[1] for path in paths if path]


def copy_landing_files(landing: Path) -> None:
    """The corpus's `landing/` tree into the landing zone, byte for byte."""
    for path in sorted((CORPUS / "landing").rglob("*")):
        if path.is_file():
            target = landing / path.relative_to(CORPUS / "landing")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def seed_source(url: str, cases: list[dict]) -> None:
    rows = [row for case in cases if case["channel"] == "source" for row in case["input"]["rows"]]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {SOURCE_TABLE}"))
            connection.execute(
                sa.text(
                    f"CREATE TABLE {SOURCE_TABLE} (event_id text, customer text, metric text, quantity numeric,"
                    " occurred_at timestamptz, properties text)"
                )
            )
            connection.execute(
                sa.text(
                    f"INSERT INTO {SOURCE_TABLE} VALUES (:event_id, :customer, :metric, CAST(:quantity AS numeric),"
                    " CAST(:occurred_at AS timestamptz), :properties)"
                ),
                rows,
            )
    finally:
        engine.dispose()


def send_requests(api: RunningApi, cases: list[dict]) -> dict[str, list[dict]]:
    """Every request of every case that has some, in manifest order, through one API process."""
    answers: dict[str, list[dict]] = {}
    with api.client(api.key("usage:write", "uploads:write")) as client:
        for case in cases:
            for request in case["input"].get("requests", []):
                if "upload" in request:
                    response = client.post(
                        "/v1/uploads/usage_events",
                        params={"file_name": Path(request["upload"]).name},
                        content=(CORPUS / "uploads" / request["upload"]).read_bytes(),
                        headers={"Content-Type": "text/csv"},
                    )
                elif "body" in request:
                    response = client.post(
                        "/v1/usage-events",
                        content=request["body"].encode(),
                        headers={"Content-Type": "application/json"},
                    )
                else:
                    response = client.post("/v1/usage-events", json=request["json"])
                answers.setdefault(case["id"], []).append({"status": response.status_code, "json": response.json()})
    return answers


def run_corpus(root: Path, postgres_url: str, monkeypatch) -> Outcome:
    """The whole corpus through the pipeline: one landing-sensor tick takes every inbox file
    (archived, or rejected with its reason) and plans its runs; then one `billing_sync` run over
    all the days they cover does what those runs would (the landing zone's usage and state loads,
    and every model downstream) together with the source's usage load, in one dbt build instead
    of one per planned run. A run that fails (a source row can fail its load) is recorded, and the
    landing zone's part is run again without the source, so one broken channel does not hide the
    others."""
    cases = load_cases()
    monkeypatch.setenv(SOURCE_URL_ENV, postgres_url)
    seed_source(postgres_url, cases)
    config_path = write_api_config(root, extra=SOURCE_CONFIG)
    api = RunningApi(root, config_path).start()
    try:
        answers = send_requests(api, cases)
    finally:
        api.stop()  # seals the API's landing files into the inbox
    copy_landing_files(root / "landing")
    outcome = Outcome(root, answers)
    with configured(config_path):
        defs = build_definitions()
        instance = dg.DagsterInstance.ephemeral()
        tick = defs.resolve_sensor_def("landing_files").evaluate_tick(
            dg.build_sensor_context(instance=instance, definitions=defs)
        )
        outcome.planned_runs = [planned(request) for request in tick.run_requests]
        days = planned_days(outcome.planned_runs)
        result = run_days(defs, SYNC_JOB, *days, instance)
        if not result.success:
            outcome.run_failures.append(failure_messages(result))
    if not result.success:
        landing_only = write_api_config(root)
        with configured(landing_only):
            result = run_days(build_definitions(), SYNC_JOB, *days, instance)
            if not result.success:
                outcome.run_failures.append(failure_messages(result))
    read_back(outcome, config_path)
    return outcome


def planned_days(runs: list[tuple[str, str | None, str | None]]) -> tuple[date, date]:
    """The first and last day of the usage runs planned, and of the corpus's own days."""
    days = [date.fromisoformat(day) for _, *bounds in runs for day in bounds if day] + list(CORPUS_DAYS)
    return min(days), max(days)


def planned(request: dg.RunRequest) -> tuple[str, str | None, str | None]:
    """A run the landing sensor asked for: its job and its first and last day (None: unpartitioned)."""
    key_range = request.partition_key_range
    return (request.job_name, key_range.start, key_range.end) if key_range else (request.job_name, None, None)


def read_back(outcome: Outcome, config_path: Path) -> None:
    usage_columns = ["event_id", "customer_id", "metric", "quantity", "event_timestamp", "properties", "source_system"]
    outcome.usage = [
        dict(zip(usage_columns, row, strict=True))
        for row in warehouse_rows(
            config_path,
            f"SELECT {', '.join(usage_columns[:3])}, quantity::varchar, event_timestamp, properties,"
            " source_system FROM billing.usage_events",
        )
    ]
    quarantine_columns = ["source_system", "location", "reason", "payload"]
    outcome.quarantine = [
        dict(zip(quarantine_columns, row, strict=True))
        for row in warehouse_rows(config_path, f"SELECT {', '.join(quarantine_columns)} FROM billing.quarantine")
    ]
    outcome.rejected_files = set(warehouse_rows(config_path, "SELECT _file, reason FROM raw_landing.rejected_files"))
    inbox = outcome.root / "landing" / "usage_events"
    outcome.waiting = {path.relative_to(inbox).as_posix() for path in inbox.rglob("*") if path.is_file()}
    outcome.arrival_day = max(
        record.received_at.astimezone(UTC).date() for record in landed_files(outcome.root / "landing")
    )


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def json_or_text(text: str | None):
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return text
