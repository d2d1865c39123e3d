-- Every record that did not make it into the canonical tables, with the reason and the record as
-- delivered: staging rejects of all sources (including landing lines the CSV reader could not
-- split) plus the files the landing loader rejected whole.
-- Rebuilt in full each run, so a corrected mapping (or a fixed re-upload) leaves it by itself.
{% set staging_models = [
    'stg_app_db__customers', 'stg_app_db__contracts',
    'stg_app_db__contract_items', 'stg_app_db__usage_events',
    'stg_landing__customers', 'stg_landing__contracts',
    'stg_landing__contract_items', 'stg_landing__usage_events',
] %}

with rejected_files as (
    select * from {{ raw_relation('raw_landing', 'rejected_files') }}
)

{% for model in staging_models %}
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

select
    'landing' as source_system,
    dataset,
    _file as location,
    reason,
    payload,
    _received_at as quarantined_at
from rejected_files
