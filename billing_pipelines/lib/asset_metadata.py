"""What an operator sees on an asset in the Dagster UI: where its table really is, what a load
did, and a few of its rows.

- **Storage address** (`dagster/table_name`): the table's full name in the warehouse in effect,
  `<database>.<schema>.<table>`: the DuckDB file's catalog (its file name without extension),
  the PostgreSQL database, the Snowflake database (upper case, as Snowflake stores unquoted
  names), or the BigQuery project. dagster-dbt and dagster-dlt would show `memory.…` (the
  in-memory DuckDB dbt parses with) and `duckdb.…` (dlt's destination name).
- **A load's counts** (`rows_loaded`, `rows_inserted`, `rows_replaced`, `dagster/row_count`):
  what dlt normalized for the table, and the table's size before and after the load. Raw loads
  merge on the primary key (delete-insert), so the rows the table gained are new keys and the
  rest of the loaded rows replaced a stored row with the same key (changed or not: dlt does not
  compare them). Raw never deletes: deletions arrive as flags and are counted downstream.
- **A preview**: the first few rows a `LIMIT` query returns (a tabledata read on BigQuery, which
  bills a `LIMIT` query as a full scan), as a Markdown table, dlt's bookkeeping columns left out.
  A value that a spreadsheet would run as a formula (`=HYPERLINK(…)`) is shown with a leading
  `'`, so a preview pasted into a sheet runs nothing a customer typed; the table keeps the value.

Reading these never fails a load: a query that fails is logged as a warning and its entry left
out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from billing_pipelines.lib.event_dates import EVENT_DATE_COLUMN
from billing_pipelines.lib.spreadsheet_safety import spreadsheet_safe

if TYPE_CHECKING:
    from billing_pipelines.lib.windows import Window
from billing_pipelines.lib.warehouse import (
    CANONICAL_SCHEMA,
    READS_PIPELINE,
    BigQueryWarehouseConfig,
    PostgresWarehouseConfig,
    Warehouse,
    WarehouseError,
    bigquery_client,
    postgres_url,
)

PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 60
DLT_COLUMN_PREFIX = "_dlt_"


def table_metadata(table_name: str, column_schema: dg.TableSchema | None = None) -> dict[str, Any]:
    """The UI's storage address and columns of a table (the keys of Dagster's TableMetadataSet)."""
    metadata: dict[str, Any] = {"dagster/table_name": table_name}
    if column_schema is not None:
        metadata["dagster/column_schema"] = column_schema
    return metadata


def existing_relations(warehouse: Warehouse) -> set[tuple[str, str]]:
    """(schema, name) of every table and view the warehouse has, lower case as dbt and dlt name
    them (Snowflake reports upper case)."""
    if not warehouse.exists:
        return set()
    return {(schema.lower(), name.lower()) for schema, name in warehouse.query(warehouse.relations_sql())}


def database_name(warehouse: Warehouse) -> str | None:
    """The warehouse's database: None for PostgreSQL while its URL variable is unset (loading
    the definitions without secrets)."""
    if warehouse.kind == "duckdb":
        return Path(warehouse.path).stem
    config = warehouse.server_config
    if isinstance(config, PostgresWarehouseConfig):
        try:
            return postgres_url(config).database
        except WarehouseError:
            return None
    if isinstance(config, BigQueryWarehouseConfig):
        return config.project
    return config.database.upper()


def table_address(warehouse: Warehouse, schema: str, table: str) -> str:
    """`<database>.<schema>.<table>` as the warehouse names it."""
    if warehouse.kind == "snowflake":
        schema, table = schema.upper(), table.upper()
    database = database_name(warehouse)
    return ".".join(part for part in (database, schema, table) if part)


def quoted_table(warehouse: Warehouse, schema: str, table: str) -> str:
    """The table's name for a query on this warehouse."""
    if warehouse.kind == "bigquery":
        return f"`{database_name(warehouse)}.{schema}.{table}`"
    if warehouse.kind == "snowflake":
        return f'"{database_name(warehouse)}"."{schema.upper()}"."{table.upper()}"'
    return f'"{schema}"."{table}"'


