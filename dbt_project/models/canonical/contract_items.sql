-- Priced line items of the canonical contracts, one per (contract_id, product_id, start_date):
-- a contract can sell the same product again from a later date (a price change). Newest
-- updated_at wins, then app database over landing zone, then the most recent delivery.
with candidates as (
    {% for model in ['stg_app_db__contract_items', 'stg_landing__contract_items'] %}
    select
        contract_id, product_id, product_name, pricing_model, unit_amount, currency,
        billing_period, quantity, metric, start_date, end_date,
        updated_at, source_system, ingested_at, location
    from {{ ref(model) }}
    where reject_reason is null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by contract_id, product_id, start_date
            order by
                updated_at desc nulls last,
                {{ source_precedence() }},
                ingested_at desc nulls last,
                location desc
        ) as survivorship_rank
    from candidates
)

select
    contract_id,
    product_id,
    product_name,
    pricing_model,
    unit_amount,
    currency,
    billing_period,
    quantity,
    metric,
    start_date,
    end_date
from ranked
where survivorship_rank = 1
