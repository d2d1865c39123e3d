-- App-database subscription items as canonical contract items (of 'app_db-sub-<id>' contracts).
{{ stage_contract_items(source='app_db', mapping={
    'delivery': keyed_rows('item_id'),
    'columns': {
        'contract_id': {'column': 'subscription_id', 'prefix': 'app_db-sub-'},
        'product_id': 'product_id', 'product_name': 'product_name', 'pricing_model': 'pricing_model',
        'unit_amount': 'unit_amount', 'currency': 'currency', 'billing_period': 'billing_period',
        'quantity': 'quantity', 'metric': 'metric', 'start_date': 'start_date', 'end_date': 'end_date',
        'updated_at': 'updated_at',
    },
}) }}
