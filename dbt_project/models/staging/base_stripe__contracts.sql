-- Stripe subscriptions in the raw columns stage_contracts maps: the customer by the company's
-- own id (as base_stripe__customers resolves it), the term from Unix seconds as UTC days (ended,
-- or set to cancel, it ends; otherwise it is open-ended and renews).
with subscriptions as (
    select * from {{ raw_relation('raw_stripe', 'subscriptions') }}
),

customers as (
    select * from {{ raw_relation('raw_stripe', 'customers') }}
)

select
    subscriptions.id,
    coalesce(customers.billing_external_id, 'stripe-' || subscriptions.customer) as customer_id,
    subscriptions.status,
    upper(subscriptions.currency) as currency,
    {{ unix_seconds_date('subscriptions.start_date') }} as start_date,
    {{ unix_seconds_date('coalesce(subscriptions.ended_at, subscriptions.cancel_at)') }} as end_date,
    case
        when subscriptions.ended_at is null and subscriptions.cancel_at is null then 'auto_renew' else 'none'
    end as renewal_policy,
    subscriptions._payload,
    subscriptions._dlt_loaded_at
from subscriptions
left join customers on customers.id = subscriptions.customer
