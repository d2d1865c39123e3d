"""SQL sources (`kind: sql` in billing.yaml): Postgres, MySQL, SQLite, any SQLAlchemy URL."""
