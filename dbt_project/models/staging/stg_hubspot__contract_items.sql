-- HubSpot line items as canonical contract items (of their deal's 'hubspot-deal-<deal id>' contract).
{{ stage_contract_items(source='hubspot', mapping={
    'relation': ref('base_hubspot__contract_items'),
    'delivery': keyed_rows('id'),
    'columns': {
        'contract_id': {'column': 'deal_id', 'prefix': 'hubspot-deal-'}, 'product_id': 'product_id',
        'product_name': 'product_name', 'pricing_model': 'pricing_model', 'unit_amount': 'unit_amount',
        'currency': 'currency', 'billing_period': 'billing_period', 'quantity': 'quantity',
        'start_date': 'start_date', 'end_date': 'end_date', 'updated_at': 'updated_at',
    },
}) }}
