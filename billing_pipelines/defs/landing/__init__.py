"""The landing zone: CSV files dropped into `landing/<dataset>/` (later, push-API batches)."""
