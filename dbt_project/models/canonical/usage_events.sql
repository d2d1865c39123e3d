-- Valid usage events of every source, once per event_id, daily-partitioned on event_timestamp.
--
-- Window replace: with vars min_date/max_date (a Dagster partition or backfill range) an
-- incremental run deletes exactly [min_date, max_date) (pre_hook) and inserts that window again,
-- in one transaction; without them it replaces everything. Re-running a window is idempotent.
--
-- Cost follows the window: staging is read only for the window's days (the stored event_date
-- lets DuckDB skip the rest of the history), and "first delivery wins" is decided without
-- rescanning old deliveries: within the window the earliest delivery of an event_id wins, and an
-- event_id this table already holds outside the window (counted by another window's run) is
-- not counted again. So an event re-sent with another timestamp exists exactly once, in the
-- window that counted it first.
-- Usage of a customer not (yet) in billing.customers is kept; billable_usage_daily waits for it.
{{ config(
    materialized='incremental',
    incremental_strategy=append_strategy(),
    on_schema_change='fail',
    tags=['partitioned'],
    pre_hook="{{ delete_partition_window('event_timestamp') }}",
) }}

{% set window = partition_window() %}

with deliveries as (
    {{ valid_staging_rows(
        'usage_events',
        ['event_id', 'customer_id', 'metric', 'quantity', 'event_timestamp', 'properties',
         'source_system', 'ingested_at', 'location', 'payload'],
        where=in_window_days('event_date', window) if window else none,
    ) }}
),

ranked_deliveries as (
    select
        *,
        row_number() over (
            partition by event_id
            order by ingested_at nulls last, {{ bytewise('location') }}, {{ source_precedence() }}, {{ bytewise('payload') }}
        ) as delivery_rank
    from deliveries
    {% if window %}
    where {{ in_partition_window('event_timestamp', window) }}
    {% endif %}
),

first_deliveries as (
    select event_id, customer_id, metric, quantity, event_timestamp, properties, source_system, ingested_at
    from ranked_deliveries
    where delivery_rank = 1
)

{% if is_incremental() %}
-- After the pre_hook, every row left in this table lies outside the window. The probe is
-- driven by the window's ids (a semi-join), so its memory follows the window, not the table.
, counted_elsewhere as (
    select event_id
    from {{ this }}
    where event_id in (select event_id from first_deliveries)
)
{% endif %}

select
    event_id,
    customer_id,
    metric,
    quantity,
    event_timestamp,
    properties,
    source_system,
    ingested_at
from first_deliveries
{% if is_incremental() %}
where event_id not in (select event_id from counted_elsewhere)
{% endif %}
