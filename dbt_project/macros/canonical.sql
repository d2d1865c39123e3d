{#
  Shared by the canonical models, so each rule is written once.

  staging_rows: the records of every source's staging model of an entity, valid or not, as one
  union over the given columns; `where` narrows each model's read (a partition window).
  valid_staging_rows: the same, only the records that passed validation (the canonical model
  then deduplicates them).

  survivorship_order: which record of an entity wins when sources disagree - the newest
  updated_at, then the source that ranks first (staging_sources()), then the most recent
  delivery.
#}
{% macro staging_rows(entity, columns, where=none) -%}
    {%- for model in staging_models(entity) %}
    select {{ columns | join(', ') }}
    from {{ ref(model) }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro valid_staging_rows(entity, columns, where=none) -%}
    {{ staging_rows(entity, columns, 'reject_reason is null' ~ (' and ' ~ where if where else '')) }}
{%- endmacro %}

{% macro survivorship_order() -%}
    updated_at desc nulls last, {{ source_precedence() }}, ingested_at desc nulls last, {{ bytewise('location') }} desc
{%- endmacro %}


{# A per-system id of a customer (app account, Stripe customer, HubSpot company): the newest
   record that carries one, so a customer keeps every system's id whichever record won. #}
{% macro newest_known(column) -%}
    first_value({{ column }}) over (
        partition by customer_id
        order by
            case when {{ column }} is null then 1 else 0 end,
            updated_at desc nulls last, ingested_at desc nulls last, {{ bytewise('location') }} desc
        rows between unbounded preceding and unbounded following
    )
{%- endmacro %}

{# A usage event's properties as compared between deliveries: an empty object `{}` and JSON
   `null` are the same as none (a push without properties, a CSV row with `{}`). #}
{% macro no_properties(column) -%}
    coalesce(nullif(nullif({{ column }}, '{}'), 'null'), '')
{%- endmacro %}
