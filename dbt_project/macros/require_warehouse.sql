{#
  on-run-start guard: profiles.yml falls back to an in-memory DuckDB only so that `dbt parse`
  works without BILLING_WAREHOUSE (Dagster parses at load time). Running models against it would
  "succeed" and throw the results away, so runs and builds stop here instead. (The server
  targets read their connection from variables that have no default: dbt names a missing one.)
#}
{% macro require_warehouse() %}
    {%- if execute and target.type == 'duckdb' and env_var('BILLING_WAREHOUSE', '') == '' -%}
        {{ exceptions.raise_compiler_error(
            "BILLING_WAREHOUSE is not set: point it at the DuckDB warehouse file before running dbt"
        ) }}
    {%- endif -%}
{% endmacro %}
