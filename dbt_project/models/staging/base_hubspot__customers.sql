-- HubSpot companies in the raw columns stage_customers maps: the company's own id (from the
-- property billing.yaml names, copied by the sync into `billing_external_id`) or, for a company
-- without one, 'hubspot-<company id>' (it stays a customer of its own); the address from the
-- company's address properties; an archived (deleted) company's archiving as deleted_at. The
-- last change (hs_lastmodifieddate) is kept as updated_at but not mapped by stg_hubspot__customers:
-- see there.
with companies as (
    select * from {{ raw_relation('raw_hubspot', 'companies') }}
)

select
    id,
    coalesce(billing_external_id, 'hubspot-' || id) as external_id,
    properties__name as name,
    properties__phone as phone,
    properties__address as line1,
    properties__address2 as line2,
    properties__city as city,
    properties__state as state,
    properties__zip as postal_code,
    properties__country as country,
    created_at,
    coalesce(properties__hs_lastmodifieddate, updated_at) as updated_at,
    case when archived then coalesce(archived_at, _dlt_loaded_at) end as deleted_at,
    _payload,
    _dlt_loaded_at
from companies
