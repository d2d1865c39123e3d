{#
  What differs between the warehouses this project runs on (DuckDB, PostgreSQL, Snowflake,
  BigQuery), each behind one macro dispatched on the adapter, so that no model is written per
  warehouse. Everything else uses dbt's own cross-database macros (dbt.type_string(),
  dbt.hash(), dbt.concat(), ...) or SQL all four accept.

  The canonical tables are the same on every warehouse, event ids included: the texts that feed
  the event-id hash (a decimal, a UTC timestamp) are spelled out here with the same bytes on
  each, and a raw value parses (or is rejected) by the same rules.
#}


{# A string literal holding one single quote (BigQuery reads '''' as the start of a triple-quoted string). #}
{% macro single_quote() %}{{ return(adapter.dispatch('single_quote')()) }}{% endmacro %}
{% macro default__single_quote() %}''''{% endmacro %}
{% macro bigquery__single_quote() %}"'"{% endmacro %}


{# Timestamp with time zone, stored as an instant. #}
{% macro type_timestamptz() %}{{ return(adapter.dispatch('type_timestamptz')()) }}{% endmacro %}
{% macro default__type_timestamptz() %}timestamptz{% endmacro %}
{% macro snowflake__type_timestamptz() %}timestamp_tz{% endmacro %}
{% macro bigquery__type_timestamptz() %}timestamp{% endmacro %}


{# Money and quantities: exact decimals with 9 fractional digits, never floats. (BigQuery's
   NUMERIC is this type; the parameters are spelled out so that a cast rounds to 9 places on
   anything that reads the SQL, bqemulator included.) #}
{% macro decimal_type() %}{{ return(adapter.dispatch('decimal_type')()) }}{% endmacro %}
{% macro default__decimal_type() %}decimal(38, 9){% endmacro %}
{% macro postgres__decimal_type() %}numeric(38, 9){% endmacro %}
{% macro snowflake__decimal_type() %}number(38, 9){% endmacro %}
{% macro bigquery__decimal_type() %}numeric(38, 9){% endmacro %}


{# The warehouse type of a raw-contract `data_type` (models/sources.yml); none = text. #}
{% macro contract_type(data_type) %}
    {%- set types = {
        'varchar': dbt.type_string(),
        'bigint': dbt.type_bigint(),
        'boolean': dbt.type_boolean(),
        'date': 'date',
        'timestamptz': type_timestamptz(),
    } -%}
    {{ return(types[data_type or 'varchar']) }}
{% endmacro %}


{#
  A text value parsed as `kind` (decimal, date, timestamp), NULL when it does not parse: staging
  rejects a present value that parses to NULL. DuckDB's try_cast is the reference; a timestamp
  without an offset is UTC (every session runs in UTC).
#}
{% macro try_parse(text, kind) %}{{ return(adapter.dispatch('try_parse')(text, kind)) }}{% endmacro %}

{% macro parsed_type(kind) %}
    {{ return({'decimal': decimal_type(), 'date': 'date', 'timestamp': type_timestamptz()}[kind]) }}
{% endmacro %}

{% macro duckdb__try_parse(text, kind) -%}
    try_cast({{ text }} as {{ parsed_type(kind) }})
{%- endmacro %}

{# PostgreSQL has no try_cast: the functions `create_parse_functions` installs. #}
{% macro postgres__try_parse(text, kind) -%}
    {%- if kind == 'decimal' -%}
        cast({{ parse_functions_schema() }}.try_parse_decimal({{ text }}) as {{ decimal_type() }})
    {%- else -%}
        {{ parse_functions_schema() }}.try_parse_{{ kind }}({{ text }})
    {%- endif -%}
{%- endmacro %}

{% macro default__try_parse(text, kind) -%}
    {{ dbt.safe_cast(text, parsed_type(kind)) }}
{%- endmacro %}


{#
  A raw `column` of warehouse type `raw_type` that already holds what parsing it as `kind` would
  give, read without the text round trip; none when it must go through text. Only where the
  round trip is exact for every value of the type, so staging accepts, rejects and types each
  record exactly as through text, only without formatting and parsing it:
  - DuckDB: timestamptz as a timestamp, date as a date (their text parses back to the same value,
    infinities and BC dates included), and integers and decimals of at most 9 fractional and 29
    integer digits as a decimal (widened exactly; floats round through text and are not here).
  - Elsewhere none: Snowflake's text of a TIMESTAMP_TZ keeps milliseconds only, and PostgreSQL's
    depends on the session's DateStyle.
#}
{% macro typed_parse(column, kind, raw_type) %}
    {{ return(adapter.dispatch('typed_parse')(column, kind, raw_type)) }}
{% endmacro %}

{% macro default__typed_parse(column, kind, raw_type) %}{{ return(none) }}{% endmacro %}

{% macro duckdb__typed_parse(column, kind, raw_type) %}
    {%- set type = (raw_type or '') | lower | replace(' ', '') -%}
    {%- set decimal = modules.re.fullmatch('(decimal|numeric)\\((\\d+),(\\d+)\\)', type) -%}
    {%- if kind == 'timestamp' and type == 'timestampwithtimezone' or kind == 'date' and type == 'date' -%}
        {{ return(column) }}
    {%- elif kind == 'decimal' and (type in ['tinyint', 'smallint', 'integer', 'bigint', 'utinyint', 'usmallint',
            'uinteger', 'ubigint'] or decimal and decimal.group(3) | int <= 9
            and decimal.group(2) | int - decimal.group(3) | int <= 29) -%}
        {{ return('cast(' ~ column ~ ' as ' ~ decimal_type() ~ ')') }}
    {%- endif -%}
    {{ return(none) }}
{% endmacro %}


{#
  Whether a text matches a regular expression as a whole. `pattern` is written without
  backslashes (bracket expressions instead: `[.]`, `[0-9]`), so it reads the same in every
  warehouse's string literals.
#}
{% macro regex_full_match(text, pattern) %}{{ return(adapter.dispatch('regex_full_match')(text, pattern)) }}{% endmacro %}
{% macro default__regex_full_match(text, pattern) %}regexp_full_match({{ text }}, '{{ pattern }}'){% endmacro %}
{% macro postgres__regex_full_match(text, pattern) %}({{ text }}) ~ '^({{ pattern }})$'{% endmacro %}
{% macro snowflake__regex_full_match(text, pattern) %}regexp_like({{ text }}, '{{ pattern }}'){% endmacro %}
{% macro bigquery__regex_full_match(text, pattern) %}regexp_contains({{ text }}, '^({{ pattern }})$'){% endmacro %}


{#
  Whether a text holds a control character, U+0000-U+001F or U+007F (the push API's rule for
  ids and names: ingest_api/models.py NO_CONTROL_CHARACTERS). PostgreSQL text cannot hold U+0000.
  Snowflake and BigQuery read `\xhh` in a string literal as the character itself; RE2 (DuckDB,
  BigQuery) reads it in a pattern as the same character.
#}
{% macro has_control_characters(text) %}{{ return(adapter.dispatch('has_control_characters')(text)) }}{% endmacro %}
{% macro default__has_control_characters(text) %}regexp_matches({{ text }}, '[\x00-\x1f\x7f]'){% endmacro %}
{% macro postgres__has_control_characters(text) %}({{ text }}) ~ '[\x01-\x1f\x7f]'{% endmacro %}
{% macro snowflake__has_control_characters(text) %}regexp_like({{ text }}, '.*[\x00-\x1f\x7f].*', 's'){% endmacro %}
{% macro bigquery__has_control_characters(text) %}regexp_contains({{ text }}, r'[\x00-\x1f\x7f]'){% endmacro %}


{#
  What a JSON text holds: 'object', 'null' (the JSON literal null), 'other' (an array, a string,
  a number, a boolean), or NULL when the text is not JSON. Each warehouse's own parser decides
  what JSON is: DuckDB's also reads NaN and trailing commas (`[1,]`), which PostgreSQL's refuses;
  BigQuery reads numbers that do not fit a double by rounding them.
#}
{% macro json_kind(text) %}{{ return(adapter.dispatch('json_kind')(text)) }}{% endmacro %}

{% macro default__json_kind(text) -%}
    case when json_valid({{ text }}) then
        case json_type({{ text }}) when 'OBJECT' then 'object' when 'NULL' then 'null' else 'other' end
    end
{%- endmacro %}

{# PostgreSQL has no safe JSON cast: the function `create_parse_functions` installs. #}
{% macro postgres__json_kind(text) %}{{ parse_functions_schema() }}.json_kind({{ text }}){% endmacro %}

{# Snowflake's TYPEOF names a JSON null NULL_VALUE; the object test reads the text itself (a valid
   JSON text starting with `{` is an object), which also holds where TYPEOF cannot see the JSON
   type (fakesnow). #}
{% macro snowflake__json_kind(text) -%}
    case
        when regexp_like({{ text }}, '[ \t\n\r]*null[ \t\n\r]*') then 'null'
        when try_parse_json({{ text }}) is null then null
        when regexp_like({{ text }}, '[ \t\n\r]*[{].*', 's') then 'object'
        else 'other'
    end
{%- endmacro %}

{% macro bigquery__json_kind(text) -%}
    case
        when safe.parse_json({{ text }}, wide_number_mode => 'round') is null then null
        when json_type(safe.parse_json({{ text }}, wide_number_mode => 'round')) = 'object' then 'object'
        when json_type(safe.parse_json({{ text }}, wide_number_mode => 'round')) = 'null' then 'null'
        else 'other'
    end
{%- endmacro %}


{#
  on-run-start: PostgreSQL's stand-ins for try_cast, in the staging schema. Each accepts the
  forms DuckDB's try_cast accepts for real data and returns NULL for anything else instead of
  failing the query:
  - decimal: [+-]digits[.digits][e[+-]digits] (digits may be grouped with `_`), rounded half
    away from zero to 9 places; NULL when it needs more than 29 integer digits;
  - date: YYYY-MM-DD (month and day may have one digit), optionally followed by a valid time
    and anything after it (DuckDB reads the date part of a timestamp);
  - timestamp: YYYY-MM-DD, optionally `T` or space, H[H]:MM[:SS[.fraction]] and an offset
    `Z`, `+HH`, `+HHMM` or `+HH:MM`; digits beyond microseconds are dropped (as DuckDB does),
    not rounded. DuckDB's rarer forms (named time zones, `epoch`, `infinity`, two-digit years)
    are rejected here.
  - json_kind: what a JSON text holds, 'object', 'null' or 'other', NULL when it is not JSON
    (PostgreSQL's json type: no NaN, no trailing commas, no raw control characters in strings).
  Other warehouses have their own safe cast and need nothing.
#}
{% macro create_parse_functions() %}{{ return(adapter.dispatch('create_parse_functions')()) }}{% endmacro %}
{% macro default__create_parse_functions() %}{% endmacro %}

{% macro postgres__create_parse_functions() %}
    {%- set schema = parse_functions_schema() -%}
    {%- set date = '[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}' -%}
    {%- set time = '([01]?[0-9]|2[0-4]):[0-5][0-9](:[0-5][0-9]([.][0-9]*)?)?' -%}
    create schema if not exists {{ schema }};

    create or replace function {{ schema }}.try_parse_decimal(value text) returns numeric
    language plpgsql immutable parallel safe as $$
    begin
        if value !~ '^[+-]?([0-9]+(_[0-9]+)*)?([.][0-9]*)?([eE][+-]?[0-9]+)?$' or value !~ '^[+-]?[.]?[0-9]' then
            return null;
        end if;
        return cast(replace(value, '_', '') as numeric(38, 9));
    exception when data_exception then
        return null;
    end $$;

    create or replace function {{ schema }}.try_parse_date(value text) returns date
    language plpgsql immutable parallel safe as $$
    begin
        if value !~ '^{{ date }}([T ]{{ time }}.*)?$' then
            return null;
        end if;
        return cast(substring(value from '^{{ date }}') as date);
    exception when data_exception then
        return null;
    end $$;

    create or replace function {{ schema }}.try_parse_timestamp(value text) returns timestamptz
    language plpgsql stable parallel safe as $$
    begin
        if value !~ '^{{ date }}([T ]{{ time }}(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?$' then
            return null;
        end if;
        return cast(regexp_replace(value, '([.][0-9]{6})[0-9]+', '\1') as timestamptz);
    exception when data_exception then
        return null;
    end $$;

    create or replace function {{ schema }}.json_kind(value text) returns text
    language plpgsql immutable parallel safe as $$
    begin
        if value is null then
            return null;
        end if;
        return case json_typeof(cast(value as json)) when 'object' then 'object' when 'null' then 'null' else 'other' end;
    exception when data_exception then
        return null;
    end $$;
{% endmacro %}

{% macro parse_functions_schema() %}staging{% endmacro %}


{# The UTC calendar day of an instant. #}
{% macro utc_date(instant) %}{{ return(adapter.dispatch('utc_date')(instant)) }}{% endmacro %}
{% macro duckdb__utc_date(instant) %}cast(timezone('UTC', {{ instant }}) as date){% endmacro %}
{% macro postgres__utc_date(instant) %}cast(({{ instant }}) at time zone 'UTC' as date){% endmacro %}
{% macro snowflake__utc_date(instant) %}cast(convert_timezone('UTC', {{ instant }}) as date){% endmacro %}
{% macro bigquery__utc_date(instant) %}date({{ instant }}, 'UTC'){% endmacro %}


{# An instant as UTC text 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (event-id hash input). #}
{% macro utc_timestamp_text(instant) %}{{ return(adapter.dispatch('utc_timestamp_text')(instant)) }}{% endmacro %}
{% macro duckdb__utc_timestamp_text(instant) -%}
    strftime(timezone('UTC', {{ instant }}), '%Y-%m-%dT%H:%M:%S.%fZ')
{%- endmacro %}
{% macro postgres__utc_timestamp_text(instant) -%}
    to_char(({{ instant }}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
{%- endmacro %}
{% macro snowflake__utc_timestamp_text(instant) -%}
    to_varchar(convert_timezone('UTC', {{ instant }}), 'YYYY-MM-DD"T"HH24:MI:SS.FF6') || 'Z'
{%- endmacro %}
{% macro bigquery__utc_timestamp_text(instant) -%}
    format_timestamp('%Y-%m-%dT%H:%M:%E6SZ', {{ instant }}, 'UTC')
{%- endmacro %}


{# A decimal_type() value as text with all 9 fractional digits, '2.000000000' (event-id hash
   input). BigQuery's cast to STRING drops trailing zeros, hence its format(). #}
{% macro decimal_text(value) %}{{ return(adapter.dispatch('decimal_text')(value)) }}{% endmacro %}
{% macro default__decimal_text(value) %}cast({{ value }} as {{ dbt.type_string() }}){% endmacro %}
{% macro bigquery__decimal_text(value) %}format('%.9f', {{ value }}){% endmacro %}


{# A decimal_type() value as a JSON string of its shortest text, '"0.002"', '"15"' (its
   decimal_text() without trailing zeros: the same bytes on every warehouse, and exact where a JSON
   number would be read as a float), or JSON null. #}
{% macro json_decimal(value) -%}
    coalesce('"' || regexp_replace({{ decimal_text(value) }}, '[.]?0+$', '') || '"', 'null')
{%- endmacro %}

{# The JSON texts `element` of a group's rows as one JSON array text in `order_by` order,
   '[{...}, {...}]': joined as text (dbt's listagg), so the same bytes on every warehouse. #}
{% macro json_array_agg(element, order_by) -%}
    '[' || {{ dbt.listagg(element, "', '", 'order by ' ~ order_by) }} || ']'
{%- endmacro %}


{# A JSON array text holding one text value: '["DE123"]'. #}
{% macro json_text_array(text) %}{{ return(adapter.dispatch('json_text_array')(text)) }}{% endmacro %}
{% macro duckdb__json_text_array(text) %}to_json([{{ text }}])::varchar{% endmacro %}
{% macro postgres__json_text_array(text) %}cast(to_json(array[{{ text }}]) as text){% endmacro %}
{% macro snowflake__json_text_array(text) %}to_json(array_construct({{ text }})){% endmacro %}
{% macro bigquery__json_text_array(text) %}to_json_string([{{ text }}]){% endmacro %}


{#
  A delivered raw row as compact JSON text, its columns in table order: `columns` are the
  adapter's columns of the raw table (name and type) and `alias` the raw table's alias. Text
  values are the same bytes on every warehouse; a typed value (number, timestamp) is written as
  the warehouse writes it in JSON (PostgreSQL writes timestamps as DuckDB does; a float may read
  10 or 10.0).
#}
{% macro delivered_row_json(columns, alias) %}
    {{ return(adapter.dispatch('delivered_row_json')(columns, alias)) }}
{% endmacro %}

{% macro duckdb__delivered_row_json(columns, alias) -%}
    to_json(struct_pack(
    {%- for column in columns %}
        {{ adapter.quote(column.name) }} := {{ alias }}.{{ adapter.quote(column.name) }}{{ ',' if not loop.last }}
    {%- endfor %}
    ))::varchar
{%- endmacro %}

{% macro postgres__delivered_row_json(columns, alias) -%}
    (select cast(row_to_json(delivered) as text) from (select
    {%- for column in columns %}
        {% set value = alias ~ '.' ~ adapter.quote(column.name) -%}
        {%- if column.dtype == 'timestamp with time zone' -%}
            regexp_replace(to_char({{ value }} at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '[.]?0+$', '') || '+00'
        {%- elif column.dtype == 'timestamp without time zone' -%}
            regexp_replace(to_char({{ value }}, 'YYYY-MM-DD HH24:MI:SS.US'), '[.]?0+$', '')
        {%- else -%}
            {{ value }}
        {%- endif %} as {{ adapter.quote(column.name) }}{{ ',' if not loop.last }}
    {%- endfor %}
    ) as delivered)
{%- endmacro %}

{% macro snowflake__delivered_row_json(columns, alias) -%}
    to_json(object_construct_keep_null(
    {%- for column in columns %}
        '{{ column.name | lower }}', {{ alias }}.{{ column.name }}{{ ',' if not loop.last }}
    {%- endfor %}
    ))
{%- endmacro %}

{% macro bigquery__delivered_row_json(columns, alias) -%}
    to_json_string(struct(
    {%- for column in columns %}
        {{ alias }}.{{ adapter.quote(column.name) }} as {{ adapter.quote(column.name) }}{{ ',' if not loop.last }}
    {%- endfor %}
    ))
{%- endmacro %}


{# A column name in SQL: quoted as dlt names columns (lower case), except on Snowflake, where dlt
   upper-cases identifiers and an unquoted name matches them. #}
{% macro column_ref(name) %}{{ return(adapter.dispatch('column_ref')(name)) }}{% endmacro %}
{% macro default__column_ref(name) %}{{ adapter.quote(name) }}{% endmacro %}
{% macro snowflake__column_ref(name) %}{{ name }}{% endmacro %}


{# When a dlt load happened, from its load id (Unix seconds with a fraction, as text). #}
{% macro load_id_timestamp(load_id) %}{{ return(adapter.dispatch('load_id_timestamp')(load_id)) }}{% endmacro %}
{% macro duckdb__load_id_timestamp(load_id) %}to_timestamp(try_cast({{ load_id }} as double)){% endmacro %}
{% macro postgres__load_id_timestamp(load_id) -%}
    to_timestamp(cast({{ parse_functions_schema() }}.try_parse_decimal({{ load_id }}) as double precision))
{%- endmacro %}
{% macro snowflake__load_id_timestamp(load_id) -%}
    {{ dbt.dateadd(
        'microsecond',
        'cast(try_to_decimal(' ~ load_id ~ ', 38, 6) * 1000000 as number(38, 0))',
        "cast('1970-01-01 00:00:00 +00:00' as timestamp_tz)") }}
{%- endmacro %}
{% macro bigquery__load_id_timestamp(load_id) -%}
    timestamp_micros(cast(round(safe_cast({{ load_id }} as float64) * 1000000) as int64))
{%- endmacro %}


{# Text ordered byte by byte, so "which delivery came first" never depends on a locale:
   PostgreSQL otherwise sorts by the database's collation (which may skip punctuation). #}
{% macro bytewise(text) %}{{ return(adapter.dispatch('bytewise')(text)) }}{% endmacro %}
{% macro default__bytewise(text) %}{{ text }}{% endmacro %}
{% macro postgres__bytewise(text) %}({{ text }}) collate "C"{% endmacro %}


{# The incremental strategy that inserts the model's rows as they are (its pre_hook deletes the
   window first). dbt-bigquery has no 'append': its 'merge' without a unique_key only inserts. #}
{% macro append_strategy() %}{{ return(adapter.dispatch('append_strategy')()) }}{% endmacro %}
{% macro default__append_strategy() %}{{ return('append') }}{% endmacro %}
{% macro bigquery__append_strategy() %}{{ return('merge') }}{% endmacro %}


{# A Unix-seconds count (an API's time, e.g. Stripe's `created`) as a timestamp. #}
{% macro unix_seconds_timestamp(seconds) -%}
    {{ load_id_timestamp('cast(' ~ seconds ~ ' as ' ~ dbt.type_string() ~ ')') }}
{%- endmacro %}


{# An amount an API gives in the currency's minor units (Stripe's: an integer, or decimal text
   with a fraction of a unit) in the currency's unit, as decimal_type(): cents for most
   currencies, the unit itself for zero-decimal ones (JPY, KRW, …), thousandths for three-decimal
   ones (BHD, KWD, …), as Stripe counts them (minor_unit_currencies()). Multiplied by a decimal
   factor: exact on every warehouse (DuckDB divides a decimal by 100 as a double, and BigQuery
   reads 0.01 as one). #}
{% macro amount_from_minor_units(amount, currency) -%}
    {%- set units = minor_unit_currencies() -%}
    cast(cast({{ amount }} as {{ decimal_type() }}) * case
        when upper({{ currency }}) in ('{{ units.zero_decimal | join("', '") }}') then cast('1' as {{ decimal_type() }})
        when upper({{ currency }}) in ('{{ units.three_decimal | join("', '") }}') then cast('0.001' as {{ decimal_type() }})
        else cast('0.01' as {{ decimal_type() }})
    end as {{ decimal_type() }})
{%- endmacro %}


{# The UTC day of a Unix-seconds count, by day arithmetic alone (no time-zone conversion, which
   would read a session's zone on some warehouses). #}
{% macro unix_seconds_date(seconds) -%}
    cast({{ dbt.dateadd('day', 'cast(floor(' ~ seconds ~ ' / 86400) as ' ~ dbt.type_bigint() ~ ')', "cast('1970-01-01' as date)") }} as date)
{%- endmacro %}
