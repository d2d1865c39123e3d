-- Usage per customer x metric x UTC day (sum, count, max) of every customer, known or not,
-- kept per partition window: a run aggregates only the days it rebuilt in usage_events.
-- billable_usage_daily shows the rows of known customers, so usage that arrived before its
-- customer is billed as soon as the customer exists, without re-aggregating anything.
{{ config(
    materialized='incremental',
    incremental_strategy=append_strategy(),
    on_schema_change='fail',
    tags=['partitioned'],
    pre_hook="{{ delete_window_days('usage_date') }}",
) }}

{% set window = partition_window() %}

select
    {{ utc_date('event_timestamp') }} as usage_date,
    customer_id,
    metric,
    cast(sum(quantity) as {{ decimal_type() }}) as total_quantity,
    count(*) as event_count,
    max(quantity) as max_quantity
from {{ ref('usage_events') }}
{% if window %}
where {{ in_partition_window('event_timestamp', window) }}
{% endif %}
group by 1, 2, 3
