-- App-database subscriptions as canonical contracts: ids namespaced 'app_db-sub-<id>', app
-- statuses translated (app_db_contract_status_map), any other status rejected.
{{ stage_contracts(source='app_db', mapping={
    'delivery': keyed_rows('subscription_id'),
    'columns': {
        'contract_id': {'column': 'subscription_id', 'prefix': 'app_db-sub-'},
        'customer_id': 'customer_external_id', 'name': 'name',
        'status': {'column': 'status', 'map': app_db_contract_status_map()},
        'currency': 'currency', 'start_date': 'start_date', 'end_date': 'end_date',
        'renewal_policy': 'renewal_policy', 'app_db_subscription_id': 'subscription_id',
        'updated_at': 'updated_at', 'deleted_at': 'deleted_at',
    },
}) }}
