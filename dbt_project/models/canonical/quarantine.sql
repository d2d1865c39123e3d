-- Every record that did not make it into the canonical tables, with the reason and the record as
-- delivered: the staging rejects of the state tables (customers, contracts, items: small, read
-- whole), the usage rejects kept per window in usage_events_quarantine, the records the push API
-- refused itself (raw_landing.rejected_records) and the files the landing loader rejected whole.
-- A view, so it always shows the current state of all four and costs nothing to "rebuild"; a
-- corrected mapping clears its entries by itself.
{{ config(materialized='view') }}


with rejected_files as (
    select * from {{ raw_relation('raw_landing', 'rejected_files') }}
),

rejected_records as (
    select * from {{ raw_relation('raw_landing', 'rejected_records') }}
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

-- A line of a rejected-records file the CSV reader could not split is kept like any landing
-- line (file:line, the reader's reason, the raw text); a record the API sent without a dataset,
-- location or reason still shows, named by the inbox, its file and line.
select
    'landing' as source_system,
    coalesce(dataset, 'rejected_records') as dataset,
    coalesce(location, _file || ':' || cast(_line as {{ dbt.type_string() }})) as location,
    coalesce(_parse_error, reason, 'missing reason: the push API gave none') as reason,
    coalesce(_raw_line, payload) as payload,
    _received_at as quarantined_at
from rejected_records

union all

select
    'landing' as source_system,
    dataset,
    _file as location,
    reason,
    payload,
    _received_at as quarantined_at
from rejected_files
