-- Daily usage per customer and metric (UTC days): the input a billing engine rates.
-- Only customers that exist in billing.customers: usage of a customer not known yet stays in
-- daily_usage_totals and appears here once the customer arrives (a view over the per-window
-- totals, so nothing is re-aggregated when that happens).
{{ config(materialized='view') }}

select
    totals.usage_date,
    totals.customer_id,
    totals.metric,
    totals.total_quantity,
    totals.event_count,
    totals.max_quantity
from {{ ref('daily_usage_totals') }} as totals
inner join {{ ref('customers') }} as customers
    on customers.customer_id = totals.customer_id
