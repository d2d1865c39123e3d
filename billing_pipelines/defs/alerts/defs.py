"""The alerting sensors for the configuration in effect; none when `alerts.notifiers` is empty."""

import dagster as dg

from billing_pipelines.config import current_config
from billing_pipelines.defs.alerts.sensors import alert_sensors


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=alert_sensors(current_config()))
