-- Uploaded contract rows as canonical contracts (the sender's ids; canonical statuses expected as sent).
{{ stage_contracts(source='landing', mapping={
    'delivery': file_lines(),
    'columns': {
        'contract_id': 'contract_id', 'customer_id': 'customer_external_id', 'name': 'name', 'status': 'status',
        'currency': 'currency', 'start_date': 'start_date', 'end_date': 'end_date',
        'renewal_policy': 'renewal_policy', 'updated_at': 'updated_at',
    },
}) }}
