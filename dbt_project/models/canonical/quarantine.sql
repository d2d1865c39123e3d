-- Every record that did not make it into the canonical tables, with the reason and the record as
-- delivered: the staging rejects of the state tables (customers, contracts, items: small, read
-- whole), the usage rejects kept per window in usage_events_quarantine, and the files the
-- landing loader rejected whole. A view, so it always shows the current state of all three and
-- costs nothing to "rebuild"; a corrected mapping clears its entries by itself.
{{ config(materialized='view') }}

{% set state_staging_models = [
    'stg_app_db__customers', 'stg_app_db__contracts', 'stg_app_db__contract_items',
    'stg_landing__customers', 'stg_landing__contracts', 'stg_landing__contract_items',
] %}

with rejected_files as (
    select * from {{ raw_relation('raw_landing', 'rejected_files') }}
)

{% for model in state_staging_models %}
select
    source_system,
    '{{ model.split("__")[1] }}' as dataset,
    location,
    reject_reason as reason,
    payload,
    ingested_at as quarantined_at
from {{ ref(model) }}
where reject_reason is not null

union all
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
