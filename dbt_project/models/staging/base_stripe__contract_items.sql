-- Stripe subscription items in the raw columns stage_contract_items maps. An item carries its
-- price, or on older accounts its plan (the same facts under older names): the pricing model
-- from the billing scheme (tiered or volume tiers, per-package, metered per unit, else a flat
-- fee per licensed unit), the unit amount from minor units (cents; whole units of a zero-decimal
-- currency like JPY, thousandths of a three-decimal one like KWD) to the currency's unit, the
-- interval as an ISO-8601 period, the term from its subscription, the metric from the product's
-- `metric` metadata (metered products only).
--
-- A tiered or volume price has no unit amount of its own but a tier table (the price's `tiers`,
-- which Stripe sends only when asked to expand them: the sync reads prices with their tiers, and
-- dlt loads them as the nested table prices__tiers; a legacy plan is the price it mirrors, under
-- the same id): `tiers` carries it whole, a
-- JSON array in Stripe's order (lowest tier first), each tier {"up_to": <its last unit; null for
-- the open-ended last tier>, "unit_amount": "<decimal text>", "flat_amount": "<decimal text>"
-- or null}, amounts in the currency's unit; `unit_amount` is the first tier's unit amount (the
-- single rate the app database and the CSV template carry), so a reader of unit_amount alone
-- still has a price.
with raw_items as (
    select * from {{ raw_relation('raw_stripe', 'subscription_items') }}
),

subscriptions as (
    select * from {{ raw_relation('raw_stripe', 'subscriptions') }}
),

products as (
    select * from {{ raw_relation('raw_stripe', 'products') }}
),

prices as (
    select * from {{ raw_relation('raw_stripe', 'prices') }}
),

price_tiers as (
    select * from {{ raw_relation('raw_stripe', 'prices', nested='tiers') }}
),

tiers as (
    select
        prices.id as price_id,
        price_tiers._dlt_list_idx,
        price_tiers.up_to,
        {{ amount_from_minor_units('coalesce(price_tiers.unit_amount_decimal, cast(price_tiers.unit_amount as ' ~ dbt.type_string() ~ '))', 'prices.currency') }} as unit_amount,
        {{ amount_from_minor_units('coalesce(price_tiers.flat_amount_decimal, cast(price_tiers.flat_amount as ' ~ dbt.type_string() ~ '))', 'prices.currency') }} as flat_amount
    from price_tiers
    inner join prices on prices._dlt_id = price_tiers._dlt_parent_id
),

tier_tables as (
    select
        price_id,
        max(case when _dlt_list_idx = 0 then unit_amount end) as first_unit_amount,
        {{ json_array_agg('tier_json', '_dlt_list_idx') }} as tiers
    from (
        select
            price_id,
            _dlt_list_idx,
            unit_amount,
            '{"up_to": ' || coalesce(cast(up_to as {{ dbt.type_string() }}), 'null')
                || ', "unit_amount": ' || {{ json_decimal('unit_amount') }}
                || ', "flat_amount": ' || {{ json_decimal('flat_amount') }} || '}' as tier_json
        from tiers
    ) as tier_texts
    group by price_id
),

items as (
    select
        items.id,
        subscriptions.id as subscription_id,
        coalesce(items.price__id, items.plan__id) as price_id,
        coalesce(items.price__product, items.plan__product) as product_id,
        coalesce(items.price__unit_amount_decimal, items.plan__amount_decimal) as unit_amount_minor,
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
    case
        when items.billing_scheme = 'tiered' then tier_tables.first_unit_amount
        else {{ amount_from_minor_units('items.unit_amount_minor', 'items.currency') }}
    end as unit_amount,
    case when items.billing_scheme = 'tiered' then tier_tables.tiers end as tiers,
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
left join tier_tables on tier_tables.price_id = items.price_id
