{#
  Shared by the canonical models, so each rule is written once.

  valid_staging_rows: the records of several staging models that passed validation, as one
  union over the given columns (the canonical model then deduplicates them).

  survivorship_order: which record of an entity wins when sources disagree - the newest
  updated_at, then the app database over the landing zone, then the most recent delivery.
#}
{% macro valid_staging_rows(models, columns) -%}
    {%- for model in models %}
    select {{ columns | join(', ') }}
    from {{ ref(model) }}
    where reject_reason is null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro survivorship_order() -%}
    updated_at desc nulls last, {{ source_precedence() }}, ingested_at desc nulls last, location desc
{%- endmacro %}
