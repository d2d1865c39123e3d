{#
  Building blocks of the staging definitions (macros/staging.sql): read a raw value as text,
  parse it to a canonical type, and the `when ... then '<reason>'` branches of `reject_reason`.
  A staging definition lists its checks in one `case` expression, so the first failing check
  wins. Reason texts follow docs/raw-contract.md: `<code>: '<value as delivered>'` (an absent
  value shows as ''), `missing <column>` for an absent required value, named by the canonical
  column.
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

{#
  A present value that does not parse as `kind`. required=true: an absent value is rejected too,
  as `missing <label>`. max_places (decimals): a value written with a non-zero digit beyond that
  many decimal places is rejected before it is parsed, since the parse would round it
  (0.0000000001 to 0); a raw column whose type already holds at most that many (`typed_parse`)
  needs no check.
#}
{% macro reject_if_unparsable(column, kind, label, required=false, raw_type=none, max_places=none) -%}
    {%- if required %}
    {{ reject_if_missing(column, label) }}
    {%- endif -%}
    {%- if max_places is not none and not typed_parse(column, kind, raw_type) %}
    when {{ decimal_places_beyond(raw_text(column), max_places) }}
    then '{{ label }} has more than {{ max_places }} decimal places: ' || {{ quoted_raw_value(column) }}
    {%- endif %}
    when {% if not required %}{{ raw_text(column) }} is not null and {% endif -%}
         {{ parse_as(column, kind, raw_type) }} is null
    then 'unparsable {{ label }}: ' || {{ quoted_raw_value(column) }}
{%- endmacro %}

{#
  Whether a decimal text (the parse rules' grammar, docs/raw-contract.md: [+-]digits[.digits]
  [e[+-]digits], digits grouped with `_`) has a non-zero digit beyond `places` decimal places,
  read from the text alone, so exactly and the same on every warehouse: its last non-zero digit
  lies at 10^-(fraction digits up to it - exponent), e.g. 0.0000000001 at 10^-10, 1e-12 at
  10^-12, 100e-11 at 10^-9. Text outside the grammar is left to the parse. An exponent too long
  to read (beyond 29 digits) counts as beyond when it is negative.
#}
{% macro decimal_places_beyond(text, places) -%}
    {%- set plain = "replace(" ~ text ~ ", '_', '')" -%}
    {%- set mantissa = "regexp_replace(regexp_replace(" ~ plain ~ ", '[eE].*', ''), '^[+-]', '')" -%}
    {%- set integer_digits = "regexp_replace(" ~ mantissa ~ ", '[.].*', '')" -%}
    {%- set digits = "replace(" ~ mantissa ~ ", '.', '')" -%}
    {%- set exponent = "regexp_replace(" ~ plain ~ ", '^[^eE]*[eE]?', '')" -%}
    ({{ text }} like '%.__________%' or {{ text }} like '%e%' or {{ text }} like '%E%')
    and {{ regex_full_match(text, decimal_grammar()) }}
    and replace({{ digits }}, '0', '') <> ''
    and coalesce(
        length(regexp_replace({{ digits }}, '0+$', '')) - length({{ integer_digits }})
            - case when {{ exponent }} = '' then 0 else {{ try_parse(exponent, 'decimal') }} end > {{ places }},
        {{ exponent }} like '-%')
{%- endmacro %}

{# The decimal grammar of the parse rules, as a pattern for regex_full_match. #}
{% macro decimal_grammar() %}[+-]?([0-9]+(_[0-9]+)*([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?{% endmacro %}

{# A value with a control character (U+0000-U+001F, U+007F) anywhere, before trimming: the push
   API refuses it with these words (ingest_api/models.py CONTROL_CHARACTERS_MESSAGE). #}
{% macro reject_if_control_characters(column, label) -%}
    when {{ has_control_characters('cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')') }}
    then '{{ label }}: must not contain control characters (tabs, newlines, …)'
{%- endmacro %}

{# A present value that is not a JSON object: not JSON at all (`unparsable <label>`), or JSON of
   another kind, an array, a string, a number (`<label> is not a JSON object`). The JSON literal
   null counts as absent, as in the push API. #}
{% macro reject_if_not_json_object(column, label) -%}
    {%- set kind = json_kind(raw_text(column)) %}
    when {{ raw_text(column) }} is not null and coalesce({{ kind }}, 'unparsable') not in ('object', 'null')
    then case when {{ kind }} is null then 'unparsable {{ label }}: ' else '{{ label }} is not a JSON object: ' end
        || {{ quoted_raw_value(column) }}
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
