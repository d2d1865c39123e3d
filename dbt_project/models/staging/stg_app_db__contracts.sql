-- App-database subscriptions mapped to canonical contracts (app statuses translated).
{% set status_map = app_db_contract_status_map() %}

with raw as (
    select * from {{ raw_relation('raw_app_db', 'contracts') }}
)

select
    'app_db-sub-' || {{ raw_text('subscription_id') }} as contract_id,
    {{ raw_text('customer_external_id') }} as customer_id,
    {{ raw_text('name') }} as name,
    case {{ raw_text('status') }}
        {%- for app_status, status in status_map.items() %}
        when '{{ app_status }}' then '{{ status }}'
        {%- endfor %}
    end as status,
    {{ raw_text('currency') }} as currency,
    {{ parse_as('start_date', 'date') }} as start_date,
    {{ parse_as('end_date', 'date') }} as end_date,
    {{ raw_text('renewal_policy') }} as renewal_policy,
    {{ raw_text('subscription_id') }} as app_db_subscription_id,
    {{ parse_as('updated_at', 'timestamptz') }} as updated_at,
    {{ parse_as('deleted_at', 'timestamptz') }} as deleted_at,
    'app_db' as source_system,
    case
        {{ reject_if_missing('subscription_id', 'contract_id') }}
        {{ reject_if_missing('customer_external_id', 'customer_id') }}
        {{ reject_if_not_in('status', status_map.keys() | list, 'status', required=true) }}
        {{ reject_if_not_in('currency', accepted_currencies(), 'currency') }}
        {{ reject_if_unparsable('start_date', 'date', required=true) }}
        {{ reject_if_unparsable('end_date', 'date') }}
        {{ reject_if_unparsable('updated_at', 'timestamptz') }}
        {{ reject_if_unparsable('deleted_at', 'timestamptz') }}
    end as reject_reason,
    'contracts subscription_id=' || coalesce(cast(subscription_id as varchar), '') as location,
    _payload as payload,
    _dlt_loaded_at as ingested_at
from raw
