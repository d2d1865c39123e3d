-- App-database accounts mapped to canonical customers (one row per raw row, rejects included).
with raw as (
    select * from {{ raw_relation('raw_app_db', 'customers') }}
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
    {{ raw_text('account_id') }} as app_db_account_id,
    {{ parse_as('created_at', 'timestamptz') }} as created_at,
    {{ parse_as('updated_at', 'timestamptz') }} as updated_at,
    {{ parse_as('deleted_at', 'timestamptz') }} as deleted_at,
    'app_db' as source_system,
    case
        {{ reject_if_missing('external_id') }}
        {{ reject_if_not_in('currency', accepted_currencies(), 'currency') }}
        {{ reject_if_unparsable('created_at', 'timestamptz') }}
        {{ reject_if_unparsable('updated_at', 'timestamptz') }}
        {{ reject_if_unparsable('deleted_at', 'timestamptz') }}
    end as reject_reason,
    'customers account_id=' || coalesce(cast(account_id as varchar), '') as location,
    _payload as payload,
    _dlt_loaded_at as ingested_at
from raw
