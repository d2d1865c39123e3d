-- Stripe subscription items in the raw columns stage_contract_items maps. An item carries its
-- price, or on older accounts its plan (the same facts under older names): the pricing model
-- from the billing scheme (tiered or volume tiers, per-package, metered per unit, else a flat
-- fee per licensed unit), the unit amount from minor units (cents) to the currency's unit, the
-- interval as an ISO-8601 period, the term from its subscription, the metric from the product's
-- `metric` metadata (metered products only).
with raw_items as (
    select * from {{ raw_relation('raw_stripe', 'subscription_items') }}
),

subscriptions as (
    select * from {{ raw_relation('raw_stripe', 'subscriptions') }}
),

products as (
    select * from {{ raw_relation('raw_stripe', 'products') }}
),

items as (
    select
        items.id,
        subscriptions.id as subscription_id,
        coalesce(items.price__product, items.plan__product) as product_id,
        coalesce(items.price__unit_amount_decimal, items.plan__amount_decimal) as unit_amount_cents,
        upper(coalesce(items.price__currency, items.plan__currency)) as currency,
        coalesce(items.price__billing_scheme, items.plan__billing_scheme) as billing_scheme,
        coalesce(items.price__tiers_mode, items.plan__tiers_mode) as tiers_mode,
        coalesce(items.price__transform_quantity__divide_by, items.plan__transform_usage__divide_by) as package_size,
        coalesce(items.price__recurring__interval, items.plan__interval) as interval_unit,
        coalesce(items.price__recurring__interval_count, items.plan__interval_count) as interval_count,
        coalesce(items.price__recurring__usage_type, items.plan__usage_type) as usage_type,
        items.quantity,
        subscriptions.start_date,
        coalesce(subscriptions.ended_at, subscriptions.cancel_at) as end_seconds,
        items._payload,
        items._dlt_loaded_at
    from raw_items as items
    inner join subscriptions on subscriptions.id = items.subscription
)

select
    items.id,
    items.subscription_id,
    items.product_id,
    products.name as product_name,
    case
        when items.billing_scheme = 'tiered' and items.tiers_mode = 'volume' then 'volume'
        when items.billing_scheme = 'tiered' then 'tiered'
        when items.package_size is not null then 'package'
        when items.usage_type = 'metered' then 'per_unit'
        else 'flat_fee'
    end as pricing_model,
    cast(items.unit_amount_cents as {{ decimal_type() }}) / 100 as unit_amount,
    items.currency,
    'P' || cast(items.interval_count as {{ dbt.type_string() }})
        || case items.interval_unit when 'day' then 'D' when 'week' then 'W' when 'month' then 'M' else 'Y' end
        as billing_period,
    items.quantity,
    case when items.usage_type = 'metered' then products.metadata__metric end as metric,
    {{ unix_seconds_date('items.start_date') }} as start_date,
    {{ unix_seconds_date('items.end_seconds') }} as end_date,
    items._payload,
    items._dlt_loaded_at
from items
left join products on products.id = items.product_id
