"""What an alert says, built from structured facts only (never from a whole log or config).

Each alert tells a billing operator what broke, for which days, why (the innermost error), and
where to look (a link into the Dagster UI). The facts come from the run's events and tags; the
text is written here, in small pure functions, and every notifier sends the same `Alert`.
Secrets are kept out by construction (no config value, URL or environment value is ever put in
an alert) and, as a last line of defence, every text is scrubbed of the known secret values
before it leaves (`Scrubber`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from billing_pipelines.lib.runs import PARTITION_RANGE_END, PARTITION_RANGE_START

PARTITION_TAG = "dagster/partition"
MAX_LISTED = 10
"""At most this many assets or checks are named one by one; the rest are counted."""
MAX_ERROR_LINES = 5
MAX_ERROR_LINE_CHARS = 300
REDACTED = "[redacted]"


@dataclass(frozen=True)
class Alert:
    """One alert, as every notifier sends it: a one-line `title`, a few `lines` of facts, a
    `link` into the UI, the `event` it reports (for webhook consumers to route on) and the same
    facts as data (`facts`, the webhook's JSON payload)."""

    event: str
    title: str
    lines: tuple[str, ...]
    link: str
    facts: Mapping[str, object] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The plain-text body: the facts, then the link."""
        return "\n".join((*self.lines, f"Open in Dagster: {self.link}"))

    def scrubbed(self, scrub: Scrubber) -> Alert:
        return Alert(
            event=self.event,
            title=scrub(self.title),
            lines=tuple(scrub(line) for line in self.lines),
            link=scrub(self.link),
            facts=scrub.data(self.facts),
        )


class Scrubber:
    """Replaces every known secret value with `[redacted]`: the last line of defence for text
    that came from elsewhere (an error message that echoed a URL with its password)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a URL is replaced whole before the password inside it.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def data(self, value: object) -> object:
        """The same, through JSON-like data (dicts, lists, strings)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {self(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def run_link(ui_base_url: str, run_id: str) -> str:
    return f"{ui_base_url}/runs/{run_id}"


def asset_link(ui_base_url: str, asset: str) -> str:
    return f"{ui_base_url}/assets/{quote(asset)}"


def partitions_of(tags: Mapping[str, str]) -> str | None:
    """The usage days a run covered, from its tags: `2026-09-01…2026-09-30` for a range (one
    run per backfill range), `2026-09-01` for one partition, None for a state-only run."""
    start, end = tags.get(PARTITION_RANGE_START), tags.get(PARTITION_RANGE_END)
    if start and end:
        return start if start == end else f"{start}…{end}"
    return tags.get(PARTITION_TAG)


def job_label(job: str) -> str:
    """The job as an operator knows it: Dagster runs assets materialized from the UI (or by
    automation) in its implicit `__ASSET_JOB`."""
    return "asset materialization" if job.startswith("__ASSET_JOB") else job


def listed(names: Sequence[str]) -> str:
    """`a, b, c` — at most MAX_LISTED names, then how many more."""
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def error_lines(errors: Sequence[tuple[str, str]]) -> list[str]:
    """The first lines of each failed step's innermost error (`step: message`), at most
    MAX_ERROR_LINES lines in all, each cut at MAX_ERROR_LINE_CHARS characters."""
    lines: list[str] = []
    for step, message in errors:
        text = [line.rstrip() for line in message.strip().splitlines() if line.strip()] or ["(no message)"]
        lines.append(f"{step}: {text[0]}" if step else text[0])
        lines.extend(f"  {line}" for line in text[1:])
    cut = [line if len(line) <= MAX_ERROR_LINE_CHARS else line[: MAX_ERROR_LINE_CHARS - 1] + "…" for line in lines]
    return cut[:MAX_ERROR_LINES] + (["…"] if len(cut) > MAX_ERROR_LINES else [])


@dataclass(frozen=True)
class RunFailure:
    """The facts of one failed run: what it was meant to write and did not, for which days,
    which ERROR checks failed in it, why it failed, and whether Dagster retries it."""

    job: str
    run_id: str
    failed_assets: tuple[str, ...]
    partitions: str | None
    errors: tuple[tuple[str, str], ...]
    failed_checks: tuple[str, ...] = ()
    retry: str | None = None


def run_failure_alert(failure: RunFailure, ui_base_url: str) -> Alert:
    """A failed run: the job, the assets it left unwritten, the days, the innermost error."""
    days = f" ({failure.partitions})" if failure.partitions else ""
    lines = [f"Job: {failure.job}"]
    if failure.failed_assets:
        lines.append(f"Not materialized: {listed(failure.failed_assets)}")
    if failure.partitions:
        lines.append(f"Partitions: {failure.partitions}")
    if failure.failed_checks:
        lines.append(f"Failed ERROR checks: {listed(failure.failed_checks)}")
    lines.append("Error:")
    lines.extend(f"  {line}" for line in error_lines(failure.errors) or ["(Dagster recorded no step error)"])
    if failure.retry:
        lines.append(failure.retry)
    link = run_link(ui_base_url, failure.run_id)
    return Alert(
        event="run_failed",
        title=f"Billing run failed: {job_label(failure.job)}{days}",
        lines=tuple(lines),
        link=link,
        facts=run_failure_summary(failure, ui_base_url),
    )


def run_failure_summary(failure: RunFailure, ui_base_url: str) -> dict[str, object]:
    """A failed run as data (the alert webhook's payload, the `sync.failed` event's data): the
    job, the run, what it left unwritten, its days, the first lines of its innermost errors."""
    return {
        "job": failure.job,
        "run_id": failure.run_id,
        "failed_assets": list(failure.failed_assets),
        "partitions": failure.partitions,
        "failed_checks": list(failure.failed_checks),
        "error": error_lines(failure.errors),
        "retry": failure.retry,
        "link": run_link(ui_base_url, failure.run_id),
    }


def retry_note(will_retry: str | None, retry_number: str | None, max_retries: str | None) -> str | None:
    """What happens next, from the run's retry tags: Dagster retries a failed run up to
    `run_retries.max_retries` times (every load is idempotent)."""
    done = int(retry_number or 0)
    if will_retry == "true" and max_retries:
        return f"Dagster retries this run automatically (retry {done + 1} of {max_retries})."
    if done:
        return f"No more automatic retries: this was retry {done}."
    return None


@dataclass(frozen=True)
class CheckFailure:
    """ERROR-severity checks that failed in a run that still succeeded (a check that fails a
    run is named in that run's failure alert instead)."""

    job: str
    run_id: str
    checks: tuple[tuple[str, str, str], ...]
    """(asset, check, what it found) per failed check."""
    partitions: str | None = None


def check_failure_alert(failure: CheckFailure, ui_base_url: str) -> Alert:
    days = f" ({failure.partitions})" if failure.partitions else ""
    names = [f"{asset}: {check}" for asset, check, _ in failure.checks]
    lines = [f"Job: {failure.job}", f"Failed ERROR checks: {listed(names)}"]
    if failure.partitions:
        lines.append(f"Partitions: {failure.partitions}")
    lines.extend(f"  {asset}: {check}: {found}" for asset, check, found in failure.checks[:MAX_LISTED] if found)
    link = run_link(ui_base_url, failure.run_id)
    return Alert(
        event="check_failed",
        title=f"Billing data check failed: {names[0]}" + (f" (+{len(names) - 1})" if len(names) > 1 else "") + days,
        lines=tuple(lines),
        link=link,
        facts={
            "job": failure.job,
            "run_id": failure.run_id,
            "partitions": failure.partitions,
            "failed_checks": [{"asset": a, "check": c, "found": f} for a, c, f in failure.checks],
            "link": link,
        },
    )


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def hours(window: timedelta) -> str:
    value = window.total_seconds() / 3600
    return f"{value:g} h"


@dataclass(frozen=True)
class Freshness:
    """One canonical table or mart against its freshness policy: updated last at
    `last_update`, expected again within `fail_window`."""

    asset: str
    last_update: datetime
    fail_window: timedelta

    @property
    def stale_since(self) -> datetime:
        return self.last_update + self.fail_window

    def is_stale(self, now: datetime) -> bool:
        return now >= self.stale_since


def stale_alert(freshness: Freshness, ui_base_url: str) -> Alert:
    """A canonical table or mart that stopped being updated: invoices built now would miss data."""
    link = asset_link(ui_base_url, freshness.asset)
    return Alert(
        event="asset_stale",
        title=f"Billing table stale: {freshness.asset}",
        lines=(
            f"Asset: {freshness.asset}",
            f"Stale since: {utc(freshness.stale_since)} (expected an update within {hours(freshness.fail_window)})",
            f"Last updated: {utc(freshness.last_update)}",
        ),
        link=link,
        facts={
            "asset": freshness.asset,
            "stale_since": freshness.stale_since.isoformat(),
            "last_update": freshness.last_update.isoformat(),
            "fail_window_hours": freshness.fail_window.total_seconds() / 3600,
            "link": link,
        },
    )


def recovered_alert(freshness: Freshness, was_stale_since: datetime, ui_base_url: str) -> Alert:
    """A stale table is updated again."""
    link = asset_link(ui_base_url, freshness.asset)
    return Alert(
        event="asset_recovered",
        title=f"Billing table fresh again: {freshness.asset}",
        lines=(
            f"Asset: {freshness.asset}",
            f"Updated: {utc(freshness.last_update)} (stale since {utc(was_stale_since)})",
        ),
        link=link,
        facts={
            "asset": freshness.asset,
            "last_update": freshness.last_update.isoformat(),
            "was_stale_since": was_stale_since.isoformat(),
            "link": link,
        },
    )
