{#
  Shared by the canonical models, so each rule is written once.

  valid_staging_rows: the records of several staging models that passed validation, as one
  union over the given columns (the canonical model then deduplicates them); `where` narrows
  each model's read (a partition window).

  survivorship_order: which record of an entity wins when sources disagree - the newest
  updated_at, then the app database over the landing zone, then the most recent delivery.
#}
{% macro valid_staging_rows(models, columns, where=none) -%}
    {%- for model in models %}
    select {{ columns | join(', ') }}
    from {{ ref(model) }}
    where reject_reason is null{% if where %} and {{ where }}{% endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro survivorship_order() -%}
    updated_at desc nulls last, {{ source_precedence() }}, ingested_at desc nulls last, location desc
{%- endmacro %}

{# The staging models that deliver usage events, one per source. #}
{% macro usage_staging_models() -%}
    {{ return(['stg_app_db__usage_events', 'stg_landing__usage_events']) }}
{%- endmacro %}
