"""Values shown to people as table cells, made safe to paste into a spreadsheet.

Billing data carries text written by customers and other systems: a customer's name, an address
line, a metric name. A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is
run as a formula by Excel, LibreOffice and Google Sheets when a table is pasted or opened there
(`=HYPERLINK("http://evil","x")`, `=cmd|' /C calc'!A0`): an operator copying a preview of the
customers table into a sheet would run what a customer typed. Where the project shows rows to
people (the previews on an asset's materializations), such a cell gets a leading `'`, which
spreadsheets show as text and never evaluate.

Only what is shown is changed: the raw and canonical tables, the quarantine's payloads, the
landing files and every machine answer (API JSON, webhooks) keep each value exactly as it was
delivered, since a billing value must never be altered by how it is displayed. A plain number
(`-5`, `+1.5`: a usage adjustment, a credit) is a number, not a formula, and is shown as it is.
"""

from __future__ import annotations

import re

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP's list for CSV injection)."""
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
TEXT_MARK = "'"


def spreadsheet_safe(text: str) -> str:
    """`text` as a cell a spreadsheet shows as text: a leading `'` when it would start a formula
    (a plain number excepted)."""
    if text.startswith(FORMULA_PREFIXES) and not PLAIN_NUMBER.fullmatch(text):
        return TEXT_MARK + text
    return text
