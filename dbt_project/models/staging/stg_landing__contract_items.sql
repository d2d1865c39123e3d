-- Uploaded contract-item rows mapped to canonical contract items.
with raw as (
    select * from {{ raw_relation('raw_landing', 'contract_items') }}
)

select
    {{ raw_text('contract_id') }} as contract_id,
    {{ raw_text('product_id') }} as product_id,
    {{ raw_text('product_name') }} as product_name,
    {{ raw_text('pricing_model') }} as pricing_model,
    {{ parse_as('unit_amount', decimal_type()) }} as unit_amount,
    {{ raw_text('currency') }} as currency,
    {{ raw_text('billing_period') }} as billing_period,
    {{ parse_as('quantity', decimal_type()) }} as quantity,
    {{ raw_text('metric') }} as metric,
    {{ parse_as('start_date', 'date') }} as start_date,
    {{ parse_as('end_date', 'date') }} as end_date,
    cast(null as timestamptz) as updated_at,
    'landing' as source_system,
    case
        {{ reject_if_unsplittable() }}
        {{ reject_if_missing('contract_id') }}
        {{ reject_if_not_in('pricing_model', pricing_models(), 'pricing_model', required=true) }}
        {{ reject_if_unparsable('unit_amount', decimal_type()) }}
        {{ reject_if_not_in('currency', accepted_currencies(), 'currency') }}
        {{ reject_if_unparsable('quantity', decimal_type()) }}
        {{ reject_if_unparsable('start_date', 'date') }}
        {{ reject_if_unparsable('end_date', 'date') }}
    end as reject_reason,
    {{ landing_location() }} as location,
    {{ landing_payload() }} as payload,
    _received_at as ingested_at
from raw
