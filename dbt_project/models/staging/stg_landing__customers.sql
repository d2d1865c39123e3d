-- Uploaded customer rows mapped to canonical customers (one row per file line, rejects included).
with raw as (
    select * from {{ raw_relation('raw_landing', 'customers') }}
)

select
    {{ raw_text('external_id') }} as customer_id,
    {{ raw_text('external_id') }} as external_id,
    {{ raw_text('name') }} as name,
    {{ raw_text('email') }} as email,
    {{ raw_text('phone') }} as phone,
    {{ raw_text('line1') }} as line1,
    {{ raw_text('line2') }} as line2,
    {{ raw_text('city') }} as city,
    {{ raw_text('state') }} as state,
    {{ raw_text('postal_code') }} as postal_code,
    {{ raw_text('country') }} as country,
    {{ tax_ids_json('tax_id') }} as tax_ids,
    {{ raw_text('currency') }} as currency,
    cast(null as varchar) as app_db_account_id,
    cast(null as timestamptz) as created_at,
    {{ parse_as('updated_at', 'timestamptz') }} as updated_at,
    cast(null as timestamptz) as deleted_at,
    'landing' as source_system,
    case
        {{ reject_if_unsplittable() }}
        {{ reject_if_missing('external_id') }}
        {{ reject_if_not_in('currency', accepted_currencies(), 'currency') }}
        {{ reject_if_unparsable('updated_at', 'timestamptz') }}
    end as reject_reason,
    {{ landing_location() }} as location,
    {{ landing_payload() }} as payload,
    _received_at as ingested_at
from raw
