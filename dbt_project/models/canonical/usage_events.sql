-- Valid usage events of every source, once per event_id, daily-partitioned on event_timestamp.
--
-- Window replace: with vars min_date/max_date (a Dagster partition or backfill range) an
-- incremental run deletes exactly [min_date, max_date) (pre_hook) and inserts that window again,
-- in one transaction; without them it replaces everything. Re-running a window is idempotent.
--
-- Dedup: per event_id the first delivery wins (earliest ingested_at, then location), decided
-- over all deliveries, not just the window's - so an event re-sent with another timestamp
-- still exists exactly once, in the window of its first delivery.
-- Usage of a customer not (yet) in billing.customers is kept; billable_usage_daily waits for it.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    tags=['partitioned'],
    pre_hook="{{ delete_partition_window('event_timestamp') }}",
) }}

{% set window = partition_window() %}

with deliveries as (
    {{ valid_staging_rows(
        ['stg_app_db__usage_events', 'stg_landing__usage_events'],
        ['event_id', 'customer_id', 'metric', 'quantity', 'event_timestamp', 'properties',
         'source_system', 'ingested_at', 'location', 'payload'],
    ) }}
),

{% if window %}
candidates as (
    select * from deliveries
    where event_id in (
        select event_id from deliveries
        where {{ in_partition_window('event_timestamp', window) }}
    )
),
{% else %}
candidates as (
    select * from deliveries
),
{% endif %}

first_deliveries as (
    select *
    from candidates
    qualify row_number() over (
        partition by event_id
        order by ingested_at nulls last, location, {{ source_precedence() }}, payload
    ) = 1
)

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
{% if window %}
where {{ in_partition_window('event_timestamp', window) }}
{% endif %}
