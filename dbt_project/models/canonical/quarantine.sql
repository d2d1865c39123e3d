-- Every record that did not make it into the canonical tables, with the reason and the record as
-- delivered: the staging rejects of the state tables (customers, contracts, items: small, read
-- whole), the usage rejects kept per window in usage_events_quarantine, and the files the
-- landing loader rejected whole. A view, so it always shows the current state of all three and
-- costs nothing to "rebuild"; a corrected mapping clears its entries by itself.
{{ config(materialized='view') }}


with rejected_files as (
    select * from {{ raw_relation('raw_landing', 'rejected_files') }}
)

{% for entity in ['customers', 'contracts', 'contract_items'] %}
{% for model in staging_models(entity) %}
select
    source_system,
    '{{ entity }}' as dataset,
    location,
    reject_reason as reason,
    payload,
    ingested_at as quarantined_at
from {{ ref(model) }}
where reject_reason is not null

union all
{% endfor %}
{% endfor %}

select source_system, dataset, location, reason, payload, quarantined_at
from {{ ref('usage_events_quarantine') }}

union all

select
    'landing' as source_system,
    dataset,
    _file as location,
    reason,
    payload,
    _received_at as quarantined_at
from rejected_files
