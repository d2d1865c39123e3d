"""Shared pieces used by several sources: partition windows, SQL binding, dlt translation."""
