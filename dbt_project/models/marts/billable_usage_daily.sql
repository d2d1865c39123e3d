-- Daily usage per customer and metric (UTC days): the input a billing engine rates.
-- Only customers that exist in billing.customers: usage of a customer not known yet stays in
-- usage_events and appears here once the customer arrives (this table is rebuilt each run).
select
    cast(timezone('UTC', usage.event_timestamp) as date) as usage_date,
    usage.customer_id,
    usage.metric,
    sum(usage.quantity) as total_quantity,
    count(*) as event_count,
    max(usage.quantity) as max_quantity
from {{ ref('usage_events') }} as usage
inner join {{ ref('customers') }} as customers
    on customers.customer_id = usage.customer_id
group by all
