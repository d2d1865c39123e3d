"""dbt transforms (staging → canonical → marts) as Dagster assets; dbt tests as asset checks."""
