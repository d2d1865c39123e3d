-- Stripe subscription items as canonical contract items (of their subscription's contract).
{{ stage_contract_items(source='stripe', mapping={
    'relation': ref('base_stripe__contract_items'),
    'delivery': keyed_rows('id'),
    'columns': {
        'contract_id': 'subscription_id', 'product_id': 'product_id', 'product_name': 'product_name',
        'pricing_model': 'pricing_model', 'unit_amount': 'unit_amount', 'tiers': 'tiers', 'currency': 'currency',
        'billing_period': 'billing_period', 'quantity': 'quantity', 'metric': 'metric',
        'start_date': 'start_date', 'end_date': 'end_date',
    },
}) }}
