-- One canonical contract per contract_id. App contracts are namespaced ('app_db-sub-<id>'),
-- Stripe subscriptions keep theirs (sub_...), HubSpot deals are 'hubspot-deal-<id>', landing and
-- sheet contracts keep the sender's id. Survivorship as for customers: newest updated_at,
-- then source precedence (app database over landing zone), then the most recent delivery.
with candidates as (
    {{ valid_staging_rows(
        'contracts',
        ['contract_id', 'customer_id', 'name', 'status', 'currency', 'start_date', 'end_date',
         'renewal_policy', 'app_db_subscription_id', 'stripe_subscription_id', 'hubspot_deal_id',
         'updated_at', 'deleted_at', 'source_system',
         'ingested_at', 'location'],
    ) }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by contract_id
            order by {{ survivorship_order() }}
        ) as survivorship_rank
    from candidates
)

select
    contract_id,
    customer_id,
    name,
    status,
    currency,
    start_date,
    end_date,
    renewal_policy,
    app_db_subscription_id,
    stripe_subscription_id,
    hubspot_deal_id,
    updated_at,
    deleted_at is not null as is_deleted,
    source_system
from ranked
where survivorship_rank = 1
