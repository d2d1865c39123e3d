"""The code location: every definition under `defs/`, one folder per source or concern.

Loading validates billing.yaml first, so a configuration mistake fails the load with file,
line and key path before anything else is built. Nothing is built on import: Dagster calls
`defs` when it loads the code location, so importing `build_definitions` (as tests and
benchmarks do) never reads the billing.yaml of whatever folder the import happens in.
"""

import warnings
from pathlib import Path

import dagster as dg

from billing_pipelines.config import current_config
from billing_pipelines.lib.runtime import apply_process_settings

PACKAGE = Path(__file__).parent


def build_definitions() -> dg.Definitions:
    """All definitions for the configuration in effect (billing.yaml or BILLING_CONFIG).

    The `defs/` folder is autoloaded like `dg.load_from_defs_folder` does, but built at the
    folder itself rather than at the project root: the root also imports every installed Dagster
    integration to describe its components to `dg` (dagster-snowflake alone takes 10-20 s), and
    every run and every step loads this module again."""
    apply_process_settings()
    current_config()
    with warnings.catch_warnings():  # as load_from_defs_folder: its loaders are marked "preview"
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.ComponentTree.for_project(path_within_project=PACKAGE).build_defs(PACKAGE / "defs")


@dg.definitions
def defs() -> dg.Definitions:
    """The code location's definitions, built when Dagster loads it."""
    return build_definitions()
