"""Process-wide settings every entry point applies before dlt, dbt or Dagster start."""

import os

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}

ARROW_LOAD_METADATA = {
    # dlt leaves Arrow batches untouched by default; we want every raw row to name the load
    # that wrote it (`_dlt_load_id`), which staging turns into `ingested_at`.
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true",
}


def apply_process_settings() -> None:
    """Nothing phones home; raw rows carry their load id. A user's own setting wins."""
    for name, value in {**TELEMETRY_OFF, **ARROW_LOAD_METADATA}.items():
        os.environ.setdefault(name, value)
