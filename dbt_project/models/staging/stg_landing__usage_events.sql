-- Uploaded and pushed usage rows as canonical usage events.
{{ stage_usage_events(source='landing', mapping={
    'delivery': file_lines(),
    'columns': {
        'event_id': 'event_id', 'customer_id': 'customer_external_id', 'metric': 'metric',
        'quantity': 'quantity', 'event_timestamp': 'event_timestamp', 'properties': 'properties',
    },
}) }}
