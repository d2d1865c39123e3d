"""BigQuery sources (`kind: bigquery` in billing.yaml): usage or state read with the user's GoogleSQL."""
