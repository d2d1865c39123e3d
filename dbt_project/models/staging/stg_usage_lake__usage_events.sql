-- Usage from the company's Snowflake usage lake (same raw contract as raw_app_db.usage_events) as canonical usage events.
{{ stage_usage_events(source='usage_lake', mapping={
    'delivery': keyed_rows('event_id'),
    'columns': {
        'event_id': 'event_id', 'customer_id': 'customer_external_id', 'metric': 'metric',
        'quantity': 'quantity', 'event_timestamp': 'event_timestamp', 'properties': 'properties',
    },
}) }}
