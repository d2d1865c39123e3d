{#
  on-run-start guard: profiles.yml falls back to an in-memory database only so that `dbt parse`
  works without BILLING_WAREHOUSE (Dagster parses at load time). Running models against it would
  "succeed" and throw the results away, so runs and builds stop here instead.
#}
{% macro require_warehouse() %}
    {%- if execute and env_var('BILLING_WAREHOUSE', '') == '' -%}
        {{ exceptions.raise_compiler_error(
            "BILLING_WAREHOUSE is not set: point it at the DuckDB warehouse file before running dbt"
        ) }}
    {%- endif -%}
{% endmacro %}
