-- Usage records that are not billable, kept per partition window: the staging rejects whose
-- stored event day falls in the window, plus every reject with no readable day (those are
-- refreshed by every window's run, and they are few); and the conflicting duplicates: valid
-- deliveries of an event_id that billing.usage_events counts with other values (another
-- customer, metric, quantity, time or properties). An exact re-delivery is only a retry and is
-- deduplicated without a word; a conflicting one is kept here, so it is never lost unseen.
-- billing.quarantine shows them with the rejects of the small state tables and the rejected files.
-- Window replace like usage_events: a corrected mapping clears a window's entries when the
-- window is re-run; without vars everything is rebuilt. The conflict check joins the window's
-- deliveries to billing.usage_events by event_id, as usage_events' own counted-elsewhere probe does.
-- Properties are compared as text, an empty object `{}` and JSON `null` being the same as none
-- (a push without properties and a CSV row with `{}` are one event).
{{ config(
    materialized='incremental',
    incremental_strategy=append_strategy(),
    on_schema_change='fail',
    tags=['partitioned'],
    pre_hook="{{ delete_window_days('event_date') }}",
) }}

{% set window = partition_window() %}
{% set counted = ref('usage_events') %}

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

union all

select
    delivered.source_system,
    'usage_events' as dataset,
    delivered.location,
    'conflicting duplicate: event_id ' || delivered.event_id
        || ' is already counted with other values (from ' || counted.source_system || ')' as reason,
    delivered.payload,
    delivered.ingested_at as quarantined_at,
    delivered.event_date
from {{ ref(model) }} as delivered
inner join {{ counted }} as counted on counted.event_id = delivered.event_id
where delivered.reject_reason is null
{% if window %}
    and {{ in_window_days('delivered.event_date', window) }}
{% endif %}
    and (
        counted.customer_id is distinct from delivered.customer_id
        or counted.metric is distinct from delivered.metric
        or counted.quantity is distinct from delivered.quantity
        or counted.event_timestamp is distinct from delivered.event_timestamp
        or {{ no_properties('counted.properties') }} is distinct from {{ no_properties('delivered.properties') }}
    )
{% if not loop.last %}union all{% endif %}
{% endfor %}
