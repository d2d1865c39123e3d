-- Uploaded contract rows mapped to canonical contracts (statuses already canonical).
with raw as (
    select * from {{ raw_relation('raw_landing', 'contracts') }}
)

select
    {{ raw_text('contract_id') }} as contract_id,
    {{ raw_text('customer_external_id') }} as customer_id,
    {{ raw_text('name') }} as name,
    {{ raw_text('status') }} as status,
    {{ raw_text('currency') }} as currency,
    {{ parse_as('start_date', 'date') }} as start_date,
    {{ parse_as('end_date', 'date') }} as end_date,
    {{ raw_text('renewal_policy') }} as renewal_policy,
    cast(null as varchar) as app_db_subscription_id,
    {{ parse_as('updated_at', 'timestamptz') }} as updated_at,
    cast(null as timestamptz) as deleted_at,
    'landing' as source_system,
    case
        {{ reject_if_unsplittable() }}
        {{ reject_if_missing('contract_id') }}
        {{ reject_if_missing('customer_external_id', 'customer_id') }}
        {{ reject_if_not_in('status', contract_statuses(), 'status', required=true) }}
        {{ reject_if_not_in('currency', accepted_currencies(), 'currency') }}
        {{ reject_if_unparsable('start_date', 'date', required=true) }}
        {{ reject_if_unparsable('end_date', 'date') }}
        {{ reject_if_unparsable('updated_at', 'timestamptz') }}
    end as reject_reason,
    {{ landing_location() }} as location,
    {{ landing_payload() }} as payload,
    _received_at as ingested_at
from raw
