"""Which reader a `sql` source gets: bulk for PostgreSQL and MySQL/MariaDB, SQLAlchemy otherwise."""

import pytest

from billing_pipelines.config import SqlSourceConfig
from billing_pipelines.defs.sql_databases.extract import BulkReader, SqlAlchemyReader, reader_for

USAGE = {"usage_events": {"table": "meter_events", "cursor": "event_timestamp", "primary_key": "event_id"}}


@pytest.mark.parametrize(
    ("url", "reader"),
    [
        ("postgresql+psycopg://app:pw@db/billing", BulkReader),
        ("postgresql://app@db/billing", BulkReader),
        ("mysql+pymysql://app:pw@db/shop", BulkReader),
        ("mariadb+pymysql://app:pw@db/shop", BulkReader),
        ("sqlite:///data/app.sqlite", SqlAlchemyReader),
    ],
)
def test_the_reader_follows_the_urls_dialect(url, reader, monkeypatch, tmp_path):
    monkeypatch.setenv("APP_DATABASE_URL", url)
    source = SqlSourceConfig(kind="sql", url_env="APP_DATABASE_URL", datasets=USAGE)
    assert type(reader_for(source, tmp_path)) is reader
