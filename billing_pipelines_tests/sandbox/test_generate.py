"""The sandbox company generator, at small scale: the manifest must describe exactly what was written."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

from billing_pipelines.config import DATASETS
from billing_pipelines.sandbox.generate import CUSTOMER_COLUMNS, USAGE_COLUMNS, generate_company

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "billing_pipelines" / "sandbox" / "templates"
END = date(2026, 9, 30)
DAYS = 92
START = END - timedelta(days=DAYS - 1)
SCALE = {"end_date": END, "days": DAYS, "accounts": 40, "usage_events": 5_000, "landing_usage_events": 2_000}


def _generate(root: Path, seed: int = 11) -> dict:
    return generate_company(root / "sandbox" / "app_db.sqlite", root / "landing", seed=seed, **SCALE)


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("company")
    return root, _generate(root)


def _usage_files(root: Path) -> list[Path]:
    return sorted((root / "landing" / "usage_events").glob("*.csv"))


def _lines(path: Path) -> list[bytes]:
    """The file's physical lines; index 0 is line 1 (the header)."""
    return path.read_bytes().rstrip(b"\n").split(b"\n")


def _defect(raw: bytes) -> str | None:
    """The reason code a usage line deserves (None = valid), checked in loader-then-staging order."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid encoding"
    fields = next(csv.reader([text]))
    if len(fields) != len(USAGE_COLUMNS):
        return "wrong column count"
    row = dict(zip(USAGE_COLUMNS, fields))
    if not row["customer_external_id"]:
        return "missing customer_id"
    if not row["metric"]:
        return "missing metric"
    try:
        datetime.strptime(row["event_timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return "unparsable event_timestamp"
    try:
        Decimal(row["quantity"])
    except InvalidOperation:
        return "unparsable quantity"
    return None


def _valid_events(root: Path) -> list[tuple[str, int, dict]]:
    """(file, line, row) of every valid line in the usage files that have the contract's header."""
    events = []
    for path in _usage_files(root):
        lines = _lines(path)
        if lines[0].decode() != ",".join(USAGE_COLUMNS):
            continue
        for line, raw in enumerate(lines[1:], start=2):
            if _defect(raw) is None:
                events.append((path.name, line, dict(zip(USAGE_COLUMNS, next(csv.reader([raw.decode()]))))))
    return events


