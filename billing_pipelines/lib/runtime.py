"""Process-wide settings every entry point applies: nothing phones home."""

import os

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}


def quiet_telemetry() -> None:
    """Turn off dlt, dbt and Dagster usage telemetry unless the user chose otherwise."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)
