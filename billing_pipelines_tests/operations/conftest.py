"""A small project for the operator-facing tests: a SQLite app database with customers and usage
around one day, the landing zone, and a Stripe source (for the shape of an API source's assets)."""

import sqlite3

import pytest

SQL_SOURCE = """
sources:
  app_db:
    kind: sql
    description: The app database
    url: sqlite:///app.sqlite
    datasets:
      customers:
        table: accounts
        cursor: updated_at
        primary_key: account_id
      usage_events:
        query: |
          SELECT event_id, customer_external_id, metric, quantity, event_timestamp, properties
          FROM usage WHERE event_timestamp >= :window_start AND event_timestamp < :window_end
        cursor: event_timestamp
        primary_key: event_id
"""
APP_DATABASE = """
create table accounts (account_id integer primary key, external_id text, name text, updated_at timestamp);
insert into accounts values (1, 'CUS-1', 'Acme | Ltd', '2026-09-01 10:00:00'), (2, 'CUS-2', 'Beta', '2026-09-02 10:00:00');
create table usage (
    event_id text primary key, customer_external_id text, metric text, quantity numeric,
    event_timestamp timestamp, properties text
);
"""
USAGE_DAY = "2026-09-01"
"""The day the usage tests load: USAGE holds 7 events on it, and 2 on the days either side."""


def usage_rows() -> list[tuple]:
    before = [("e-before", "CUS-1", "api_calls", 1, "2026-08-31 23:59:59", "{}")]
    day = [(f"e{n}", f"CUS-{1 + n % 2}", "api_calls", n, f"{USAGE_DAY} {n:02d}:30:00", "{}") for n in range(7)]
    after = [("e-after", "CUS-2", "api_calls", 1, "2026-09-02 00:00:00", "{}")]
    return before + day + after


@pytest.fixture
def app_project(project_config, tmp_path):
    """billing.yaml with the SQLite app database (filled), the landing zone off unless asked."""

    def configure(extra: str = "landing: {enabled: false}\n", more_sources: str = ""):
        with sqlite3.connect(tmp_path / "app.sqlite") as connection:
            connection.executescript(APP_DATABASE)
            connection.executemany("insert into usage values (?, ?, ?, ?, ?, ?)", usage_rows())
        return project_config(extra + SQL_SOURCE + more_sources)

    return configure
