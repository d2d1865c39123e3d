"""The landing-zone sensor: accept new files and launch a run for exactly what they touch."""

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime

import dagster as dg

from billing_pipelines.config import PARTITIONED_DATASETS, BillingConfig, current_config
from billing_pipelines.defs.landing.archive import ARCHIVE, REJECTED, LandedFile, accept_inbox, landed_files
from billing_pipelines.defs.landing.assets import LANDING
from billing_pipelines.defs.sync.jobs import LANDING_STATE_DATASETS, loads_and_downstream
from billing_pipelines.lib.raw_assets import raw_loads
from billing_pipelines.lib.runs import partition_range_tags
from billing_pipelines.lib.windows import contiguous_day_ranges

LANDING_USAGE_JOB = "landing_usage_by_day"
LANDING_STATE_JOB = "landing_state_sync"


def _key(files: Iterable[LandedFile]) -> str:
    """A run key part for landed files: their contents and arrivals. The same bytes landed
    again later (a file first rejected for its name, then dropped as .csv) are a new landing."""
    parts = (f"{f.digest}@{f.received_at.isoformat()}" for f in files)
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:16]


def days_before(history_start: date, files: list[LandedFile]) -> list[LandedFile]:
    """Usage files recorded with days before `history_start`: archived before history_start
    was moved later. No partition holds those days, so their rows are left to the runs of the
    file's other days (the landing reader no longer records such days)."""
    return [f for f in files if any(day < history_start for day in f.event_days)]


def plan_runs(files: list[LandedFile], history_start: date) -> list[dg.RunRequest]:
    """Runs for newly landed files: usage files re-run exactly the days their events fall on
    (late data re-runs old days), one run per consecutive range; state files, the push API's
    rejected records and files rejected whole one state run (it loads them and rebuilds what
    reads them, quarantine included). Run keys derive from the files' digests and arrivals, so
    a landed file never launches twice. No run asks for a day before `history_start`: Dagster
    would fail it, and every other file's rows of its range with it."""
    usage = [f for f in files if f.dataset == "usage_events" and f.reason is None]
    others = [f for f in files if f not in usage]
    requests = []
    days = [day for f in usage for day in f.event_days if day >= history_start]
    for first, last in contiguous_day_ranges(days):
        touching = [f for f in usage if any(first <= day <= last for day in f.event_days)]
        requests.append(
            dg.RunRequest(
                job_name=LANDING_USAGE_JOB,
                run_key=f"usage:{first}:{last}:{_key(touching)}",
                tags=partition_range_tags(first, last),
            )
        )
    if others:
        requests.append(dg.RunRequest(job_name=LANDING_STATE_JOB, run_key=f"state:{_key(others)}"))
    return requests


def newly_landed(root, cursor: str | None) -> list[LandedFile]:
    """Files to launch runs for: every file recorded after the cursor, those just accepted
    included (a tick that failed after archiving some files, a full disk say, is picked up
    again by the next one). Without a cursor (the sensor's first tick, or a reset one) every
    recorded file: a file archived by a first tick that failed is not left out, and runs
    launched before keep their run keys, which Dagster does not launch twice."""
    recorded = landed_files(root, ARCHIVE) + landed_files(root, REJECTED)
    if cursor is None:
        return recorded
    since = datetime.fromisoformat(cursor)
    return [f for f in recorded if f.received_at > since]


def landing_jobs() -> list:
    """What the sensor launches: landing usage for some days, or landing state and rejects
    (rejected records and rejected files)."""
    return [
        loads_and_downstream(
            LANDING_USAGE_JOB,
            raw_loads([LANDING], PARTITIONED_DATASETS),
            "Landing-zone usage files for the days they touch (launched by the landing sensor).",
        ),
        loads_and_downstream(
            LANDING_STATE_JOB,
            raw_loads([LANDING], LANDING_STATE_DATASETS),
            "Landing-zone state files, the push API's rejected records and rejected files "
            "(launched by the landing sensor).",
        ),
    ]


def landing_sensor(config: BillingConfig, jobs: list) -> dg.SensorDefinition:
    root = config.landing_path

    @dg.sensor(
        name="landing_files",
        minimum_interval_seconds=config.landing.poll_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        jobs=jobs,
        description=f"Accepts CSV files dropped into {root}/<dataset>/ and loads the days they touch.",
    )
    def landing_files(context: dg.SensorEvaluationContext):
        accept_inbox(root, datetime.now(UTC), config.event_time_range)
        files = newly_landed(root, context.cursor)
        if not files:
            return dg.SkipReason("no new files in the landing zone")
        for landed in files:
            context.log.info(f"{landed.dataset}/{landed.name}: {landed.reason or 'accepted'}")
        for landed in days_before(config.history_start, files):
            context.log.warning(
                f"{landed.dataset}/{landed.name}: recorded days before history_start {config.history_start} are not run"
            )
        cursor = max(f.received_at for f in files).isoformat()
        return dg.SensorResult(run_requests=plan_runs(files, config.history_start), cursor=cursor)

    return landing_files


@dg.definitions
def defs() -> dg.Definitions:
    config = current_config()
    if not config.landing.enabled:
        return dg.Definitions()
    jobs = landing_jobs()
    return dg.Definitions(jobs=jobs, sensors=[landing_sensor(config, jobs)])
