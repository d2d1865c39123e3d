-- Usage records that are not billable, kept per partition window: the staging rejects whose
-- stored event day falls in the window, plus every reject with no readable day (those are
-- refreshed by every window's run, and they are few). billing.quarantine shows them with the
-- rejects of the small state tables and the rejected files.
-- Window replace like usage_events: a corrected mapping clears a window's entries when the
-- window is re-run; without vars everything is rebuilt.
{{ config(
    materialized='incremental',
    incremental_strategy=append_strategy(),
    on_schema_change='fail',
    tags=['partitioned'],
    pre_hook="{{ delete_window_days('event_date') }}",
) }}

{% set window = partition_window() %}

{% for model in staging_models('usage_events') %}
select
    source_system,
    'usage_events' as dataset,
    location,
    reject_reason as reason,
    payload,
    ingested_at as quarantined_at,
    event_date
from {{ ref(model) }}
where reject_reason is not null
{% if window %}
    and {{ in_window_days('event_date', window) }}
{% endif %}
{% if not loop.last %}union all{% endif %}
{% endfor %}
