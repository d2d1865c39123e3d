-- HubSpot deals as canonical contracts ('hubspot-deal-<deal id>'), of their billed company's customer.
{{ stage_contracts(source='hubspot', mapping={
    'relation': ref('base_hubspot__contracts'),
    'delivery': keyed_rows('id'),
    'columns': {
        'contract_id': {'column': 'id', 'prefix': 'hubspot-deal-'}, 'customer_id': 'customer_id', 'name': 'name',
        'status': 'status', 'currency': 'currency', 'start_date': 'start_date', 'end_date': 'end_date',
        'hubspot_deal_id': 'id', 'updated_at': 'updated_at', 'deleted_at': 'deleted_at',
    },
}) }}
