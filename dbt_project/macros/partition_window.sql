{#
  Daily partition window of the usage models. Dagster runs a partition (or a backfill range) as
  `dbt build --vars '{"min_date": "<start ISO>", "max_date": "<end ISO>"}'`: the window is
  [min_date, max_date) in UTC on event_timestamp. Without these vars the models cover all history.
#}
{% macro partition_window() %}
    {%- set bounds = [] -%}
    {%- for name in ['min_date', 'max_date'] -%}
        {%- set value = var(name, none) -%}
        {%- set text = '' if value is none else (value | string | trim) -%}
        {%- if text and not modules.re.fullmatch(
                '[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?',
                text) -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ " must be an ISO-8601 date or timestamp, got '" ~ text ~ "'") }}
        {%- endif -%}
        {%- do bounds.append(text) -%}
    {%- endfor -%}
    {%- if not bounds[0] and not bounds[1] -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not bounds[0] or not bounds[1] -%}
        {{ exceptions.raise_compiler_error(
            "a partition window needs both vars min_date and max_date, got min_date='"
            ~ bounds[0] ~ "', max_date='" ~ bounds[1] ~ "'") }}
    {%- endif -%}
    {{ return({
        'start': "cast('" ~ bounds[0] ~ "' as " ~ type_timestamptz() ~ ")",
        'end': "cast('" ~ bounds[1] ~ "' as " ~ type_timestamptz() ~ ")",
    }) }}
{% endmacro %}

{% macro in_partition_window(column, window) -%}
    ({{ column }} >= {{ window.start }} and {{ column }} < {{ window.end }})
{%- endmacro %}

{#
  The rows of a partitioned read that the window needs, by the `event_date` the loader stored
  beside each usage record (raw `_event_date`, the UTC day of its event time as DuckDB parses
  it): the window's days, plus the undated records (a timestamp that does not parse, or a row
  loaded before the loader stored days). It is a plain stored DATE, so DuckDB skips every row
  group outside the window: a run reads the days it rebuilds, not the history.
#}
{% macro in_window_days(column, window) -%}
    ({{ column }} is null or ({{ column }} >= {{ utc_date(window.start) }}
        and {{ column }} < {{ utc_date(window.end) }}))
{%- endmacro %}


{#
  pre_hook of a window-replace incremental model: on an incremental run, delete exactly the
  window being rebuilt (everything when no window is given) before the insert that follows, in
  the same transaction where the warehouse has one (DuckDB, PostgreSQL), so re-running a
  partition replaces it and never duplicates it. (BigQuery needs a WHERE on every DELETE.)
#}
{% macro delete_partition_window(column) %}
    {%- if is_incremental() -%}
        {%- set window = partition_window() -%}
        delete from {{ this }} where {{ in_partition_window(column, window) if window else 'true' }}
    {%- endif -%}
{% endmacro %}

{# The same for a model keyed by stored event days (`in_window_days`, undated rows included). #}
{% macro delete_window_days(column) %}
    {%- if is_incremental() -%}
        {%- set window = partition_window() -%}
        delete from {{ this }} where {{ in_window_days(column, window) if window else 'true' }}
    {%- endif -%}
{% endmacro %}
