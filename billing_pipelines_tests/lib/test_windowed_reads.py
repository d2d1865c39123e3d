"""A usage window whose rows raw cannot key, or staging cannot read, fails before anything is
written, saying what the query must change."""

import pyarrow as pa
import pytest

from billing_pipelines.lib.windowed_reads import UnusableUsageRows, check_usage_batch

COLUMNS = {"event_id": ["e1", "e2"], "customer_external_id": ["C", "C"], "metric": ["m", "m"]}
GOOD = pa.table({**COLUMNS, "quantity": [1, 2], "event_timestamp": ["2026-09-01", "2026-09-01"]})


def test_a_batch_with_every_column_and_its_keys_passes():
    check_usage_batch("app_db", GOOD, ["event_id"])
    check_usage_batch("app_db", GOOD.drop_columns(["event_id"]), ["event_id"])  # no id column: ids are hashed


def test_a_renamed_or_dropped_column_fails_naming_it():
    renamed = GOOD.rename_columns(["event_id", "customer_external_id", "meter", "quantity", "event_timestamp"])
    with pytest.raises(UnusableUsageRows, match=r"app_db: the usage rows have no column metric \(they have .*meter"):
        check_usage_batch("app_db", renamed, ["event_id"])


def test_a_row_without_its_primary_key_fails_counting_them():
    keyless = GOOD.set_column(0, "event_id", pa.array([None, "e2"], pa.string()))
    with pytest.raises(UnusableUsageRows, match=r"app_db: 1 usage row\(s\) of this window have no event_id"):
        check_usage_batch("app_db", keyless, ["event_id"])
