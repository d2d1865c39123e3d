"""One memory budget per run (`memory_budget` in billing.yaml), shared by every engine in it.

A run is one Python process (Dagster, dlt and the Arrow batches it moves) that starts dbt as a
child process. Both drive a DuckDB on the warehouse file, one at a time (the `warehouse` pool),
and both processes are alive while dbt works. So the budget pays for the two interpreters
first; what is left goes to DuckDB, which spills to its temp directory beyond its limit instead
of growing, and bounds the size of the Arrow batches read from a source and of dlt's buffers.
DuckDB does not count every allocation against its limit (query results handed to Python,
the parser), so it gets part of what is left, not all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

RUN_PROCESS_MIB = 550
"""Resident memory of a run process with the code location loaded (Dagster, dlt, dbt's manifest),
as measured while its dbt step runs (`python -m bench.history`)."""
DBT_PROCESS_MIB = 250
"""Resident memory of the dbt CLI process before its DuckDB allocates."""
DUCKDB_SHARE = 0.5
"""Part of what the interpreters leave that DuckDB's buffer manager may take (half: DuckDB's
resident memory runs past its limit by its allocations outside the buffer manager)."""
MIN_DUCKDB_MIB = 128
ROWS_PER_MIB = 100
"""Rows of a source batch per MiB left over: ~100k rows (tens of MiB of Arrow) per GiB."""
MIN_BATCH_ROWS, MAX_BATCH_ROWS = 10_000, 200_000


@dataclass(frozen=True)
class EngineLimits:
    """What each engine of a run may use, derived from the run's memory budget."""

    duckdb_memory_limit_mib: int
    """DuckDB `memory_limit` of dlt's destination connection and of dbt's."""
    source_batch_rows: int
    """Rows per Arrow batch read from a SQL source (also dlt's write-buffer size, in rows)."""

    @property
    def duckdb_memory_limit(self) -> str:
        return f"{self.duckdb_memory_limit_mib}MiB"


def engine_limits(budget_mib: float) -> EngineLimits:
    """Split a run's budget (MiB) between the engines."""
    spare = max(budget_mib - RUN_PROCESS_MIB - DBT_PROCESS_MIB, 0)
    batch_rows = int(min(max(spare * ROWS_PER_MIB, MIN_BATCH_ROWS), MAX_BATCH_ROWS))
    return EngineLimits(
        duckdb_memory_limit_mib=max(int(spare * DUCKDB_SHARE), MIN_DUCKDB_MIB),
        source_batch_rows=batch_rows,
    )
