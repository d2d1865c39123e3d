"""Every case of the bad-input corpus (`billing_pipelines_tests/data/bad_inputs/cases.yaml`) has
exactly the outcome the manifest gives it, through the real pipeline: the landing sensor's tick
for CSV files, the push API served by uvicorn for pushes and uploads, a PostgreSQL source for
source rows, then one `billing_sync` run (raw loads, dbt) into `billing.usage_events` and
`billing.quarantine`.

The whole corpus goes through once (module fixture); each case then checks its own records,
found by the ids it carries (`<case id>.…`), its files and its requests. A case's records are
all accounted for: what loaded is exactly its `loaded` rows, what was quarantined exactly its
`quarantined` rows and rejected file, so a record lost, counted twice or quarantined for
another reason fails it."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from billing_pipelines_tests.bad_inputs.corpus import (
    CORPUS,
    CORPUS_DAYS,
    case_files,
    json_or_text,
    load_cases,
    marker,
    run_corpus,
    utc_text,
)

CASES = load_cases()
HASHED_ID = re.compile(r"^[0-9a-f]{32}$")
"""The id of an event delivered without one: an md5 of its content."""
COMPARED = ("event_id", "customer_id", "metric", "quantity", "event_timestamp")


@pytest.fixture(scope="module")
def outcome(tmp_path_factory, postgres_url):
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield run_corpus(tmp_path_factory.mktemp("bad_inputs"), postgres_url, monkeypatch)


def quantity_text(value) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def expected_rows(case: dict) -> list[tuple]:
    return sorted(
        (
            tuple(quantity_text(row[key]) if key == "quantity" else row.get(key) for key in COMPARED)
            for row in case["expect"].get("loaded", [])
        ),
        key=repr,
    )


def actual_rows(rows: list[dict]) -> list[tuple]:
    def shown(row: dict, key: str):
        value = row[key]
        if key == "event_id" and HASHED_ID.match(value):
            return None  # the manifest says None for "a hashed id"
        if key == "quantity":
            return quantity_text(value)
        if key == "event_timestamp":
            return utc_text(value)
        return value

    return sorted((tuple(shown(row, key) for key in COMPARED) for row in rows), key=repr)


def expected_quarantine(case: dict, requests: list[str]) -> list[tuple[str | None, str]]:
    """(location, reason) of each expected quarantine row; a location with `{request[i]}` names
    the case's i-th request by the id the API gave it; no location: any."""
    expect = case["expect"]
    rows = [(entry.get("location"), entry["reason"]) for entry in expect.get("quarantined", [])]
    if "rejected" in expect and case["channel"] == "csv":
        rows.append((case_files(case)[0], expect["rejected"]["reason"]))
    return [(location.format(request=requests) if location else None, reason) for location, reason in rows]


def unmatched(expected: list[tuple[str | None, str]], actual: list[tuple[str, str]]) -> tuple[list, list]:
    """The expected rows not found and the actual rows not expected (located ones first, then
    those expected anywhere, by reason)."""
    left = list(actual)
    missing = []
    for location, reason in sorted(expected, key=lambda row: row[0] is None):
        match = next((row for row in left if row[1] == reason and location in (None, row[0])), None)
        if match is None:
            missing.append((location, reason))
        else:
            left.remove(match)
    return missing, left


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input_has_its_outcome(outcome, case):
    expect = case["expect"]
    answers = outcome.answers.get(case["id"], [])
    requests = [answer["json"].get("request_id", "") for answer in answers]

    if "rejected" in expect and case["channel"] == "api":
        [answer] = answers
        assert (answer["status"], answer["json"]["error"]["message"]) == (
            expect["rejected"]["status"],
            expect["rejected"]["reason"],
        )
    for index, expected_answer in enumerate(expect.get("answers", [])):
        assert {key: answers[index]["json"].get(key) for key in expected_answer} == expected_answer

    assert actual_rows(outcome.loaded_for(case)) == expected_rows(case)
    for expected in expect.get("loaded", []):
        if "properties" in expected:
            [row] = [row for row in outcome.loaded_for(case) if row["event_id"] == expected["event_id"]]
            assert json_or_text(row["properties"]) == expected["properties"]

    quarantined = [(row["location"], row["reason"]) for row in outcome.quarantined_for(case)]
    missing, unexpected = unmatched(expected_quarantine(case, requests), quarantined)
    assert {"missing": missing, "unexpected": unexpected} == {"missing": [], "unexpected": []}

    if "rejected" in expect and case["channel"] == "csv":
        assert (case_files(case)[0], expect["rejected"]["reason"]) in outcome.rejected_files
    still_waiting = {name for name in case_files(case) if name in outcome.waiting}
    assert still_waiting == (set(case_files(case)) if expect.get("waiting") else set())


def test_no_bad_record_fails_a_run(outcome):
    """No record, however bad, fails a run: it would hold back every good record of the run."""
    assert outcome.run_failures == []


def test_the_landing_sensor_plans_runs_for_partitions_that_exist(outcome):
    """One usage run for the corpus's days, one for the arrival day of files with no event in
    range (their rows are quarantined there), one state run; never a day no partition holds."""
    usage_runs = [(first, last) for job, first, last in outcome.planned_runs if job == "landing_usage_by_day"]
    arrival_day = outcome.arrival_day.isoformat()
    assert sorted(usage_runs) == [tuple(day.isoformat() for day in CORPUS_DAYS), (arrival_day, arrival_day)]
    assert [run for run in outcome.planned_runs if run[0] != "landing_usage_by_day"] == [
        ("landing_state_sync", None, None)
    ]


REQUIRED_CATEGORIES = {
    "delimiters",
    "encodings",
    "byte-order marks",
    "line endings",
    "ragged and blank rows",
    "quoted newlines",
    "very long fields",
    "empty and header-only files",
    "headers",
    "file names and folders",
    "compressed files",
    "quantities",
    "timestamps",
    "unknown customers",
    "duplicate and conflicting event ids",
    "spreadsheet formulas",
    "control characters",
    "invalid JSON properties",
    "nulls in keys",
}


def test_the_manifest_is_consistent():
    """Unique ids, every required category, files that exist, and expected records that carry
    their case's id (else the test could not find them)."""
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)) >= 60
    assert {case["category"] for case in CASES} == REQUIRED_CATEGORIES
    for case in CASES:
        assert set(case) <= {"id", "category", "channel", "title", "input", "expect", "issue"}, case["id"]
        assert case["channel"] in {"csv", "api", "source"}, case["id"]
        assert set(case["expect"]) <= {"loaded", "quarantined", "rejected", "waiting", "answers"}, case["id"]
        for path in [case["input"].get("file"), *case["input"].get("also", [])]:
            if path:
                assert (CORPUS / "landing" / path).is_file(), f"{case['id']}: {path} is not in the corpus"
        for request in case["input"].get("requests", []):
            if "upload" in request:
                assert (CORPUS / "uploads" / request["upload"]).is_file(), case["id"]
        found = marker(case["id"])
        for row in case["expect"].get("loaded", []):
            assert found.search(row["event_id"] or "") or found.search(row["customer_id"]), case["id"]
