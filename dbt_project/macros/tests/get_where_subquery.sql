{#
  dbt's hook for a test's `where` config, extended with one placeholder so the tests of a
  partitioned model check the run's window only (dbt does not allow macros in test configs):

      config: {where: "__partition_window__(event_timestamp)"}

  becomes `event_timestamp` in [min_date, max_date) when the run has a window, and every row
  when it has none. Any other `where` is used as written, as in dbt itself.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if not where -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set placeholder = modules.re.fullmatch('__partition_window__\\((\\w+)\\)', where | trim) -%}
    {%- if placeholder -%}
        {%- set window = partition_window() -%}
        {%- set where = in_partition_window(placeholder.group(1), window) if window else 'true' -%}
    {%- endif -%}
    {%- set filtered -%}
        (select * from {{ relation }} where {{ where }}) dbt_subquery
    {%- endset -%}
    {{ return(filtered) }}
{%- endmacro %}
