-- Stripe subscriptions as canonical contracts (their own ids); Stripe's statuses mapped.
{{ stage_contracts(source='stripe', mapping={
    'relation': ref('base_stripe__contracts'),
    'delivery': keyed_rows('id'),
    'columns': {
        'contract_id': 'id', 'customer_id': 'customer_id',
        'status': {'column': 'status', 'map': stripe_contract_status_map()},
        'currency': 'currency', 'start_date': 'start_date', 'end_date': 'end_date',
        'renewal_policy': 'renewal_policy', 'stripe_subscription_id': 'id',
    },
}) }}
