-- Contract-item rows of the billing team's Google Sheet as canonical contract items, mapped as uploads are.
{{ stage_contract_items(source='google_sheets', mapping={
    'delivery': file_lines(),
    'columns': {
        'contract_id': 'contract_id', 'product_id': 'product_id', 'product_name': 'product_name',
        'pricing_model': 'pricing_model', 'unit_amount': 'unit_amount', 'currency': 'currency',
        'billing_period': 'billing_period', 'quantity': 'quantity', 'metric': 'metric',
        'start_date': 'start_date', 'end_date': 'end_date',
    },
}) }}
