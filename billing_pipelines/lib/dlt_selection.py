"""Which raw tables the dlt run being extracted will load.

A Dagster run that selects some raw assets of an API source builds the whole dlt source and
narrows it to the selected resources; a read that feeds several tables (Stripe subscriptions and
their items, HubSpot deals and their associations) still runs for any one of them. Its cursor
may move only when the run loads every table it feeds, or the tables left out would miss the
changes it read.
"""

from __future__ import annotations

from collections.abc import Iterable

import dlt
from dlt.extract.exceptions import CurrentSourceNotAvailable


def loads_all(tables: Iterable[str]) -> bool:
    """Whether the source being extracted loads every one of `tables` (outside an extraction:
    yes, nothing narrows it)."""
    try:
        selected = dlt.current.source().selected_resources
    except CurrentSourceNotAvailable:
        return True
    return all(table in selected for table in tables)
