{#
  Building blocks of the staging definitions (macros/staging.sql): read a raw value as text,
  parse it to a canonical type, and the `when ... then '<reason>'` branches of `reject_reason`.
  A staging definition lists its checks in one `case` expression, so the first failing check
  wins. Reason texts follow docs/raw-contract.md: `<code>: '<value as delivered>'` (an absent
  value shows as ''), named by the canonical column.
#}

{# The raw value as text: cast first so SQLite TEXT, Postgres typed values and CSV text all
   behave the same; blank means absent. #}
{% macro raw_text(column) -%}
    nullif(trim(cast({{ column }} as {{ dbt.type_string() }})), '')
{%- endmacro %}

{# A raw value parsed as `kind` (decimal, date or timestamp); NULL when absent or unparsable.
   `raw_type` is the raw column's type in the warehouse when known (staging_mapping): a column
   that already holds the parsed type is read as it is where that gives the same value as the
   text round trip (`typed_parse`, macros/cross_database.sql), which costs a format and a parse
   per record. #}
{% macro parse_as(column, kind, raw_type=none) -%}
    {%- set typed = typed_parse(column, kind, raw_type) -%}
    {%- if typed -%}
        {{ typed }}
    {%- else -%}
        {{ try_parse(raw_text(column), kind) }}
    {%- endif -%}
{%- endmacro %}

{% macro quoted_raw_value(column) -%}
    {{ single_quote() }} || coalesce(cast({{ column }} as {{ dbt.type_string() }}), '') || {{ single_quote() }}
{%- endmacro %}

{% macro reject_if_missing(column, label) -%}
    when {{ raw_text(column) }} is null then 'missing {{ label }}'
{%- endmacro %}

{# required=true: an absent value is rejected too (reported as unparsable ''). #}
{% macro reject_if_unparsable(column, kind, label, required=false, raw_type=none) -%}
    when {% if not required %}{{ raw_text(column) }} is not null and {% endif -%}
         {{ parse_as(column, kind, raw_type) }} is null
    then 'unparsable {{ label }}: ' || {{ quoted_raw_value(column) }}
{%- endmacro %}

{# Exact match after trimming (no case folding: 'usd' is not a currency code). #}
{% macro reject_if_not_in(column, accepted, label, required=false) -%}
    when {% if not required %}{{ raw_text(column) }} is not null and {% endif -%}
         coalesce({{ raw_text(column) }} not in ({% for value in accepted %}'{{ value }}'{{ ', ' if not loop.last }}{% endfor %}), true)
    then 'invalid {{ label }}: ' || {{ quoted_raw_value(column) }}
{%- endmacro %}

{#
  Canonical usage event id: the source's id (trimmed text), else a deterministic hash of the
  canonical values of the event, so the same event delivered twice without an id still counts
  once. md5(customer_id|metric|quantity|event_timestamp|properties), quantity as decimal(38,9)
  text ('2.000000000'), timestamp as UTC 'YYYY-MM-DDTHH:MM:SS.ffffffZ': the same bytes, hence
  the same id, on every warehouse. Takes the expressions of the canonical values; a `case`
  rather than coalesce() so that a record with its own id never computes the hash (nor the
  parses it reads): reading the ids alone stays cheap.
#}
{% macro usage_event_id(source_event_id, customer_id, metric, quantity, event_timestamp, properties) -%}
    case
        when {{ source_event_id }} is not null then {{ source_event_id }}
        else {{ dbt.hash(dbt.concat([
            "coalesce(" ~ customer_id ~ ", '')", "'|'",
            "coalesce(" ~ metric ~ ", '')", "'|'",
            "coalesce(" ~ decimal_text(quantity) ~ ", '')", "'|'",
            "coalesce(" ~ utc_timestamp_text(event_timestamp) ~ ", '')", "'|'",
            "coalesce(" ~ properties ~ ", '')",
        ])) }}
    end
{%- endmacro %}

{# The canonical tax_ids list (JSON array text) from a single raw tax id; [] when absent. #}
{% macro tax_ids_json(column) -%}
    case
        when {{ raw_text(column) }} is null then '[]'
        else {{ json_text_array(raw_text(column)) }}
    end
{%- endmacro %}
