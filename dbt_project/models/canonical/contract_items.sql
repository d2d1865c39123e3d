-- Priced line items of the canonical contracts, one per (contract_id, product_id, start_date):
-- a contract can sell the same product again from a later date (a price change). Newest
-- updated_at wins, then source precedence (app database over landing zone), then the most
-- recent delivery.
with candidates as (
    {{ valid_staging_rows(
        'contract_items',
        ['contract_id', 'product_id', 'product_name', 'pricing_model', 'unit_amount', 'tiers', 'currency',
         'billing_period', 'quantity', 'metric', 'start_date', 'end_date', 'updated_at',
         'source_system', 'ingested_at', 'location'],
    ) }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by contract_id, product_id, start_date
            order by {{ survivorship_order() }}
        ) as survivorship_rank
    from candidates
)

select
    contract_id,
    product_id,
    product_name,
    pricing_model,
    unit_amount,
    tiers,
    currency,
    billing_period,
    quantity,
    metric,
    start_date,
    end_date
from ranked
where survivorship_rank = 1
