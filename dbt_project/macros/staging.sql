{#
  Staging: one definition per canonical entity, used by every source with its own mapping.

  A staging model is one call, e.g. models/staging/stg_app_db__usage_events.sql:

      {{ stage_usage_events(source='app_db', mapping={
          'delivery': keyed_rows('event_id'),
          'columns': {'event_id': 'event_id', 'customer_id': 'customer_external_id', ...},
      }) }}

  It reads `raw_<source>.<entity>` (through `raw_relation`, so it builds before the first load),
  or the model the mapping names as `relation` (`ref('base_stripe__contracts')`), and returns one row per raw record, valid or not, with the entity's canonical columns,
  `source_system`, `reject_reason` (NULL = valid, else the first failing check), `location`,
  `payload` and `ingested_at`.

  The mapping says, per source:
  - `delivery`: how its records arrive, which decides location, payload and ingested_at:
    `file_lines()` (the landing zone: `_file`, `_line`, `_received_at`; a line the CSV reader
    could not split carries `_parse_error`, the first reject reason, and `_raw_line`, its
    payload) or `keyed_rows('<key column>')` (a query-configured source loaded by dlt: located
    as '<entity> <key>=<value>', ingested when its dlt load was committed);
  - `columns`: canonical column -> the raw column that feeds it, as a name, or as
    {'column': name, 'prefix': 'app_db-sub-'} (an id namespaced by source) or, for a contract
    status, {'column': name, 'map': {source status: canonical status}}. A canonical column the
    source does not map is NULL, and its check does not apply; a check applies to every mapped
    column. The columns an entity cannot do without must be mapped.

  Each entity's checks, in order (the first failing one is the reason), are in its macro below;
  the reason texts are listed in docs/raw-contract.md.
#}


{# How a landing-zone record arrives: a line of an uploaded file. #}
{% macro file_lines() %}{{ return({'kind': 'file_lines'}) }}{% endmacro %}

{# How a query-configured source's record arrives: a row of a dlt load, identified by `key`. #}
{% macro keyed_rows(key) %}{{ return({'kind': 'keyed_rows', 'key': key}) }}{% endmacro %}


{# Every canonical customer: identity is the source's external id (the company's own key). #}
{% macro stage_customers(source, mapping) %}
{%- set m = staging_mapping('customers', source, mapping, required=['external_id'], optional=[
    'name', 'email', 'phone', 'line1', 'line2', 'city', 'state', 'postal_code', 'country', 'tax_ids',
    'currency', 'app_db_account_id', 'stripe_customer_id', 'hubspot_company_id', 'created_at', 'updated_at',
    'deleted_at']) -%}
with raw as (
    select * from {{ staged_relation(m) }}
)

select
    {{ staged_text(m, 'external_id') }} as customer_id,
    {{ staged_text(m, 'external_id') }} as external_id,
    {{ staged_text(m, 'name') }} as name,
    {{ staged_text(m, 'email') }} as email,
    {{ staged_text(m, 'phone') }} as phone,
    {{ staged_text(m, 'line1') }} as line1,
    {{ staged_text(m, 'line2') }} as line2,
    {{ staged_text(m, 'city') }} as city,
    {{ staged_text(m, 'state') }} as state,
    {{ staged_text(m, 'postal_code') }} as postal_code,
    {{ staged_text(m, 'country') }} as country,
    {{ staged_tax_ids(m, 'tax_ids') }} as tax_ids,
    {{ staged_text(m, 'currency') }} as currency,
    {{ staged_text(m, 'app_db_account_id') }} as app_db_account_id,
    {{ staged_text(m, 'stripe_customer_id') }} as stripe_customer_id,
    {{ staged_text(m, 'hubspot_company_id') }} as hubspot_company_id,
    {{ staged_value(m, 'created_at', 'timestamp') }} as created_at,
    {{ staged_value(m, 'updated_at', 'timestamp') }} as updated_at,
    {{ staged_value(m, 'deleted_at', 'timestamp') }} as deleted_at,
    '{{ source }}' as source_system,
    case
        {{ check_delivery(m) }}
        {{ check_present(m, 'external_id') }}
        {{ check_no_control_characters(m, 'external_id') }}
        {{ check_in(m, 'currency', accepted_currencies()) }}
        {{ check_parses(m, 'created_at', 'timestamp') }}
        {{ check_parses(m, 'updated_at', 'timestamp') }}
        {{ check_parses(m, 'deleted_at', 'timestamp') }}
    end as reject_reason,
    {{ delivery_columns(m) }}
from raw
{% endmacro %}


{# Every canonical contract; a source with its own status vocabulary maps it to canonical
   statuses (draft, active, paused, expired), and any status outside its map is rejected. #}
{% macro stage_contracts(source, mapping) %}
{%- set m = staging_mapping('contracts', source, mapping,
    required=['contract_id', 'customer_id', 'status', 'start_date'], optional=[
    'name', 'currency', 'end_date', 'renewal_policy', 'app_db_subscription_id', 'stripe_subscription_id',
    'hubspot_deal_id', 'updated_at', 'deleted_at']) -%}
{%- set status = m.columns.status -%}
with raw as (
    select * from {{ staged_relation(m) }}
)

select
    {{ staged_text(m, 'contract_id') }} as contract_id,
    {{ staged_text(m, 'customer_id') }} as customer_id,
    {{ staged_text(m, 'name') }} as name,
    {% if status.map -%}
    case {{ raw_text(status.column) }}
        {%- for source_status, canonical_status in status.map.items() %}
        when '{{ source_status }}' then '{{ canonical_status }}'
        {%- endfor %}
    end
    {%- else -%}
    {{ raw_text(status.column) }}
    {%- endif %} as status,
    {{ staged_text(m, 'currency') }} as currency,
    {{ staged_value(m, 'start_date', 'date') }} as start_date,
    {{ staged_value(m, 'end_date', 'date') }} as end_date,
    {{ staged_text(m, 'renewal_policy') }} as renewal_policy,
    {{ staged_text(m, 'app_db_subscription_id') }} as app_db_subscription_id,
    {{ staged_text(m, 'stripe_subscription_id') }} as stripe_subscription_id,
    {{ staged_text(m, 'hubspot_deal_id') }} as hubspot_deal_id,
    {{ staged_value(m, 'updated_at', 'timestamp') }} as updated_at,
    {{ staged_value(m, 'deleted_at', 'timestamp') }} as deleted_at,
    '{{ source }}' as source_system,
    case
        {{ check_delivery(m) }}
        {{ check_present(m, 'contract_id') }}
        {{ check_present(m, 'customer_id') }}
        {{ check_no_control_characters(m, 'contract_id') }}
        {{ check_no_control_characters(m, 'customer_id') }}
        {{ check_in(m, 'status', status.map.keys() | list if status.map else contract_statuses(), required=true) }}
        {{ check_in(m, 'currency', accepted_currencies()) }}
        {{ check_parses(m, 'start_date', 'date', required=true) }}
        {{ check_parses(m, 'end_date', 'date') }}
        {{ check_parses(m, 'updated_at', 'timestamp') }}
        {{ check_parses(m, 'deleted_at', 'timestamp') }}
    end as reject_reason,
    {{ delivery_columns(m) }}
from raw
{% endmacro %}


{# Every priced line of a contract. `tiers` is the tier table of a tiered or volume price as a
   JSON array text, passed through as the source's base model builds it (Stripe's); NULL for a
   source that has none, whose unit_amount is then the one rate. #}
{% macro stage_contract_items(source, mapping) %}
{%- set m = staging_mapping('contract_items', source, mapping, required=['contract_id', 'pricing_model'], optional=[
    'product_id', 'product_name', 'unit_amount', 'tiers', 'currency', 'billing_period', 'quantity', 'metric',
    'start_date', 'end_date', 'updated_at']) -%}
with raw as (
    select * from {{ staged_relation(m) }}
)

select
    {{ staged_text(m, 'contract_id') }} as contract_id,
    {{ staged_text(m, 'product_id') }} as product_id,
    {{ staged_text(m, 'product_name') }} as product_name,
    {{ staged_text(m, 'pricing_model') }} as pricing_model,
    {{ staged_value(m, 'unit_amount', 'decimal') }} as unit_amount,
    {{ staged_text(m, 'tiers') }} as tiers,
    {{ staged_text(m, 'currency') }} as currency,
    {{ staged_text(m, 'billing_period') }} as billing_period,
    {{ staged_value(m, 'quantity', 'decimal') }} as quantity,
    {{ staged_text(m, 'metric') }} as metric,
    {{ staged_value(m, 'start_date', 'date') }} as start_date,
    {{ staged_value(m, 'end_date', 'date') }} as end_date,
    {{ staged_value(m, 'updated_at', 'timestamp') }} as updated_at,
    '{{ source }}' as source_system,
    case
        {{ check_delivery(m) }}
        {{ check_present(m, 'contract_id') }}
        {{ check_no_control_characters(m, 'contract_id') }}
        {{ check_in(m, 'pricing_model', pricing_models(), required=true) }}
        {{ check_parses(m, 'unit_amount', 'decimal') }}
        {{ check_in(m, 'currency', accepted_currencies()) }}
        {{ check_parses(m, 'quantity', 'decimal') }}
        {{ check_parses(m, 'start_date', 'date') }}
        {{ check_parses(m, 'end_date', 'date') }}
        {{ check_parses(m, 'updated_at', 'timestamp') }}
    end as reject_reason,
    {{ delivery_columns(m) }}
from raw
{% endmacro %}


{#
  Every usage record, tagged `partitioned` (Dagster gives it the daily partitions). An unfiltered
  view: billing.usage_events and usage_events_quarantine read a window of it through
  `event_date`, the UTC day every usage loader stores beside the record (raw `_event_date`).
  One select over raw, so that each column is computed from raw only when read: the event id of
  a record that carries its own id needs no parse (usage_events reads the window's ids alone to
  find repeated deliveries), and the payload JSON is built only where a read uses it.
#}
{% macro stage_usage_events(source, mapping) %}
{{ config(tags=['partitioned']) }}
{%- set m = staging_mapping('usage_events', source, mapping,
    required=['customer_id', 'metric', 'event_timestamp', 'quantity'], optional=['event_id', 'properties']) -%}
{%- set customer_id = staged_text(m, 'customer_id') -%}
{%- set metric = staged_text(m, 'metric') -%}
{%- set quantity = staged_value(m, 'quantity', 'decimal') -%}
{%- set event_timestamp = staged_value(m, 'event_timestamp', 'timestamp') -%}
{%- set properties = staged_text(m, 'properties') -%}
with raw as (
    select * from {{ staged_relation(m) }}
)

select
    {{ usage_event_id(staged_text(m, 'event_id'), customer_id, metric, quantity, event_timestamp, properties) }} as event_id,
    {{ customer_id }} as customer_id,
    {{ metric }} as metric,
    {{ quantity }} as quantity,
    {{ event_timestamp }} as event_timestamp,
    _event_date as event_date,
    {{ properties }} as properties,
    '{{ source }}' as source_system,
    case
        {{ check_delivery(m) }}
        {{ check_present(m, 'customer_id') }}
        {{ check_present(m, 'metric') }}
        {{ check_no_control_characters(m, 'customer_id') }}
        {{ check_no_control_characters(m, 'metric') }}
        {{ check_no_control_characters(m, 'event_id') }}
        {{ check_parses(m, 'event_timestamp', 'timestamp', required=true) }}
        {{ check_event_time_range(m, event_timestamp) }}
        {{ check_parses(m, 'quantity', 'decimal', required=true, max_places=9) }}
        {{ check_json_object(m, 'properties') }}
    end as reject_reason,
    {{ delivery_columns(m) }}
from raw
{% endmacro %}


{#
  A source's mapping, checked against what the entity needs, with each column spec in one form
  ({'column': ..., 'prefix': ..., 'map': ...}). A typo or a missing required column fails the
  parse, naming the model. `raw_types` holds the types the raw table's columns have in the
  warehouse (none before its first load), so that a column already of the parsed type is not
  parsed through text (`parse_as`).
#}
{% macro staging_mapping(entity, source, mapping, required, optional) %}
    {%- set where = 'stg_' ~ source ~ '__' ~ entity ~ ': ' -%}
    {%- set delivery = mapping.get('delivery') or {} -%}
    {%- if delivery.get('kind') not in ['file_lines', 'keyed_rows'] -%}
        {{ exceptions.raise_compiler_error(where ~ "mapping.delivery must be file_lines() or keyed_rows('<key column>')") }}
    {%- endif -%}
    {%- set given = mapping.get('columns') or {} -%}
    {%- set columns = {} -%}
    {%- for canonical, spec in given.items() -%}
        {%- if canonical not in required + optional -%}
            {{ exceptions.raise_compiler_error(
                where ~ "'" ~ canonical ~ "' is not a column of " ~ entity ~ " (expected one of "
                ~ (required + optional) | join(', ') ~ ")") }}
        {%- endif -%}
        {%- do columns.update({canonical: {'column': spec} if spec is string else spec}) -%}
    {%- endfor -%}
    {%- for canonical in required if canonical not in columns -%}
        {{ exceptions.raise_compiler_error(where ~ "the mapping must say which raw column feeds " ~ canonical) }}
    {%- endfor -%}
    {%- set raw_types = {} -%}
    {%- for column in (raw_table_columns('raw_' ~ source, entity) if mapping.get('relation') is none else none) or [] -%}
        {%- do raw_types.update({column.name: column.dtype}) -%}
    {%- endfor -%}
    {{ return({'entity': entity, 'source': source, 'delivery': delivery, 'columns': columns, 'raw_types': raw_types,
               'relation': mapping.get('relation')}) }}
{% endmacro %}


{# What a staging model reads: `raw_<source>.<entity>`, or the relation the mapping names (a
   `base_<source>__*` model shaping an API's objects, e.g. Stripe subscriptions with their
   customer's key, into the entity's raw columns, with the raw table's `_payload` and
   `_dlt_loaded_at`). #}
{% macro staged_relation(m) -%}
    {%- if m.relation is not none -%}{{ m.relation }}{%- else -%}{{ raw_relation('raw_' ~ m.source, m.entity) }}{%- endif -%}
{%- endmacro %}


{# A mapped canonical text column (trimmed, blank = NULL), with its source prefix; NULL when
   the source does not map it. #}
{% macro staged_text(m, canonical) -%}
    {%- set spec = m.columns.get(canonical) -%}
    {%- if spec is none -%}
        cast(null as {{ dbt.type_string() }})
    {%- elif spec.prefix -%}
        '{{ spec.prefix }}' || {{ raw_text(spec.column) }}
    {%- else -%}
        {{ raw_text(spec.column) }}
    {%- endif -%}
{%- endmacro %}

{# A mapped canonical column parsed as `kind` (decimal, date, timestamp); typed NULL when unmapped. #}
{% macro staged_value(m, canonical, kind) -%}
    {%- set spec = m.columns.get(canonical) -%}
    {%- if spec is none -%}
        cast(null as {{ parsed_type(kind) }})
    {%- else -%}
        {{ parse_as(spec.column, kind, m.raw_types.get(spec.column | lower)) }}
    {%- endif -%}
{%- endmacro %}

{# The canonical tax_ids list (JSON array text) from the one raw tax id a source delivers; '[]'
   when the source does not map one. #}
{% macro staged_tax_ids(m, canonical) -%}
    {%- set spec = m.columns.get(canonical) -%}
    {%- if spec is none -%}
        '[]'
    {%- else -%}
        {{ tax_ids_json(spec.column) }}
    {%- endif -%}
{%- endmacro %}


{# `when` branches of reject_reason for a mapped column; nothing when the source does not map it. #}
{% macro check_present(m, canonical) -%}
    {%- set spec = m.columns.get(canonical) -%}
    {%- if spec is not none %}{{ reject_if_missing(spec.column, canonical) }}{% endif -%}
{%- endmacro %}

{% macro check_parses(m, canonical, kind, required=false, max_places=none) -%}
    {%- set spec = m.columns.get(canonical) -%}
    {%- if spec is not none -%}
        {{ reject_if_unparsable(spec.column, kind, canonical, required, m.raw_types.get(spec.column | lower), max_places) }}
    {%- endif -%}
{%- endmacro %}

{% macro check_no_control_characters(m, canonical) -%}
    {%- set spec = m.columns.get(canonical) -%}
    {%- if spec is not none %}{{ reject_if_control_characters(spec.column, canonical) }}{% endif -%}
{%- endmacro %}

{% macro check_json_object(m, canonical) -%}
    {%- set spec = m.columns.get(canonical) -%}
    {%- if spec is not none %}{{ reject_if_not_json_object(spec.column, canonical) }}{% endif -%}
{%- endmacro %}

{% macro check_in(m, canonical, accepted, required=false) -%}
    {%- set spec = m.columns.get(canonical) -%}
    {%- if spec is not none %}{{ reject_if_not_in(spec.column, accepted, canonical, required) }}{% endif -%}
{%- endmacro %}

{#
  An event time no partition holds (lib/event_time_range.py): before the vars' `history_start`,
  or more than `future_tolerance_minutes` after the record arrived (its ingested_at). Without
  the vars (dbt run by hand) there is no range to check. The loaders give such a record no
  event_date, so every window's run shows it in the quarantine.
#}
{% macro check_event_time_range(m, event_timestamp) -%}
    {%- set column = m.columns.event_timestamp.column -%}
    {%- set history_start = var('history_start', none) -%}
    {%- set tolerance = var('future_tolerance_minutes', none) -%}
    {%- if history_start is not none -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', history_start | string) -%}
            {{ exceptions.raise_compiler_error("var history_start must be a date YYYY-MM-DD, got '" ~ history_start ~ "'") }}
        {%- endif %}
    when {{ event_timestamp }} < cast('{{ history_start }}T00:00:00+00:00' as {{ type_timestamptz() }})
    then 'event_timestamp before history_start {{ history_start }} (no partition holds it): ' || {{ quoted_raw_value(column) }}
    {%- endif -%}
    {%- if tolerance is not none -%}
        {%- set minutes = tolerance | float -%}
        {%- set shown = minutes | int if minutes == minutes | int else minutes %}
    when {{ event_timestamp }} > {{ dbt.dateadd('second', (minutes * 60) | round | int, arrival_column(m)) }}
    then 'event_timestamp more than {{ shown }} minutes after the record arrived (no partition holds it yet): '
        || {{ quoted_raw_value(column) }}
    {%- endif -%}
{%- endmacro %}

{# When a staged record arrived: its ingested_at (see delivery_columns). #}
{% macro arrival_column(m) -%}
    {%- if m.delivery.kind == 'file_lines' -%}_received_at{%- else -%}_dlt_loaded_at{%- endif -%}
{%- endmacro %}


{# A landing line the CSV reader could not split: the loader's reason comes first. #}
{% macro check_delivery(m) -%}
    {%- if m.delivery.kind == 'file_lines' %}when _parse_error is not null then _parse_error{% endif -%}
{%- endmacro %}


{#
  location, payload and ingested_at of a staged record, by how it was delivered:
  - file_lines: '<file name>:<line>'; the fields as JSON, or the raw line when the reader could
    not split it; when the landing zone accepted the file;
  - keyed_rows: '<entity> <key>=<value>'; the delivered row as JSON; when its dlt load was
    committed.
#}
{% macro delivery_columns(m) -%}
    {%- if m.delivery.kind == 'file_lines' -%}
    _file || ':' || cast(_line as {{ dbt.type_string() }}) as location,
    coalesce(_raw_line, _payload) as payload,
    {{ arrival_column(m) }} as ingested_at
    {%- else -%}
    '{{ m.entity }} {{ m.delivery.key }}=' || coalesce(cast({{ m.delivery.key }} as {{ dbt.type_string() }}), '') as location,
    _payload as payload,
    {{ arrival_column(m) }} as ingested_at
    {%- endif -%}
{%- endmacro %}
