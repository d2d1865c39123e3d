-- Customer rows of the billing team's Google Sheet as canonical customers: rows land as landing
-- lines do (text as written, the tab as `_file`, the sheet row as `_line`), mapped as uploads are.
{{ stage_customers(source='google_sheets', mapping={
    'delivery': file_lines(),
    'columns': {
        'external_id': 'external_id', 'name': 'name', 'email': 'email', 'phone': 'phone',
        'line1': 'line1', 'line2': 'line2', 'city': 'city', 'state': 'state', 'postal_code': 'postal_code',
        'country': 'country', 'tax_ids': 'tax_id', 'currency': 'currency', 'updated_at': 'updated_at',
    },
}) }}
