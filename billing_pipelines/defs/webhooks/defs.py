"""The ingestion-event sensors for the configuration in effect: the outcome sensor whenever the
landing zone is enabled, the failed-sync sensor when a subscription wants `sync.failed`."""

import dagster as dg

from billing_pipelines.config import current_config
from billing_pipelines.defs.webhooks.deliveries import delivery_policy, receivers_from
from billing_pipelines.defs.webhooks.sensors import webhook_sensors


@dg.definitions
def defs() -> dg.Definitions:
    config = current_config()
    return dg.Definitions(sensors=webhook_sensors(config, receivers_from(config), delivery_policy()))
