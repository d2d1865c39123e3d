-- App-database accounts as canonical customers (one row per raw row, rejects included).
{{ stage_customers(source='app_db', mapping={
    'delivery': keyed_rows('account_id'),
    'columns': {
        'external_id': 'external_id', 'name': 'name', 'email': 'email', 'phone': 'phone',
        'line1': 'line1', 'line2': 'line2', 'city': 'city', 'state': 'state', 'postal_code': 'postal_code',
        'country': 'country', 'tax_ids': 'tax_id', 'currency': 'currency', 'app_db_account_id': 'account_id',
        'created_at': 'created_at', 'updated_at': 'updated_at', 'deleted_at': 'deleted_at',
    },
}) }}
