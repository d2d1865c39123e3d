{#
  Shared by the canonical models, so each rule is written once.

  valid_staging_rows: the records of every source's staging model of an entity that passed
  validation, as one union over the given columns (the canonical model then deduplicates them);
  `where` narrows each model's read (a partition window).

  survivorship_order: which record of an entity wins when sources disagree - the newest
  updated_at, then the source that ranks first (staging_sources()), then the most recent
  delivery.
#}
{% macro valid_staging_rows(entity, columns, where=none) -%}
    {%- for model in staging_models(entity) %}
    select {{ columns | join(', ') }}
    from {{ ref(model) }}
    where reject_reason is null{% if where %} and {{ where }}{% endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro survivorship_order() -%}
    updated_at desc nulls last, {{ source_precedence() }}, ingested_at desc nulls last, {{ bytewise('location') }} desc
{%- endmacro %}
