-- App-database usage events mapped to canonical usage events. Unfiltered view: the partition
-- window is applied by billing.usage_events and usage_events_quarantine, through event_date.
{{ config(tags=['partitioned']) }}

with raw as (
    select * from {{ raw_relation('raw_app_db', 'usage_events') }}
),

typed as (
    select
        event_id as source_event_id,
        {{ raw_text('customer_external_id') }} as customer_id,
        {{ raw_text('metric') }} as metric,
        {{ parse_as('quantity', decimal_type()) }} as quantity,
        {{ parse_as('event_timestamp', 'timestamptz') }} as event_timestamp,
        {{ raw_text('properties') }} as properties,
        _event_date as event_date,
        case
            {{ reject_if_missing('customer_external_id', 'customer_id') }}
            {{ reject_if_missing('metric') }}
            {{ reject_if_unparsable('event_timestamp', 'timestamptz', required=true) }}
            {{ reject_if_unparsable('quantity', decimal_type(), required=true) }}
        end as reject_reason,
        'usage_events event_id=' || coalesce(cast(event_id as varchar), '') as location,
        _payload as payload,
        _dlt_loaded_at as ingested_at
    from raw
)

select
    {{ usage_event_id('source_event_id') }} as event_id,
    customer_id,
    metric,
    quantity,
    event_timestamp,
    event_date,
    properties,
    'app_db' as source_system,
    reject_reason,
    location,
    payload,
    ingested_at
from typed
