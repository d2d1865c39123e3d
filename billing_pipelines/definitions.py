"""The code location: every definition under `defs/`, one folder per source or concern.

Loading validates billing.yaml first, so a configuration mistake fails the load with file,
line and key path before anything else is built.
"""

from pathlib import Path

import dagster as dg

from billing_pipelines.config import current_config
from billing_pipelines.lib.runtime import apply_process_settings


def build_definitions() -> dg.Definitions:
    """All definitions for the configuration in effect (billing.yaml or BILLING_CONFIG)."""
    apply_process_settings()
    current_config()
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


defs = build_definitions()
