-- Stripe customers in the raw columns stage_customers maps: the company's own id (from the
-- metadata key billing.yaml names) or, for a customer without one, its Stripe id (it stays a
-- customer of its own), the currency in upper case, Unix seconds as times, and a deleted
-- customer's deletion (the sync that saw it) as deleted_at.
select
    id,
    coalesce(billing_external_id, 'stripe-' || id) as external_id,
    name,
    email,
    phone,
    address__line1 as line1,
    address__line2 as line2,
    address__city as city,
    address__state as state,
    address__postal_code as postal_code,
    address__country as country,
    upper(currency) as currency,
    {{ unix_seconds_timestamp('created') }} as created_at,
    case when deleted then _dlt_loaded_at end as deleted_at,
    _payload,
    _dlt_loaded_at
from {{ raw_relation('raw_stripe', 'customers') }}
