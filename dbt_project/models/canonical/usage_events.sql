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
-- Only the ids delivered more than once are ranked: the window's ids are read alone first (a
-- record that carries its own id needs no parse for that), and a record whose id came once is
-- its id's first delivery as it is. A backfill, where nearly every event arrives once, costs a
-- read of its ids and one of its records, not a sort of every delivery by id and payload.
-- Usage of a customer not (yet) in billing.customers is kept; billable_usage_daily waits for it.
{{ config(
    materialized='incremental',
    incremental_strategy=append_strategy(),
    on_schema_change='fail',
    tags=['partitioned'],
    pre_hook="{{ delete_partition_window('event_timestamp') }}",
) }}

{% set window = partition_window() %}
{% set window_days = in_window_days('event_date', window) if window else none %}
{% set in_time_window = in_partition_window('event_timestamp', window) if window else none %}
{% set in_window = window_days ~ ' and ' ~ in_time_window if window else none %}
{% set columns = ['event_id', 'customer_id', 'metric', 'quantity', 'event_timestamp', 'properties', 'source_system', 'ingested_at'] %}

with repeated_ids as (
    -- ids delivered more than once for the window's days, valid or not: every id with several
    -- valid deliveries in the window is among them
    select event_id
    from (
        {{ staging_rows('usage_events', ['event_id'], where=window_days) }}
    ) as delivered
    group by event_id
    having count(*) > 1
),

single_deliveries as (
    select {{ columns | join(', ') }}
    from (
        {{ valid_staging_rows('usage_events', columns, where=in_window) }}
    ) as deliveries
    where not exists (select 1 from repeated_ids where repeated_ids.event_id = deliveries.event_id)
),

ranked_repeated_deliveries as (
    -- every delivery of a repeated id for the window's days, the ones that count (valid, in the
    -- window) first, so the first one that counts ranks 1. (Ranked unfiltered, this read differs
    -- from single_deliveries', which DuckDB would otherwise compute once and keep, payloads and
    -- all, for both.)
    select
        *,
        row_number() over (
            partition by event_id
            order by
                case when reject_reason is null and {{ in_time_window or 'true' }} then 0 else 1 end,
                ingested_at nulls last, {{ bytewise('location') }}, {{ source_precedence() }}, {{ bytewise('payload') }}
        ) as delivery_rank
    from (
        {{ staging_rows('usage_events', columns + ['location', 'payload', 'reject_reason'], where=window_days) }}
    ) as deliveries
    where event_id in (select event_id from repeated_ids)
),

first_deliveries as (
    select {{ columns | join(', ') }} from single_deliveries
    union all
    select {{ columns | join(', ') }}
    from ranked_repeated_deliveries
    where delivery_rank = 1 and reject_reason is null and {{ in_time_window or 'true' }}
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
