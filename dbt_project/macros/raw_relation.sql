{#
  Read a raw table loaded by dlt, whether or not it exists yet.

  dlt creates a table only when its first rows arrive (no contract CSV dropped yet = no
  raw_landing.contracts; no load from a source configured later = no raw_<source> at all), and
  it omits columns that were NULL in every row so far. Staging must still build on such a
  warehouse, so this returns a subquery with exactly the columns declared for the source table
  in models/sources.yml (the raw contract, docs/raw-contract.md):

  - table exists: its declared columns, a declared column that is missing is NULL of its declared
    type (`data_type`, default text);
  - table missing: the same columns, typed, with no rows (`where false`).

  Two columns are added for staging:
  - `_payload`: the delivered row as JSON text, i.e. every column the table really has except the
    `_`-prefixed load metadata (so a column the query returns beyond the contract is kept too);
  - `_dlt_loaded_at`: when dlt committed the row's load (`<dataset>._dlt_loads.inserted_at`,
    falling back to the timestamp encoded in `_dlt_load_id`) - deterministic, never now().

  `source()` is called unconditionally so the source -> model edge is in the manifest (and in
  Dagster's lineage) even while the table does not exist.

  `nested='<field>'` reads instead the table dlt loads a list field of the source table's rows
  into, `<table>__<field>` (Stripe's `prices__tiers`): one row per element,
  `_dlt_parent_id` naming its parent row's `_dlt_id` and `_dlt_list_idx` its place in the list.
  Its columns are declared under the source table, in `config.meta.nested.<field>`: it is written
  by the source table's own load, so the model depends on that table (its Dagster asset), not on
  a table of its own that no asset materializes.
#}
{% macro raw_relation(source_name, table_name, nested=none) %}
    {%- set declared = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(declared) }}
    {%- endif -%}

    {%- set table = graph.sources.values()
        | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name)
        | first -%}
    {%- set contract = table.columns.values() | list if nested is none else table.config.meta.nested[nested] -%}
    {%- set existing = adapter.get_relation(database=declared.database, schema=declared.schema,
        identifier=raw_identifier(declared, nested)) -%}
    {%- set present = [] -%}
    {%- set delivered = [] -%}
    {%- for column in raw_table_columns(source_name, table_name, nested) or [] -%}
        {%- do present.append(column.name) -%}
        {%- if not column.name.startswith('_') -%}
            {%- do delivered.append(column) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set loads = adapter.get_relation(
        database=declared.database, schema=declared.schema, identifier='_dlt_loads') -%}

    (
        select
        {%- for column in contract %}
            {% if column.name in present -%}
                raw.{{ column_ref(column.name) }}
            {%- else -%}
                cast(null as {{ contract_type(column.data_type) }})
            {%- endif %} as {{ column_ref(column.name) }},
        {%- endfor %}
        {%- if delivered %}
            {{ delivered_row_json(delivered, 'raw') }} as _payload,
        {%- else %}
            cast(null as {{ dbt.type_string() }}) as _payload,
        {%- endif %}
        {%- if '_dlt_load_id' in present %}
            coalesce(
                {{ 'loads.inserted_at' if loads is not none else 'null' }},
                {{ load_id_timestamp('raw._dlt_load_id') }}
            ) as _dlt_loaded_at
        {%- else %}
            cast(null as {{ type_timestamptz() }}) as _dlt_loaded_at
        {%- endif %}
        {%- if existing is none %}
        where false
        {%- else %}
        from {{ existing }} as raw
        {%- if loads is not none and '_dlt_load_id' in present %}
        left join (
            select load_id, min(inserted_at) as inserted_at from {{ loads }} group by load_id
        ) as loads on loads.load_id = raw._dlt_load_id
        {%- endif %}
        {%- endif %}
    ) as raw_contract
{% endmacro %}


{# The columns a raw table (or its `nested` list's table) has in the warehouse, as
   [{'name': ..., 'dtype': ...}] in table order (both lower case); none when the table does not
   exist (yet) or nothing is executing. #}
{% macro raw_table_columns(source_name, table_name, nested=none) %}
    {%- set declared = source(source_name, table_name) -%}
    {%- set existing = adapter.get_relation(database=declared.database, schema=declared.schema,
        identifier=raw_identifier(declared, nested)) if execute else none -%}
    {%- if existing is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for column in adapter.get_columns_in_relation(existing) -%}
        {%- do columns.append({'name': column.name | lower, 'dtype': column.dtype | lower}) -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}


{# The name of a raw table, or of the table dlt loads its `nested` list field into. #}
{% macro raw_identifier(declared, nested=none) -%}
    {{ return(declared.identifier if nested is none else declared.identifier ~ '__' ~ nested) }}
{%- endmacro %}
