-- Stripe customers as canonical customers, matched to the company's own by their metadata key.
{{ stage_customers(source='stripe', mapping={
    'relation': ref('base_stripe__customers'),
    'delivery': keyed_rows('id'),
    'columns': {
        'external_id': 'external_id', 'name': 'name', 'email': 'email', 'phone': 'phone',
        'line1': 'line1', 'line2': 'line2', 'city': 'city', 'state': 'state', 'postal_code': 'postal_code',
        'country': 'country', 'currency': 'currency', 'stripe_customer_id': 'id',
        'created_at': 'created_at', 'deleted_at': 'deleted_at',
    },
}) }}
