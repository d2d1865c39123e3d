-- Contract rows of the billing team's Google Sheet as canonical contracts (the team's own ids;
-- canonical statuses expected as written), mapped as uploads are.
{{ stage_contracts(source='google_sheets', mapping={
    'delivery': file_lines(),
    'columns': {
        'contract_id': 'contract_id', 'customer_id': 'customer_external_id', 'name': 'name', 'status': 'status',
        'currency': 'currency', 'start_date': 'start_date', 'end_date': 'end_date',
        'renewal_policy': 'renewal_policy', 'updated_at': 'updated_at',
    },
}) }}
