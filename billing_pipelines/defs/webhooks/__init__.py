"""Outbound webhooks for ingestion events (`upload.processed`, `events.quarantined`,
`sync.failed`), sent to the subscriptions under `webhooks:` in billing.yaml, and the upload
outcomes the push API reports (`landing/outcomes/<digest>.json`)."""
