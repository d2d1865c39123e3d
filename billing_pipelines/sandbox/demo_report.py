"""The demo's summary: what the warehouse holds after the migration and the sync, next to what
the generator and the stand-ins say it must hold (`saas_expected`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import duckdb

from billing_pipelines.config import BillingConfig
from billing_pipelines.lib.raw_assets import raw_schema
from billing_pipelines.sandbox.saas_expected import SaasExpected

CANONICAL_TABLES = ("customers", "contracts", "contract_items", "usage_events", "billable_usage_daily", "quarantine")
LABEL, NUMBER = 44, 12
"""Column widths of the summary: a label, then numbers."""


@dataclass(frozen=True)
class Loaded:
    """What the warehouse holds after the demo: rows per canonical table, canonical usage events
    per source, quarantined rows per reason code, raw rows and tables per SaaS source, and the
    customers known to both Stripe and HubSpot."""

    tables: dict[str, int]
    usage_by_source: dict[str, int]
    quarantine_by_reason: dict[str, int]
    raw_by_api_source: dict[str, tuple[int, int]]
    with_stripe_and_hubspot_ids: int


def warehouse_counts(config: BillingConfig) -> Loaded:
    """The counts the demo reports, read from the warehouse."""
    with duckdb.connect(str(config.warehouse_path), read_only=True) as warehouse:

        def count(sql: str) -> int:
            return warehouse.execute(sql).fetchone()[0]

        raw = {}
        for name in config.enabled_api_sources:
            tables = warehouse.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = ? AND NOT starts_with(table_name, '_dlt')",
                [raw_schema(name)],
            ).fetchall()
            rows = sum(count(f'SELECT count(*) FROM {raw_schema(name)}."{table}"') for (table,) in tables)
            raw[name] = (len(tables), rows)
        return Loaded(
            tables={t: count(f"SELECT count(*) FROM billing.{t}") for t in CANONICAL_TABLES},
            usage_by_source=dict(
                warehouse.execute("SELECT source_system, count(*) FROM billing.usage_events GROUP BY 1").fetchall()
            ),
            quarantine_by_reason=dict(
                warehouse.execute(
                    "SELECT split_part(reason, ':', 1) AS code, count(*) FROM billing.quarantine GROUP BY code"
                ).fetchall()
            ),
            raw_by_api_source=raw,
            with_stripe_and_hubspot_ids=count(
                "SELECT count(*) FROM billing.customers"
                " WHERE stripe_customer_id IS NOT NULL AND hubspot_company_id IS NOT NULL"
            ),
        )


def compared(title: str, loaded: dict[str, int], wanted: dict[str, int | None], label=str) -> tuple[list[str], bool]:
    """One section's lines (rows next to the expected count, where there is one), and whether
    every expected count matches."""
    lines, ok = [f"{title:<{LABEL}}{'rows':>{NUMBER}}{'expected':>{NUMBER}}"], True
    for name in [*wanted, *sorted(loaded.keys() - wanted.keys())]:
        rows, target = loaded.get(name, 0), wanted.get(name)
        ok &= target is None or rows == target
        mark = "" if target is None else ("  ok" if rows == target else "  MISMATCH")
        expected = "" if target is None else f"{target:>{NUMBER},}"
        lines.append(f"{label(name):<{LABEL}}{rows:>{NUMBER},}{expected}{mark}")
    return lines, ok


def saas_lines(loaded: Loaded, requests: dict[str, tuple[int, int]]) -> list[str]:
    """Per SaaS source: its raw tables and rows, and the API requests of the migration and the sync."""
    lines = [f"{'SaaS source (raw tables)':<{LABEL}}{'rows':>{NUMBER}}{'requests':>{NUMBER}}  (migration / sync)"]
    for source, (tables, rows) in loaded.raw_by_api_source.items():
        first, second = requests.get(source, (0, 0))
        lines.append(f"{f'raw_{source} ({tables} tables)':<{LABEL}}{rows:>{NUMBER},}{f'{first} / {second}':>{NUMBER}}")
    return lines


def summary(
    loaded: Loaded, expected: dict, saas: SaasExpected, requests: dict[str, tuple[int, int]]
) -> tuple[str, bool]:
    """The summary table, and whether every expected count matches."""
    counts = Counter(expected["counts"]) + saas.counts
    quarantine = Counter(expected["quarantine"]) + saas.quarantine
    tables = {table: counts.get(table) for table in CANONICAL_TABLES}
    tables["quarantine"] = sum(quarantine.values())
    sources = {key.removeprefix("usage_events_"): n for key, n in counts.items() if key.startswith("usage_events_")}
    reasons = {code: quarantine.get(code, 0) for code in sorted({*quarantine, *loaded.quarantine_by_reason})}
    both = set.intersection(*saas.keyed.values()) if len(saas.keyed) > 1 else set()
    sections = [
        compared("table", loaded.tables, tables, label=lambda t: f"billing.{t}"),
        compared("usage events by source", loaded.usage_by_source, sources),
        compared("quarantine reason", loaded.quarantine_by_reason, reasons),
        compared(
            "identity across systems",
            {"customers with Stripe and HubSpot ids": loaded.with_stripe_and_hubspot_ids},
            {"customers with Stripe and HubSpot ids": len(both)},
        ),
    ]
    ok = all(section_ok for _, section_ok in sections)
    blocks = [lines for lines, _ in sections]
    if loaded.raw_by_api_source:
        blocks.insert(3, saas_lines(loaded, requests))
    verdict = "Every count is as expected." if ok else "Some counts are off: see MISMATCH above."
    return "\n\n".join("\n".join(block) for block in [*blocks, [verdict]]), ok
