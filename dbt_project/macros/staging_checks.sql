{#
  Building blocks of the staging models: read a raw value as text, parse it to a canonical type,
  and the `when ... then '<reason>'` branches of `reject_reason`. A staging model lists its
  checks in one `case` expression, so the first failing check wins. Reason texts follow
  docs/raw-contract.md: `<code>: '<value as delivered>'` (an absent value shows as '').
#}

{# The raw value as text: cast first so SQLite TEXT, Postgres typed values and CSV VARCHAR all
   behave the same; blank means absent. #}
{% macro raw_text(column) -%}
    nullif(trim(cast({{ column }} as varchar)), '')
{%- endmacro %}

{% macro parse_as(column, data_type) -%}
    try_cast({{ raw_text(column) }} as {{ data_type }})
{%- endmacro %}

{# Money and quantities: exact decimals, never floats. #}
{% macro decimal_type() -%}
    decimal(38, 9)
{%- endmacro %}

{% macro quoted_raw_value(column) -%}
    '''' || coalesce(cast({{ column }} as varchar), '') || ''''
{%- endmacro %}

{% macro reject_if_missing(column, label=none) -%}
    when {{ raw_text(column) }} is null then 'missing {{ label or column }}'
{%- endmacro %}

{# required=true: an absent value is rejected too (reported as unparsable ''). #}
{% macro reject_if_unparsable(column, data_type, required=false) -%}
    when {% if not required %}{{ raw_text(column) }} is not null and {% endif -%}
         {{ parse_as(column, data_type) }} is null
    then 'unparsable {{ column }}: ' || {{ quoted_raw_value(column) }}
{%- endmacro %}

{# Exact match after trimming (no case folding: 'usd' is not a currency code). #}
{% macro reject_if_not_in(column, accepted, label, required=false) -%}
    when {% if not required %}{{ raw_text(column) }} is not null and {% endif -%}
         coalesce({{ raw_text(column) }} not in ({% for value in accepted %}'{{ value }}'{{ ', ' if not loop.last }}{% endfor %}), true)
    then 'invalid {{ label }}: ' || {{ quoted_raw_value(column) }}
{%- endmacro %}

{#
  Canonical usage event id: the source's id, else a deterministic hash of the canonical values
  of the event, so the same event delivered twice without an id still counts once.
  md5(customer_id|metric|quantity|event_timestamp|properties), quantity as decimal(38,9) text,
  timestamp as UTC 'YYYY-MM-DDTHH:MM:SS.ffffffZ'. Expects the typed columns of the event.
#}
{% macro usage_event_id(source_event_id) -%}
    coalesce(
        {{ raw_text(source_event_id) }},
        md5(concat_ws('|',
            coalesce(customer_id, ''),
            coalesce(metric, ''),
            coalesce(cast(quantity as varchar), ''),
            coalesce(strftime(timezone('UTC', event_timestamp), '%Y-%m-%dT%H:%M:%S.%fZ'), ''),
            coalesce(properties, '')
        ))
    )
{%- endmacro %}

{# Source precedence when two systems disagree at the same updated_at: the app database is the
   system of record, the landing zone (uploads, pushes) comes after it. #}
{% macro source_precedence(column='source_system') -%}
    case {{ column }} when 'app_db' then 1 when 'landing' then 2 else 99 end
{%- endmacro %}

{# A landing line the CSV reader could not split: the loader's reason comes first. #}
{% macro reject_if_unsplittable() -%}
    when _parse_error is not null then _parse_error
{%- endmacro %}

{# What a landing record looked like when delivered: its fields as JSON, or the raw line when the
   reader could not split it into fields. #}
{% macro landing_payload() -%}
    coalesce(_raw_line, _payload)
{%- endmacro %}

{# Where a landing record came from: '<file name>:<line>'. #}
{% macro landing_location() -%}
    _file || ':' || cast(_line as varchar)
{%- endmacro %}

{# The canonical tax_ids list (JSON array text) from a single raw tax id; [] when absent. #}
{% macro tax_ids_json(column) -%}
    case
        when {{ raw_text(column) }} is null then '[]'
        else to_json([{{ raw_text(column) }}])::varchar
    end
{%- endmacro %}
