{#
  A model's custom schema is used as-is (staging -> `staging`, canonical/marts -> `billing`),
  instead of dbt's default `<target schema>_<custom schema>`: the warehouse layout in DESIGN §3
  names the schemas other tools (Dagster, BI, the billing engine) read.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