def _crm_rows(root: Path) -> list[dict]:
    (path,) = (root / "landing" / "customers").glob("*.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_manifest_counts_match_what_was_written(company):
    root, manifest = company
    counts = manifest["counts"]
    with sqlite3.connect(root / "sandbox" / "app_db.sqlite") as con:
        accounts, subscriptions, items, usage = (
            con.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("accounts", "subscriptions", "subscription_items", "usage_records")
        )
    assert (accounts, usage) == (SCALE["accounts"], SCALE["usage_events"])
    assert counts["customers"] == accounts + len(_crm_rows(root))
    assert counts["contracts"] == subscriptions
    assert counts["contract_items"] == items
    assert counts["usage_events_app_db"] == usage

    events = _valid_events(root)
    with_id = {row["event_id"] for _, _, row in events if row["event_id"]}
    anonymous = [tuple(row.values()) for _, _, row in events if not row["event_id"]]
    assert len(anonymous) == 100 and len(set(anonymous)) == len(anonymous)  # distinct content, so distinct hashes
    assert counts["usage_events_landing"] == len(with_id) + len(anonymous) == SCALE["landing_usage_events"]
    assert counts["usage_events"] == counts["usage_events_app_db"] + counts["usage_events_landing"]
    assert json.loads((root / "sandbox" / "expected.json").read_text()) == manifest
    assert (manifest["start_date"], manifest["end_date"]) == (START.isoformat(), END.isoformat())


def test_same_seed_writes_identical_bytes(company, tmp_path):
    root, _ = company
    _generate(tmp_path)
    assert _tree(tmp_path) == _tree(root)
    other = tmp_path / "other"
    _generate(other, seed=12)
    assert (other / "sandbox" / "app_db.sqlite").read_bytes() != (root / "sandbox" / "app_db.sqlite").read_bytes()


def test_rerun_replaces_only_the_inbox_csvs(tmp_path):
    _generate(tmp_path)
    landing = tmp_path / "landing"
    first_run = _tree(landing)
    stale = [landing / "usage_events" / "old_export.csv", landing / "contracts" / "draft.csv"]
    kept = [
        landing / "archive" / "usage_events" / "a.csv",
        landing / "rejected" / "b.csv",
        landing / "usage_events" / "notes.txt",
    ]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    _generate(tmp_path)
    assert not any(path.exists() for path in stale)
    assert all(path.read_text() == "x\n" for path in kept)
    kept_names = {str(path.relative_to(landing)) for path in kept}
    assert {name: data for name, data in _tree(landing).items() if name not in kept_names} == first_run


def test_quarantine_rows_point_at_exactly_the_bad_lines(company):
    root, manifest = company
    planted = {(r["file"], r["line"]): r["reason_code"] for r in manifest["quarantine_rows"]}
    assert all(r["dataset"] == "usage_events" for r in manifest["quarantine_rows"])
    assert manifest["quarantine"] == dict(Counter(planted.values()))
    assert set(manifest["quarantine"]) == {
        "missing customer_id", "unparsable event_timestamp", "unparsable quantity",
        "wrong column count", "invalid encoding", "unknown column set",
    }  # fmt: skip
    assert len({file for file, line in planted if line is not None}) == 2
    for path in _usage_files(root):
        lines = _lines(path)
        if (path.name, None) in planted:
            assert planted[(path.name, None)] == "unknown column set"
            continue
        found = {(path.name, n): _defect(raw) for n, raw in enumerate(lines[1:], start=2) if _defect(raw)}
        assert found == {key: code for key, code in planted.items() if key[0] == path.name}


def test_duplicates_are_resent_in_a_second_file(company):
    root, _ = company
    seen = defaultdict(list)
    for file, _, row in _valid_events(root):
        if row["event_id"]:
            seen[row["event_id"]].append((file, row))
    repeated = {event_id: copies for event_id, copies in seen.items() if len(copies) > 1}
    assert len(repeated) == 50
    for copies in repeated.values():
        assert len(copies) == 2 and copies[0][0] != copies[1][0] and copies[0][1] == copies[1][1]


def test_late_file_holds_one_old_day(company):
    root, manifest = company
    late_date = date.fromisoformat(manifest["late_file"]["date"])
    assert START <= late_date <= END - timedelta(days=30)
    rows = [row for file, _, row in _valid_events(root) if file == manifest["late_file"]["file"]]
    assert rows and {row["event_timestamp"][:10] for row in rows} == {late_date.isoformat()}


def test_all_valid_events_fall_in_the_window(company):
    root, _ = company
    days = {row["event_timestamp"][:10] for _, _, row in _valid_events(root)}
    assert START.isoformat() <= min(days) and max(days) <= END.isoformat()
    with sqlite3.connect(root / "sandbox" / "app_db.sqlite") as con:
        first, last = con.execute("select min(occurred_at), max(occurred_at) from usage_records").fetchone()
    assert f"{START} 00:00:00" <= first and last <= f"{END} 23:59:59"


def test_wrong_folder_file_has_a_foreign_header(company):
    root, manifest = company
    (record,) = [r for r in manifest["quarantine_rows"] if r["line"] is None]
    lines = _lines(root / "landing" / "usage_events" / record["file"])
    assert record["file"] == "stripe_export_wrong_folder.csv" and len(lines) == 4
    assert set(lines[0].decode().split(",")).isdisjoint(USAGE_COLUMNS)


def test_landing_customers_are_known_acquired_or_the_one_unknown(company):
    root, manifest = company
    with sqlite3.connect(root / "sandbox" / "app_db.sqlite") as con:
        app_ids = {row[0] for row in con.execute("select external_id from accounts")}
    acquired = {row["external_id"] for row in _crm_rows(root)}
    assert len(acquired) == 20 and all(re.fullmatch(r"ACQ-\d{4}", i) for i in acquired)
    assert not acquired & app_ids
    customers = Counter()
    for _, _, row in _valid_events(root):
        customers[row["customer_external_id"]] += 1
    unknown = [row["event_id"] for _, _, row in _valid_events(root) if row["customer_external_id"] == "CUS-UNKNOWN-1"]
    assert len(unknown) == len(set(unknown)) == manifest["unknown_customer_events"] == 30
    assert set(customers) - app_ids - acquired == {"CUS-UNKNOWN-1"}
    assert set(customers) & acquired


def test_app_database_is_coherent(company):
    root, _ = company
    con = sqlite3.connect(root / "sandbox" / "app_db.sqlite")
    try:

        def values(sql: str) -> set:
            return {value for (value,) in con.execute(sql)}

        def count(sql: str) -> int:
            return con.execute(f"select count(*) from {sql}").fetchone()[0]

        assert all(re.fullmatch(r"CUS-\d{6}", i) for i in values("select external_id from accounts"))
        assert count("accounts where deleted_at is not null") >= 1
        assert values("select country from accounts") <= {"US", "CA", "GB", "DE", "FR", "NL", "IE", "AU", "SG"}
        assert values("select status from subscriptions") <= {"trialing", "active", "paused", "canceled", "ended"}
        assert values("select renewal_policy from subscriptions") <= {"auto_renew", "none"}
        assert count("subscriptions s join accounts a on a.id = s.account_id where s.currency <> a.currency") == 0
        items_per_subscription = values(
            "select count(i.id) from subscriptions s"
            " left join subscription_items i on i.subscription_id = s.id group by s.id"
        )
        assert items_per_subscription <= {1, 2, 3}
        assert count("subscription_items where (metric is null) <> (pricing_model = 'flat_fee')") == 0
        assert values("select billing_interval from subscription_items") <= {"P1M", "P3M", "P1Y"}
        assert count("usage_records where account_id not in (select account_id from subscriptions)") == 0
        stamps = [s for (s,) in con.execute("select occurred_at from usage_records order by id")]
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", s) for s in stamps) and stamps == sorted(stamps)
        usage = con.execute("select metric, quantity, typeof(quantity), properties from usage_records")
        for metric, quantity, kind, properties in usage:
            if metric in ("api_calls", "seats"):
                assert kind == "integer" and quantity >= 1
            else:
                assert quantity > 0 and round(quantity, 3) == quantity
            assert isinstance(json.loads(properties), dict)
        assert count("sqlite_master where type = 'index' and sql like '%usage_records%(occurred_at)%'") == 1
    finally:
        con.close()


def _contract_columns() -> dict[str, list[str]]:
    """The raw_landing table of docs/raw-contract.md: dataset -> CSV columns."""
    text = (REPO / "docs" / "raw-contract.md").read_text(encoding="utf-8")
    section = text.split("## raw_landing", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\w+) \| ([\w, ]+) \|$", section, flags=re.MULTILINE)
    return {dataset: [c.strip() for c in columns.split(",")] for dataset, columns in rows if dataset != "table"}


def test_templates_and_generator_follow_the_landing_contract():
    contract = _contract_columns()
    # rejected_records is written by the push API only: it has no template for users
    assert set(contract) == {"customers", "contracts", "contract_items", "usage_events", "rejected_records"}
    for dataset, columns in ((dataset, contract[dataset]) for dataset in DATASETS):
        with (TEMPLATES / f"{dataset}.csv").open(newline="", encoding="utf-8") as handle:
            header, *examples = list(csv.reader(handle))
        assert header == columns
        assert len(examples) == 2 and all(len(row) == len(columns) for row in examples)
    assert list(CUSTOMER_COLUMNS) == contract["customers"]
    assert list(USAGE_COLUMNS) == contract["usage_events"]


def test_refuses_a_window_too_short_for_the_late_export(tmp_path):
    with pytest.raises(ValueError, match="days"):
        generate_company(tmp_path / "app.sqlite", tmp_path / "landing", END, days=30)


def test_warehouse_usage_seeds_hold_one_metric_each_inside_the_period(tmp_path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from billing_pipelines.sandbox.generate import WAREHOUSE_USAGE, warehouse_usage_path

    manifest = generate_company(
        tmp_path / "sandbox" / "app_db.sqlite", tmp_path / "landing", seed=11, warehouse_usage_events=700, **SCALE
    )
    assert manifest["counts"]["usage_events"] == 5_000 + 2_000 + 2 * 700
    ids = set()
    for source, (metric, prefix) in WAREHOUSE_USAGE.items():
        table = pq.read_table(warehouse_usage_path(tmp_path / "sandbox", source))
        assert manifest["counts"][f"usage_events_{source}"] == table.num_rows == 700
        assert set(table["metric"].to_pylist()) == {metric}
        assert all(event_id.startswith(f"{prefix}-") for event_id in table["event_id"].to_pylist())
        ids |= set(table["event_id"].to_pylist())
        days = pc.cast(table["occurred_at"], "date32").to_pylist()
        assert START <= min(days) and max(days) <= END
        assert pc.min(table["quantity"]).as_py() > 0
    assert len(ids) == 1_400


def test_without_warehouse_usage_no_seed_is_written(company):
    root, manifest = company
    assert "usage_events_usage_lake" not in manifest["counts"]
    assert not list((root / "sandbox").glob("*/usage_events.parquet"))
