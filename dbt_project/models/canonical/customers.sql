-- One canonical customer per customer_id (identity = the explicit external_id key).
-- Survivorship: newest updated_at wins; at equal updated_at the source that ranks first in
-- staging_sources() (the app database before the landing zone); then the most recent delivery. Per-source ids come from each source's own newest row, so
-- a customer known to several systems carries all their ids whichever source won.
with candidates as (
    {{ valid_staging_rows(
        'customers',
        ['customer_id', 'external_id', 'name', 'email', 'phone', 'line1', 'line2', 'city', 'state',
         'postal_code', 'country', 'tax_ids', 'currency', 'app_db_account_id', 'created_at',
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
        -- the newest record that carries an app account id (records without one sort last)
        first_value(app_db_account_id) over (
            partition by customer_id
            order by
                case when app_db_account_id is null then 1 else 0 end,
                updated_at desc nulls last, ingested_at desc nulls last, {{ bytewise('location') }} desc
            rows between unbounded preceding and unbounded following
        ) as newest_app_db_account_id,
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
    cast(null as {{ dbt.type_string() }}) as stripe_customer_id,
    cast(null as {{ dbt.type_string() }}) as hubspot_company_id,
    first_created_at as created_at,
    updated_at,
    deleted_at is not null as is_deleted,
    source_system
from ranked
where survivorship_rank = 1
