"""How a run's memory budget is split between its engines."""

import pytest

from billing_pipelines.lib.memory import (
    DBT_PROCESS_MIB,
    MAX_BATCH_ROWS,
    MIN_BATCH_ROWS,
    MIN_DUCKDB_MIB,
    RUN_PROCESS_MIB,
    engine_limits,
)
from billing_pipelines.lib.warehouse import Warehouse


def test_duckdb_gets_part_of_what_the_two_processes_leave():
    limits = engine_limits(2048)
    left = 2048 - RUN_PROCESS_MIB - DBT_PROCESS_MIB
    assert 0 < limits.duckdb_memory_limit_mib < left
    assert limits.duckdb_memory_limit == f"{limits.duckdb_memory_limit_mib}MiB"


def test_a_larger_budget_gives_every_engine_more_up_to_the_batch_cap():
    small, large, huge = engine_limits(1024), engine_limits(4096), engine_limits(65536)
    assert small.duckdb_memory_limit_mib < large.duckdb_memory_limit_mib < huge.duckdb_memory_limit_mib
    assert small.source_batch_rows < large.source_batch_rows <= huge.source_batch_rows == MAX_BATCH_ROWS


@pytest.mark.parametrize("budget", [0, 512, 700])
def test_a_tiny_budget_still_leaves_workable_floors(budget):
    limits = engine_limits(budget)
    assert limits.duckdb_memory_limit_mib == MIN_DUCKDB_MIB
    assert limits.source_batch_rows == MIN_BATCH_ROWS


def test_every_warehouse_connection_carries_the_limit(tmp_path):
    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"), memory_budget_mib=1536)
    with warehouse.connect(read_only=False) as connection:
        limit = connection.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        order = connection.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    expected = engine_limits(1536).duckdb_memory_limit_mib
    assert limit.replace(" ", "") in {f"{expected}.0MiB", f"{expected}MiB", f"{expected / 1024:.1f}GiB"}
    assert order is False
