"""Dagster definitions, one folder per source or concern; loaded by `definitions.py`."""
