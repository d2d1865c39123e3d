-- HubSpot companies as canonical customers, matched to the company's own by their external-id
-- property. updated_at is left unmapped on purpose (as Stripe has none): a customer is chosen
-- whole, so a dated CRM record would win over the app's whenever anyone touched the company in
-- HubSpot, and bring its gaps (no e-mail, no currency) with it. A customer HubSpot shares with
-- another source keeps that source's details and gains its hubspot_company_id.
{{ stage_customers(source='hubspot', mapping={
    'relation': ref('base_hubspot__customers'),
    'delivery': keyed_rows('id'),
    'columns': {
        'external_id': 'external_id', 'name': 'name', 'phone': 'phone',
        'line1': 'line1', 'line2': 'line2', 'city': 'city', 'state': 'state', 'postal_code': 'postal_code',
        'country': 'country', 'hubspot_company_id': 'id', 'created_at': 'created_at', 'deleted_at': 'deleted_at',
    },
}) }}
