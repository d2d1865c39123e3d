"""Spreadsheet formulas: where the project shows rows to people, a value that a spreadsheet would
run (`=HYPERLINK(…)`, `+…`, `-…`, `@…`, a leading tab or carriage return) is shown as text; the
data itself keeps every value exactly as delivered.

Where the project writes or shows tabular text, and what each place does:

- the `preview` of a raw load's or a canonical table's materialization (Markdown in the Dagster
  UI, which operators copy into sheets): neutralised (`lib/spreadsheet_safety.py`);
- landing files (the push API's CSV lines, uploads), raw and canonical tables, the quarantine's
  payloads: the data, kept exactly;
- the push API's answers and upload status, outbound webhooks: JSON for programs, kept exactly;
- the manual-entry forms (`/manual`): HTML (autoescaped), no table of records; what is entered
  lands like a push, as data;
- alerts: prose (Slack mrkdwn escaped, e-mail text, webhook JSON), not tables; no CSV export exists.
"""

from __future__ import annotations

from decimal import Decimal

import dagster as dg
import pytest

from billing_pipelines.lib.asset_metadata import PREVIEW_CELL_CHARS, markdown_table
from billing_pipelines.lib.spreadsheet_safety import spreadsheet_safe
from billing_pipelines_tests.security.conftest import FORMULA, FORMULA_METRIC, PLUS_FORMULA, canonical

FORMULAS = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+2",
    "\r=1+2",
    "=",
]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_value_that_would_start_a_formula_is_shown_as_text(value):
    assert spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["-5", "+1.5", "-0.000000001", "1e-9", "-2E+3", "ACME = 1", "a@b.example", "", "'=x"])
def test_numbers_and_ordinary_text_are_shown_as_they_are(value):
    """A signed quantity (a usage adjustment, a credit) is a number, not a formula."""
    assert spreadsheet_safe(value) == value


def preview_cells(markdown: str) -> list[str]:
    """The cells of a preview table's data rows, unescaped as Markdown shows them."""
    rows = markdown.splitlines()[2:]
    return [cell.strip().replace("\\|", "|") for row in rows for cell in row.strip().strip("|").split(" | ")]


def test_the_preview_shows_formulas_as_text_and_keeps_other_values():
    rows = [
        (FORMULA, Decimal("-5"), "\t=1+2", "Acme | Ltd"),
        ("@SUM(A1)", Decimal("12.5"), "-2+3", None),
    ]
    cells = preview_cells(markdown_table(["name", "quantity", "line2", "note"], rows))
    assert cells == ["'" + FORMULA, "-5", "'=1+2", "Acme | Ltd", "'@SUM(A1)", "12.5", "'-2+3", ""]


def test_a_long_formula_is_neutralised_before_it_is_shortened():
    cell = preview_cells(markdown_table(["name"], [("=" + "A" * 200,)]))[0]
    assert cell.startswith("'=") and len(cell) == PREVIEW_CELL_CHARS


def latest_preview(world, *path: str) -> str:
    [record] = world.instance.fetch_materializations(dg.AssetKey(list(path)), limit=1).records
    return record.asset_materialization.metadata["preview"].value


@pytest.mark.parametrize(
    ("asset", "shown"),
    [
        (("billing", "customers"), ["'" + FORMULA, "'" + PLUS_FORMULA, "'@SUM(A1)", "'-2+3"]),
        (("raw_landing", "customers"), ["'" + FORMULA, "'" + PLUS_FORMULA, "'@SUM(A1)", "'-2+3", "'=1+2"]),
        (("billing", "usage_events"), ["'" + FORMULA_METRIC]),
    ],
    ids=["canonical customers", "raw landing customers", "canonical usage"],
)
def test_the_previews_in_the_ui_show_the_hostile_values_as_text(world, asset, shown):
    cells = preview_cells(latest_preview(world, *asset))
    assert set(shown) <= set(cells), cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@")) or cell == "-2+3"]


def test_the_data_behind_the_previews_keeps_the_values_as_delivered(world):
    assert canonical(world, "select name, city from billing.customers where customer_id = 'SEC-1'") == [
        (FORMULA, PLUS_FORMULA)
    ]
    assert canonical(world, "select metric from billing.usage_events where event_id = 'sec-formula'") == [
        (FORMULA_METRIC,)
    ]
    landed = "\n".join(path.read_text() for path in (world.config.landing_path / "archive").rglob("*.csv"))
    assert FORMULA_METRIC in landed and FORMULA.replace('"', '""') in landed  # the landing files as sent
