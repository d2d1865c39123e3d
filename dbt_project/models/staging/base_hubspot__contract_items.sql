-- The live line items of HubSpot deals in the raw columns stage_contract_items maps: the
-- product by its HubSpot product id (or, for a line item not from the product library, its
-- SKU), the name from the line item or else its product, the unit price as written, the billing
-- frequency as an ISO-8601 period (hubspot_billing_periods(); one-time items have none), the
-- deal's currency, and the line item's recurring-billing dates or else the deal's term. HubSpot
-- says nothing of how a line is priced: one with a quantity is a flat fee per unit of that
-- quantity (seats, licences), one without is priced per unit of what is used.
with deal_line_items as (
    select * from {{ raw_relation('raw_hubspot', 'deal_line_items') }}
),

line_items as (
    select * from {{ raw_relation('raw_hubspot', 'line_items') }}
),

deals as (
    select * from {{ raw_relation('raw_hubspot', 'deals') }}
),

products as (
    select * from {{ raw_relation('raw_hubspot', 'products') }}
)

select
    line_items.id,
    deal_line_items.deal_id,
    coalesce(line_items.properties__hs_product_id, line_items.properties__hs_sku) as product_id,
    coalesce(line_items.properties__name, products.properties__name) as product_name,
    case when line_items.properties__quantity is not null then 'flat_fee' else 'per_unit' end as pricing_model,
    line_items.properties__price as unit_amount,
    upper(deals.properties__deal_currency_code) as currency,
    case line_items.properties__recurringbillingfrequency
        {%- for frequency, period in hubspot_billing_periods().items() %}
        when '{{ frequency }}' then '{{ period }}'
        {%- endfor %}
    end as billing_period,
    line_items.properties__quantity as quantity,
    coalesce(line_items.billing_start_date, deals.billing_contract_start) as start_date,
    coalesce(line_items.billing_end_date, deals.billing_contract_end) as end_date,
    coalesce(line_items.properties__hs_lastmodifieddate, line_items.updated_at) as updated_at,
    line_items._payload,
    line_items._dlt_loaded_at
from deal_line_items
inner join line_items on line_items.id = deal_line_items.line_item_id
left join deals on deals.id = deal_line_items.deal_id
left join products on products.id = line_items.properties__hs_product_id
where deal_line_items.line_item_id is not null and coalesce(line_items.archived, false) = false
