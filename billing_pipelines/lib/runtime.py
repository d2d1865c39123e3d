"""Process-wide settings every entry point applies before dlt, dbt or Dagster start."""

import os

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}

ROW_IDS_SETTING = "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID"

ARROW_LOAD_METADATA = {
    # dlt leaves Arrow batches untouched by default; we want every raw row to name the load
    # that wrote it (`_dlt_load_id`), which staging turns into `ingested_at`. No per-row
    # `_dlt_id`: nothing reads it (raw rows are keyed by their source's primary key), and
    # writing one means rewriting every loaded file, a third of a history load's time.
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    ROW_IDS_SETTING: "false",
}


def keep_row_ids(pipeline_name: str, keep: bool) -> None:
    """Whether one dlt pipeline writes the per-row `_dlt_id` (its raw tables were made when
    every load wrote it), in dlt's pipeline-scoped setting; other pipelines are unaffected."""
    os.environ[f"{pipeline_name.upper()}__{ROW_IDS_SETTING}"] = "true" if keep else "false"


def apply_process_settings() -> None:
    """Nothing phones home; raw rows carry their load id. A user's own setting wins."""
    for name, value in {**TELEMETRY_OFF, **ARROW_LOAD_METADATA}.items():
        os.environ.setdefault(name, value)
