-- App-database usage events as canonical usage events.
{{ stage_usage_events(source='app_db', mapping={
    'delivery': keyed_rows('event_id'),
    'columns': {
        'event_id': 'event_id', 'customer_id': 'customer_external_id', 'metric': 'metric',
        'quantity': 'quantity', 'event_timestamp': 'event_timestamp', 'properties': 'properties',
    },
}) }}
