-- One canonical customer per customer_id (identity = the explicit external_id key).
-- Survivorship: newest updated_at wins; at equal updated_at the source that ranks first in
-- staging_sources() (the app database, then the uploads, then the SaaS sources); then the most
-- recent delivery. The per-system ids (app account, Stripe customer, HubSpot company) come each
-- from the newest record that carries one, so a customer known to several systems carries all
-- their ids whichever source won.
with candidates as (
    {{ valid_staging_rows(
        'customers',
        ['customer_id', 'external_id', 'name', 'email', 'phone', 'line1', 'line2', 'city', 'state',
         'postal_code', 'country', 'tax_ids', 'currency', 'app_db_account_id', 'stripe_customer_id',
         'hubspot_company_id', 'created_at',
         'updated_at', 'deleted_at', 'source_system', 'ingested_at', 'location'],
    ) }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by {{ survivorship_order() }}
        ) as survivorship_rank,
        {{ newest_known('app_db_account_id') }} as newest_app_db_account_id,
        {{ newest_known('stripe_customer_id') }} as newest_stripe_customer_id,
        {{ newest_known('hubspot_company_id') }} as newest_hubspot_company_id,
        min(created_at) over (partition by customer_id) as first_created_at
    from candidates
)

select
    customer_id,
    external_id,
    name,
    email,
    phone,
    line1,
    line2,
    city,
    state,
    postal_code,
    country,
    tax_ids,
    currency,
    newest_app_db_account_id as app_db_account_id,
    newest_stripe_customer_id as stripe_customer_id,
    newest_hubspot_company_id as hubspot_company_id,
    first_created_at as created_at,
    updated_at,
    deleted_at is not null as is_deleted,
    source_system
from ranked
where survivorship_rank = 1
