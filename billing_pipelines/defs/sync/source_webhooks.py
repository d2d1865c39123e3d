"""Syncs started by the sources' own webhooks: a Stripe or HubSpot change reaches the canonical
model within minutes instead of at the next schedule tick.

The push API records each verified webhook in a marker per source (see
`billing_pipelines.ingest_api.source_webhooks`). This sensor reads the markers and, for each
source whose marker changed since its cursor, requests one run of that source's incremental
sync. The run key is the marker's count of deliveries and the time of the latest, so however
many webhooks arrive between two ticks, they launch one run; the same marker never launches two.
While a sync of the source is still queued or running, its newer changes wait for the next tick:
at most one sync per source waits or runs, and a change that arrived during a run is synced by
the one after it.
"""

from __future__ import annotations

import json

import dagster as dg

from billing_pipelines.config import BillingConfig, current_config
from billing_pipelines.defs.sync.jobs import loads_and_downstream
from billing_pipelines.lib.raw_assets import raw_schema
from billing_pipelines.lib.source_changes import (
    ChangeMarker,
    change_marker_path,
    read_change_marker,
    webhook_sources,
)

WEBHOOK_SENSOR = "source_webhooks"
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
"""A run in one of these states will still read the source, or is reading it now."""


def webhook_sync_job_name(source: str) -> str:
    return f"{source}_webhook_sync"


def webhook_sync_jobs(config: BillingConfig) -> list[dg.UnresolvedAssetJobDefinition]:
    """Per source receiving webhooks: its raw tables (incremental) and everything downstream."""
    return [
        loads_and_downstream(
            webhook_sync_job_name(name),
            dg.AssetSelection.key_prefixes([raw_schema(name)]),
            f"Everything `{name}` ({source.kind}) provides, incrementally, then the canonical model "
            "(launched by the source_webhooks sensor when the source reports a change).",
        )
        for name, source in webhook_sources(config).items()
    ]


def change_run_key(marker: ChangeMarker) -> str:
    """One run per state of the marker: its delivery count and the time of the latest delivery
    (the time keeps a marker recreated from scratch from reusing an old key)."""
    return f"{marker.source}:{marker.changes}@{marker.last_change_at.isoformat()}"


def changed_since(markers: list[ChangeMarker], synced: dict[str, str]) -> list[ChangeMarker]:
    """The markers that moved since a sync was requested for them (`synced`: source → run key)."""
    return [marker for marker in markers if synced.get(marker.source) != change_run_key(marker)]


def sync_request(marker: ChangeMarker) -> dg.RunRequest:
    """One run of the source's webhook sync for this state of its marker."""
    return dg.RunRequest(
        job_name=webhook_sync_job_name(marker.source),
        run_key=change_run_key(marker),
        tags={"billing/trigger": "webhook"},
    )


def describe_change(marker: ChangeMarker) -> str:
    """A line of the sensor's log: which source changed, and the latest events it reported."""
    events = ", ".join(f"{event['type']} {event['id']}" for event in marker.recent_events[-5:])
    return (
        f"{marker.source}: {marker.changes} webhook deliveries, latest at {marker.last_change_at:%H:%M:%S} ({events})"
    )


def has_unfinished_run(instance: dg.DagsterInstance, job_name: str) -> bool:
    return bool(instance.get_run_ids(dg.RunsFilter(job_name=job_name, statuses=UNFINISHED), limit=1))


def webhook_sensor(config: BillingConfig, jobs: list[dg.UnresolvedAssetJobDefinition]) -> dg.SensorDefinition:
    sources = list(webhook_sources(config))
    root = config.landing_path

    @dg.sensor(
        name=WEBHOOK_SENSOR,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        jobs=jobs,
        description=(
            f"Starts the incremental sync of {', '.join(sources)} when the source's webhook reports a change "
            "(POST /v1/webhooks/<kind> of the push API): one run per source and tick, at most one waiting or running."
        ),
    )
    def source_webhooks(context: dg.SensorEvaluationContext):
        synced = json.loads(context.cursor or "{}")
        markers = [m for m in (read_change_marker(change_marker_path(root, s)) for s in sources) if m is not None]
        changed = changed_since(markers, synced)
        busy = {m.source for m in changed if has_unfinished_run(context.instance, webhook_sync_job_name(m.source))}
        ready = [m for m in changed if m.source not in busy]
        if not ready:
            waiting = f" ({', '.join(sorted(busy))} changed while a sync is unfinished: a later tick)" if busy else ""
            return dg.SkipReason(f"no source reported a change since its last sync{waiting}")
        for marker in ready:
            context.log.info(describe_change(marker))
        cursor = {**synced, **{m.source: change_run_key(m) for m in ready}}
        return dg.SensorResult(run_requests=[sync_request(m) for m in ready], cursor=json.dumps(cursor, sort_keys=True))

    return source_webhooks


@dg.definitions
def defs() -> dg.Definitions:
    config = current_config()
    if not webhook_sources(config):
        return dg.Definitions()
    jobs = webhook_sync_jobs(config)
    return dg.Definitions(jobs=jobs, sensors=[webhook_sensor(config, jobs)])
