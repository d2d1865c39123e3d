-- HubSpot deals in the raw columns stage_contracts maps. The customer is the deal's billed
-- company (its primary one, or its only one when none is marked primary) by the company's own
-- id as base_hubspot__customers resolves it; a live deal with no such company has none
-- (rejected). A deal archived before any sync saw its company (HubSpot serves no associations
-- of archived records) was never a contract here: it stays in raw_hubspot.deals, flagged
-- archived, and is not staged.
-- The term is the portal's contract-date properties, copied by the sync into
-- `billing_contract_start` / `billing_contract_end` as ISO days. The status, as of the UTC day
-- the dbt invocation started (a literal: the same SQL and no session time zone on every
-- warehouse; `dbt build` re-creates this view each time): a deal in a won stage
-- (hubspot_won_deal_stages()) is active until its end date has passed, then expired; a deal in
-- any other stage (open or lost) is a draft, never billed.
{%- set build_day = run_started_at.strftime('%Y-%m-%d') %}
with deals as (
    select * from {{ raw_relation('raw_hubspot', 'deals') }}
),

deal_companies as (
    select * from {{ raw_relation('raw_hubspot', 'deal_companies') }}
),

companies as (
    select * from {{ raw_relation('raw_hubspot', 'companies') }}
),

billed_company as (
    select
        deal_id,
        coalesce(
            max(case when is_primary then company_id end),
            case when count(distinct company_id) = 1 then max(company_id) end
        ) as company_id
    from deal_companies
    where company_id is not null
    group by deal_id
)

select
    deals.id,
    case
        when billed_company.company_id is not null
            then coalesce(companies.billing_external_id, 'hubspot-' || billed_company.company_id)
    end as customer_id,
    deals.properties__dealname as name,
    case
        when deals.properties__dealstage in (
            {%- for stage in hubspot_won_deal_stages() %}'{{ stage }}'{{ ', ' if not loop.last }}{% endfor -%}
        ) then
            case
                when {{ try_parse('deals.billing_contract_end', 'date') }} < cast('{{ build_day }}' as date)
                    then 'expired'
                else 'active'
            end
        else 'draft'
    end as status,
    upper(deals.properties__deal_currency_code) as currency,
    deals.billing_contract_start as start_date,
    deals.billing_contract_end as end_date,
    coalesce(deals.properties__hs_lastmodifieddate, deals.updated_at) as updated_at,
    case when deals.archived then coalesce(deals.archived_at, deals._dlt_loaded_at) end as deleted_at,
    deals._payload,
    deals._dlt_loaded_at
from deals
left join billed_company on billed_company.deal_id = deals.id
left join companies on companies.id = billed_company.company_id
where not (coalesce(deals.archived, false) and billed_company.company_id is null)
