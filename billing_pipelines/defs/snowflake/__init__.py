"""Snowflake sources (`kind: snowflake` in billing.yaml): usage or state read with the user's SQL."""
