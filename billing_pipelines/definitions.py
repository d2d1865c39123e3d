"""The code location: every definition under `defs/`, one folder per source or concern.

Cross-cutting policy lives here: nothing a source folder has to remember. Loading validates
billing.yaml first, so a configuration mistake fails the load with file, line and key path.
"""

from pathlib import Path

import dagster as dg

from billing_pipelines.config import current_config
from billing_pipelines.lib.runtime import apply_process_settings

apply_process_settings()
current_config()

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
