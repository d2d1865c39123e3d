{#
  The sources staging reads, in precedence order, and the entities each delivers: the one place
  that knows which staging models exist. The canonical models union `staging_models(entity)`,
  quarantine collects their rejects, and `source_precedence()` ranks the sources by their place
  here.

  Precedence decides between sources that disagree at the same updated_at (customers, contracts,
  items), and between copies of one usage event delivered at the same moment: the app database
  is the system of record; the company's warehouses (Snowflake usage lake, BigQuery product
  analytics) come next; then the landing zone (uploads, pushes, often re-exports); the SaaS
  sources last: Stripe carries no last-changed time, and HubSpot's customers are staged without
  theirs (a company touched in the CRM must not replace the app's billing details), so their
  customers (NULL updated_at) never win over a dated one anyway, and a customer they share with
  the app keeps the app's details and gains its Stripe and HubSpot ids. HubSpot's contracts and
  items are its own ('hubspot-deal-<id>'), dated by their last change. The billing team's Google
  Sheet comes last: its rows are landing lines (dated where the team fills updated_at) and
  compete with the uploads by date, ranking after them on a tie.

  Adding a source: declare its raw tables in models/sources.yml (`raw_<source>`), add one model
  `models/staging/stg_<source>__<entity>.sql` per entity it delivers, calling the entity's
  `stage_<entity>` macro with the source's mapping (macros/staging.sql), and list it here. An
  API's objects that need joining or reshaping first (Stripe subscriptions and their items) get
  a `base_<source>__<object>.sql` view that the mapping names as its `relation`.
#}
{% macro staging_sources() %}
    {{ return([
        {'name': 'app_db', 'entities': ['customers', 'contracts', 'contract_items', 'usage_events']},
        {'name': 'usage_lake', 'entities': ['usage_events']},
        {'name': 'product_analytics', 'entities': ['usage_events']},
        {'name': 'landing', 'entities': ['customers', 'contracts', 'contract_items', 'usage_events']},
        {'name': 'stripe', 'entities': ['customers', 'contracts', 'contract_items']},
        {'name': 'hubspot', 'entities': ['customers', 'contracts', 'contract_items']},
        {'name': 'google_sheets', 'entities': ['customers', 'contracts', 'contract_items']},
    ]) }}
{% endmacro %}

{#
  The staging models of one entity, in precedence order. A staging model `stg_<s>__<entity>`
  that is not listed fails the run here, instead of its records silently never reaching billing.
#}
{% macro staging_models(entity) %}
    {%- set models = [] -%}
    {%- for source in staging_sources() if entity in source.entities -%}
        {%- do models.append('stg_' ~ source.name ~ '__' ~ entity) -%}
    {%- endfor -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name.startswith('stg_')
                and node.name.endswith('__' ~ entity) and node.name not in models -%}
            {{ exceptions.raise_compiler_error(
                node.name ~ " is not listed in staging_sources() (macros/staging_sources.sql): list its source there") }}
        {%- endfor -%}
    {%- endif -%}
    {{ return(models) }}
{% endmacro %}

{# A source's rank (1 = wins) for ordering; an unlisted source ranks last. #}
{% macro source_precedence(column='source_system') -%}
    case {{ column }}
        {%- for source in staging_sources() %} when '{{ source.name }}' then {{ loop.index }}{% endfor %}
        else 99
    end
{%- endmacro %}