def warehouse_columns(warehouse: Warehouse, schemas: Iterable[str]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """`{(schema, table): [(column, type), …]}` of every table and view in `schemas`, in column
    order, names lower case, as the warehouse's information_schema reports them."""
    wanted = sorted({schema.lower() for schema in schemas})
    names = ", ".join(f"'{schema}'" for schema in wanted)
    select = "SELECT table_schema, table_name, column_name, data_type FROM"
    where = f"WHERE lower(table_schema) IN ({names}) ORDER BY table_schema, table_name, ordinal_position"
    if warehouse.kind == "snowflake":
        source = f'"{database_name(warehouse)}".information_schema.columns'
    elif warehouse.kind == "bigquery":
        region = f"region-{(warehouse.server_config.location or 'US').lower()}"
        source = f"`{database_name(warehouse)}`.`{region}`.INFORMATION_SCHEMA.COLUMNS"
    else:
        source = "information_schema.columns"
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in warehouse.query(f"{select} {source} {where}"):
        found.setdefault((schema.lower(), table.lower()), []).append((column.lower(), str(data_type)))
    return found


def read_rows(warehouse: Warehouse, sql: str) -> tuple[list[str], list[tuple]]:
    """Column names and rows of a small read query."""
    if warehouse.kind == "duckdb":
        with warehouse.connect() as connection:
            cursor = connection.execute(sql)
            return [column[0] for column in cursor.description], cursor.fetchall()
    if warehouse.kind == "bigquery":
        result = bigquery_client(warehouse.server_config).query(sql).result()
        return [field.name for field in result.schema], [tuple(row.values()) for row in result]
    with warehouse.dlt_pipeline(READS_PIPELINE, CANONICAL_SCHEMA).sql_client() as client:
        with client.execute_query(sql) as cursor:
            return [column[0] for column in cursor.description or []], [tuple(row) for row in cursor.fetchall()]


def preview_rows(warehouse: Warehouse, schema: str, table: str) -> tuple[list[str], list[tuple]]:
    """The first PREVIEW_ROWS rows the warehouse hands out, never a scan of the table."""
    if warehouse.kind == "bigquery":
        rows = bigquery_client(warehouse.server_config).list_rows(
            f"{database_name(warehouse)}.{schema}.{table}", max_results=PREVIEW_ROWS
        )
        fetched = [tuple(row.values()) for row in rows]
        return [field.name for field in rows.schema], fetched
    return read_rows(warehouse, f"SELECT * FROM {quoted_table(warehouse, schema, table)} LIMIT {PREVIEW_ROWS}")


def _cell(value: Any) -> str:
    """One preview cell: whitespace collapsed, made safe to paste into a spreadsheet (a value
    that would start a formula gets a leading `'`, see lib/spreadsheet_safety.py), shortened,
    and escaped for Markdown."""
    text = "" if value is None else spreadsheet_safe(" ".join(str(value).split()))
    if len(text) > PREVIEW_CELL_CHARS:
        text = text[: PREVIEW_CELL_CHARS - 1] + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|")


def markdown_table(columns: list[str], rows: Iterable[tuple]) -> str:
    """Rows as a Markdown table, dlt's `_dlt_*` columns left out, long values shortened."""
    keep = [i for i, name in enumerate(columns) if not name.lower().startswith(DLT_COLUMN_PREFIX)]
    lines = [
        "| " + " | ".join(_cell(columns[i]) for i in keep) + " |",
        "|" + "---|" * len(keep),
        *("| " + " | ".join(_cell(row[i]) for i in keep) + " |" for row in rows),
    ]
    return "\n".join(lines)


def table_preview(warehouse: Warehouse, schema: str, table: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(*preview_rows(warehouse, schema, table)))


def row_count(warehouse: Warehouse, schema: str, table: str, window: Window | None = None) -> int:
    """The table's rows, or with `window` those of its event days in the window: a partitioned
    load is described by the days it touched, so the count costs what the load cost, not a scan
    of the history (on PostgreSQL a whole-table count reads every row)."""
    sql = f"SELECT count(*) FROM {quoted_table(warehouse, schema, table)}"
    if window is not None:  # dates rendered from `date` values only, never from text
        first, end = window.start.date().isoformat(), window.end.date().isoformat()
        sql += f" WHERE {EVENT_DATE_COLUMN} >= DATE '{first}' AND {EVENT_DATE_COLUMN} < DATE '{end}'"
    return int(warehouse.query(sql)[0][0])


def counts(warehouse: Warehouse, sql: str) -> dict[str, int]:
    """`{label: count}` of a query returning (label, count) rows."""
    return {str(label): int(count) for label, count in warehouse.query(sql)}


def quarantine_metadata(by_reason: Mapping[str, int]) -> dict[str, Any]:
    """How many rows went to quarantine, and why."""
    return {
        "rows_quarantined": dg.MetadataValue.int(sum(by_reason.values())),
        "rows_quarantined_by_reason": dg.MetadataValue.json(dict(sorted(by_reason.items()))),
    }


def gathered(context: dg.AssetExecutionContext, what: str, read: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
    """`read()`'s metadata, or none and a warning when the warehouse cannot answer: describing a
    load never fails it."""
    try:
        return dict(read())
    except Exception as error:  # a preview or count must never fail the load it describes
        context.log.warning(f"{what}: metadata left out, the warehouse could not answer: {error}")
        return {}


def load_counts(before: int | None, after: int | None, loaded: int, windowed: bool = False) -> dict[str, Any]:
    """What a merge load (delete-insert on the primary key) did to a table (or, `windowed`, to
    the window's days of it) that held `before` rows and holds `after`: the rows it gained are
    new keys; the other loaded rows replaced a stored row with the same key."""
    metadata: dict[str, Any] = {"rows_loaded": dg.MetadataValue.int(loaded)}
    if after is not None:
        metadata["rows_in_window" if windowed else "dagster/row_count"] = dg.MetadataValue.int(after)
        if before is not None:
            inserted = max(after - before, 0)
            metadata["rows_inserted"] = dg.MetadataValue.int(inserted)
            metadata["rows_replaced"] = dg.MetadataValue.int(max(loaded - inserted, 0))
    return metadata


def source_window(start, end) -> dict[str, Any]:
    """The event-time window `[start, end)` a partitioned load read."""
    return {"window_start": dg.MetadataValue.timestamp(start), "window_end": dg.MetadataValue.timestamp(end)}


def incremental_cursors(pipeline_state: Mapping[str, Any], resource: str) -> dict[str, Any]:
    """The live cursor(s) dlt keeps for a resource after an incremental load: where the next
    sync starts (`{cursor column: last value}`); empty for a source read whole."""
    for source in pipeline_state.get("sources", {}).values():
        incremental = source.get("resources", {}).get(resource, {}).get("incremental", {})
        if incremental:
            return {
                "cursor": dg.MetadataValue.json(
                    {path: str(state.get("last_value")) for path, state in incremental.items()}
                )
            }
    return {}
