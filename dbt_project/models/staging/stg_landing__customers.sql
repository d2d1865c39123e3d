-- Uploaded customer rows as canonical customers (one row per file line, rejects included).
{{ stage_customers(source='landing', mapping={
    'delivery': file_lines(),
    'columns': {
        'external_id': 'external_id', 'name': 'name', 'email': 'email', 'phone': 'phone',
        'line1': 'line1', 'line2': 'line2', 'city': 'city', 'state': 'state', 'postal_code': 'postal_code',
        'country': 'country', 'tax_ids': 'tax_id', 'currency': 'currency', 'updated_at': 'updated_at',
    },
}) }}
