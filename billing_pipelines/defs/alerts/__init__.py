"""Alerts for billing operators: failed runs, failed ERROR checks and stale canonical tables,
sent to the notifiers configured under `alerts:` in billing.yaml (Slack, signed webhook, e-mail)."""
